import * as grpc from '@grpc/grpc-js';
import type { DescService } from '@bufbuild/protobuf';
import type { SecureServerOptions } from 'node:http2';
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import type { Logger } from '../../ports/logger.js';
import { toGrpcStatus } from './errors.js';
import type { CallContext, ServiceHandlers, StreamHandler, UnaryHandler } from './handler.js';
import { grpcServiceDefinition } from './service-definition.js';

/** etcd's transport settings (etcd api/v3rpc/grpc.go, Go T4 48893b3), spelled out. */
export interface GrpcServerOptions {
  /** etcd `--max-request-bytes`; the receive limit is this plus 512 KiB of gRPC overhead, as etcd. */
  readonly requestBytesMax: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly logger: Logger;
}

/** gRPC framing and metadata allowance over `requestBytesMax` in the receive limit, as etcd. */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

/**
 * What the node needs of a gRPC server; GrpcServer (grpc-js) and H2GrpcServer (node:http2)
 * both serve the same transport-neutral handlers through it.
 */
export interface RpcServer {
  serviceNames(): readonly string[];
  register(service: DescService, handlers: ServiceHandlers): void;
  /** Binds `host:port` (port 0 picks a free one), with TLS when `tls` is set; returns the bound `host:port`. */
  listen(address: string, tls?: ServerTls): Promise<string>;
  /** Stops accepting calls, lets running ones finish for up to `graceMs`, then cancels the rest. */
  close(graceMs: number): Promise<void>;
}

/** PEM material for TLS on the client port; read once at start (a restart reloads it). */
export interface ServerTls {
  /** The server certificate chain, leaf first. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Set: mutual TLS, every client must present a certificate signed by one of these CAs. */
  readonly clientCa: Buffer | undefined;
}

/**
 * The v1 contract: TLS 1.2 and 1.3 only; for TLS 1.2 only Go's preferred suites, which are the
 * ECDHE ones with an AEAD cipher (no CBC, no static RSA key exchange); TLS 1.3 with its three
 * suites, always on, as in Go. Not configurable.
 */
export const TLS_MIN_VERSION = 'TLSv1.2';
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * TLS server credentials with the contract's versions and suites. grpc-js 1.14's
 * `ServerCredentials.createSsl(rootCerts, pairs, checkClientCertificate)` takes no `minVersion`
 * and its ciphers come only from the GRPC_SSL_CIPHER_SUITES environment variable. Its server,
 * though, builds every secure listener as `http2.createSecureServer({ ...commonServerOptions,
 * ...credentials._getConstructorOptions(), ...credentials._getSecureContextOptions() })`, and the
 * public abstract `ServerCredentials` takes exactly those two option objects in its constructor.
 * So this subclass hands Node's `tls` its options directly: `minVersion`, `ciphers`, and
 * `requestCert` + `rejectUnauthorized` for mutual TLS (the handshake fails without a certificate
 * signed by `ca`). The base class's watcher mechanism (certificate providers) is unused: the
 * options never change while serving.
 */
class TlsServerCredentials extends grpc.ServerCredentials {
  constructor(tls: ServerTls) {
    const mutual = tls.clientCa !== undefined;
    const server: SecureServerOptions = { requestCert: mutual, rejectUnauthorized: mutual };
    const context: SecureContextOptions = {
      cert: tls.cert,
      key: tls.key,
      ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }),
      minVersion: TLS_MIN_VERSION,
      ciphers: TLS_CIPHERS,
    };
    super(server, context);
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export function serverCredentials(tls: ServerTls | undefined): grpc.ServerCredentials {
  return tls === undefined ? grpc.ServerCredentials.createInsecure() : new TlsServerCredentials(tls);
}

/** The Common Name of a verified client certificate (grpc-js reports one only once verified). */
export function commonName(peer: PeerCertificate | undefined): string | undefined {
  const cn: unknown = peer?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * The etcd v3 API on @grpc/grpc-js. Clients' keepalive pings are never refused: grpc-js enforces
 * no minimum ping interval, which is at least as lenient as etcd's and Go T4's (5 s, permitted
 * without streams), so no client ever gets GOAWAY too_many_pings.
 */
export class GrpcServer implements RpcServer {
  private readonly server: grpc.Server;
  private readonly names: string[] = [];

  constructor(private readonly options: GrpcServerOptions) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.requestBytesMax + GRPC_OVERHEAD_BYTES,
      'grpc.max_send_message_length': -1,
      'grpc.keepalive_time_ms': options.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs,
      'grpc.max_concurrent_streams': 4_294_967_295,
    });
    // grpc-js accepts connections without TCP_NODELAY, so small responses (a unary reply's headers,
    // message and trailers) can wait on Nagle's algorithm. Node's HTTP/2 server takes net.Server's
    // `noDelay`; grpc-js passes these options to it but has no setting for it, so it is set here.
    const common = (this.server as unknown as { commonServerOptions?: Record<string, unknown> }).commonServerOptions;
    if (common !== undefined) common['noDelay'] = true;
  }

  serviceNames(): readonly string[] {
    return this.names;
  }

  register(service: DescService, handlers: ServiceHandlers): void {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const method of service.methods) {
      const handler = handlers[method.name];
      if (handler === undefined) throw new Error(`no handler for ${service.typeName}/${method.name}`);
      const path = `${service.typeName}/${method.name}`;
      impl[method.name] =
        method.methodKind === 'unary'
          ? this.unary(path, handler as UnaryHandler)
          : this.stream(path, handler as StreamHandler, method.methodKind === 'bidi_streaming' || method.methodKind === 'client_streaming');
    }
    this.server.addService(grpcServiceDefinition(service), impl);
    this.names.push(service.typeName);
  }

  /** Binds `host:port` (port 0 picks a free one), with TLS when `tls` is set; returns the bound `host:port`. */
  listen(address: string, tls?: ServerTls): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(address, serverCredentials(tls), (err, port) => {
        if (err) return reject(new Error(`cannot listen on ${address}: ${err.message}`));
        const host = address.slice(0, address.lastIndexOf(':'));
        resolve(`${host}:${port}`);
      });
    });
  }

  /** Stops accepting calls, lets running ones finish for up to `graceMs`, then cancels the rest. */
  async close(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private context(call: {
    metadata: grpc.Metadata;
    on(event: 'cancelled', listener: () => void): unknown;
    getAuthContext(): { sslPeerCertificate?: PeerCertificate };
  }): CallContext & { finish(): void } {
    const controller = new AbortController();
    // grpc-js reports 'cancelled' also when a finished call's stream closes; aborting then would
    // cost a DOMException (with a stack) per call for nothing, so a finished call ignores it.
    let finished = false;
    call.on('cancelled', () => {
      if (!finished) controller.abort();
    });
    return {
      finish: () => {
        finished = true;
      },
      signal: controller.signal,
      get aborted() {
        return controller.signal.aborted;
      },
      metadata: (key) => {
        const v = call.metadata.get(key)[0];
        return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
      },
      peerCommonName: () => commonName(call.getAuthContext().sslPeerCertificate),
    };
  }

  private toServiceError(path: string, error: unknown): Partial<grpc.ServiceError> {
    const s = toGrpcStatus(error);
    if (!s.known) this.options.logger.error({ err: error, method: path }, 'unexpected error serving request');
    return { code: s.code, details: s.message, message: s.message };
  }

  private unary(path: string, handler: UnaryHandler): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      const ctx = this.context(call);
      let result: unknown;
      try {
        result = handler(call.request, ctx);
      } catch (error) {
        ctx.finish();
        callback(this.toServiceError(path, error) as grpc.ServiceError);
        return;
      }
      if (result instanceof Promise) {
        result.then(
          (res) => {
            ctx.finish();
            callback(null, res);
          },
          (error: unknown) => {
            ctx.finish();
            callback(this.toServiceError(path, error) as grpc.ServiceError);
          },
        );
      } else {
        ctx.finish();
        callback(null, result);
      }
    };
  }

  private stream(path: string, handler: StreamHandler, clientStreams: boolean): grpc.handleServerStreamingCall<unknown, unknown> {
    return (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) => {
      const ctx = this.context(call);
      // destroyOnReturn: false, because a `for await` that completes (the client half-closed)
      // would otherwise destroy the call, and the `call.end()` below would never send the status:
      // the client would wait for its deadline.
      const requests: AsyncIterable<unknown> = clientStreams
        ? (call as grpc.ServerDuplexStream<unknown, unknown>).iterator({ destroyOnReturn: false })
        : (async function* () {
            yield (call as grpc.ServerWritableStream<unknown, unknown>).request;
          })();
      batchWrites(call);
      const send = (message: unknown): Promise<void> =>
        new Promise((resolve) => {
          if (call.write(message)) resolve();
          else call.once('drain', () => resolve());
        });
      handler({ ctx, requests, send }).then(
        () => call.end(),
        (error: unknown) => {
          if (ctx.signal.aborted) return;
          call.emit('error', this.toServiceError(path, error));
        },
      );
    };
  }
}

/**
 * grpc-js writes a server stream's messages one at a time: its Writable calls `_write`, which
 * completes only once HTTP/2 has written that message to the socket, so a burst of watch responses
 * costs one socket write (and one TCP packet) each. With `_writev`, the messages buffered meanwhile
 * go to the HTTP/2 stream together and leave in one socket write. Uses grpc-js's per-call
 * `sendMessage` (present in 1.14); without it the stream keeps grpc-js's own behaviour.
 */
function batchWrites(call: object): void {
  const inner = (call as { call?: { sendMessage?: (message: unknown, callback: () => void) => void } }).call;
  if (typeof inner?.sendMessage !== 'function') return;
  (call as { _writev?: unknown })._writev = (chunks: readonly { chunk: unknown }[], callback: (error?: Error | null) => void): void => {
    let pending = chunks.length;
    for (const { chunk } of chunks) {
      inner.sendMessage?.(chunk, () => {
        if (--pending === 0) callback();
      });
    }
  };
}
