import * as http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { DescService } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { toGrpcStatus } from './errors.js';
import {
  commonName,
  GRPC_OVERHEAD_BYTES,
  TLS_CIPHERS,
  TLS_MIN_VERSION,
  type GrpcServerOptions,
  type RpcServer,
  type ServerTls,
} from './grpc-server.js';
import type { CallContext, ServiceHandlers, StreamHandler, UnaryHandler } from './handler.js';
import { grpcServiceDefinition } from './service-definition.js';
import { CallStatus, encodeGrpcMessage, frame, MessageReader, one, parseGrpcTimeout, RequestQueue } from './grpc-framing.js';

export { encodeGrpcMessage, parseGrpcTimeout } from './grpc-framing.js';

/**
 * The etcd v3 API served with gRPC over HTTP/2 written directly on `node:http2`
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md), for the same handlers and
 * with the same settings as GrpcServer (grpc-js), without grpc-js's per-call machinery
 * (interceptor chains, metadata objects, a Readable and a Writable per call).
 *
 * A call, on the wire:
 *
 *   HEADERS  :method POST, :path /etcdserverpb.KV/Put, content-type application/grpc, [grpc-timeout 5S], metadata
 *   DATA     0x00 | uint32 length (big-endian) | protobuf message        (the length-prefixed message)
 *   ...      (the client half-closes with END_STREAM)
 *   response HEADERS :status 200, content-type application/grpc; DATA messages; trailers grpc-status, grpc-message
 *   or, for an error before any message, one "trailers-only" HEADERS frame with END_STREAM
 *
 * Not supported: message compression (a compressed request is refused; responses are never
 * compressed), which etcd clients do not use unless asked to.
 */

/** Connection-level receive window: lets several large requests arrive without waiting for WINDOW_UPDATEs. */
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
/** Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE): a 1.5 MiB put arrives in about two round trips at most. */
const STREAM_WINDOW_BYTES = 1024 * 1024;
/**
 * nghttp2's per-session memory cap (MB) for frames queued in either direction; over it, new
 * streams are refused with ENHANCE_YOUR_CALM. Inbound data is bounded by the windows above and
 * outbound by send()'s backpressure, so this only stops a session gone wrong.
 */
const SESSION_MEMORY_MB = 256;
/** Queued response bytes that make a stream write at once rather than at the end of the tick. */
const STREAM_FLUSH_BYTES = 256 * 1024;
/** Decoded requests a bidi call holds before the stream stops reading (HTTP/2 flow control then stops the client). */
const REQUESTS_QUEUED_MAX = 64;

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc' };
const OK_TRAILERS: http2.OutgoingHttpHeaders = { 'grpc-status': '0' };
const RESOLVED: Promise<void> = Promise.resolve();

interface Method {
  readonly path: string;
  readonly kind: 'unary' | 'serverStream' | 'bidi';
  readonly handler: UnaryHandler | StreamHandler;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly serialize: (message: unknown) => Buffer;
}

/** The peer certificate's CN, once per connection: verified client certificates only (mutual TLS). */
const peerNames = new WeakMap<http2.Http2Session, string | null>();

function sessionCommonName(session: http2.Http2Session | undefined): string | undefined {
  if (session === undefined) return undefined;
  let name = peerNames.get(session);
  if (name === undefined) {
    const socket = session.socket as TLSSocket | undefined;
    name = socket !== undefined && socket.authorized === true ? (commonName(socket.getPeerCertificate()) ?? null) : null;
    peerNames.set(session, name);
  }
  return name ?? undefined;
}

/**
 * One call: its CallContext, and the response side (headers, batched messages, trailers). The
 * AbortController is made only if the handler reads `signal`, and aborted only if the call ends
 * before it answered (client cancel or reset, deadline): a finished call costs no DOMException.
 */
class H2Call implements CallContext {
  /** Set once the status is decided (sent, or being sent after the last message). */
  finished = false;
  private cancelled = false;
  private controller: AbortController | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private headersSent = false;
  private trailers: http2.OutgoingHttpHeaders = OK_TRAILERS;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private blocked = false;
  private writable: (() => void)[] = [];

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly method: Method,
    private readonly server: H2GrpcServer,
  ) {
    stream.on('wantTrailers', () => {
      try {
        stream.sendTrailers(this.trailers);
      } catch {
        // The stream was reset meanwhile: nobody is left to tell.
      }
    });
    stream.on('close', () => this.onClose());
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** The call ended before it answered (what `signal` would say). */
  get aborted(): boolean {
    return this.cancelled;
  }

  metadata(key: string): string | undefined {
    const value = this.headers[key];
    const first = Array.isArray(value) ? value[0] : value;
    if (first === undefined) return undefined;
    return key.endsWith('-bin') ? Buffer.from(first, 'base64').toString('utf8') : first;
  }

  peerCommonName(): string | undefined {
    return sessionCommonName(this.stream.session);
  }

  startDeadline(timeoutMs: number): void {
    this.deadline = setTimeout(() => this.failTransport(new CallStatus(status.DEADLINE_EXCEEDED, 'Deadline exceeded')), timeoutMs);
  }

  /** A unary call's response: headers, the message and OK trailers, written together. */
  reply(message: unknown): void {
    if (this.finished) return;
    let bytes: Buffer;
    try {
      bytes = frame(this.method.serialize(message));
    } catch (error) {
      this.fail(error);
      return;
    }
    this.finish();
    if (this.stream.destroyed || this.stream.closed) return;
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    this.stream.end(bytes);
  }

  /** A stream message; resolves once the stream takes more (HTTP/2 flow control and socket backpressure). */
  send(message: unknown): Promise<void> {
    if (this.finished) return RESOLVED;
    const bytes = frame(this.method.serialize(message));
    this.pending.push(bytes);
    this.pendingBytes += bytes.byteLength;
    if (this.pendingBytes >= STREAM_FLUSH_BYTES) {
      this.flush();
    } else if (!this.flushScheduled) {
      // The messages sent in this tick (a burst of watch responses) leave in one write.
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return this.blocked ? new Promise((resolve) => this.writable.push(resolve)) : RESOLVED;
  }

  /** The handler returned: the queued messages, then OK trailers. */
  end(): void {
    if (this.finished) return;
    this.finish();
    if (this.stream.destroyed || this.stream.closed) return;
    if (!this.headersSent && this.pending.length === 0) {
      this.stream.respond({ ...RESPONSE_HEADERS, ...OK_TRAILERS }, { endStream: true });
      return;
    }
    this.respondOnce();
    this.stream.end(this.takePending());
  }

  /** The handler failed: the status of `error` (unknown errors are logged: they are bugs). */
  fail(error: unknown): void {
    if (this.finished || this.cancelled) return;
    const s = toGrpcStatus(error);
    if (!s.known) this.server.logUnexpected(this.method.path, error);
    this.sendStatus(s.code, s.message);
  }

  /** The transport ends the call (a bad message, a limit, the deadline): status, then abort the handler. */
  failTransport(error: CallStatus): void {
    if (this.finished) return;
    this.sendStatus(error.code, error.message);
    this.abort();
  }

  private sendStatus(code: status, message: string): void {
    this.finish();
    if (this.stream.destroyed || this.stream.closed) return;
    const trailers = { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) };
    if (!this.headersSent) {
      // Trailers-only: nothing was sent, so the status goes in the one HEADERS frame.
      this.stream.respond({ ...RESPONSE_HEADERS, ...trailers }, { endStream: true });
      return;
    }
    this.trailers = trailers;
    this.stream.end(this.takePending());
  }

  private finish(): void {
    this.finished = true;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
  }

  private respondOnce(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  }

  private takePending(): Buffer | undefined {
    if (this.pending.length === 0) return undefined;
    const out = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return out;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.finished || this.pending.length === 0 || this.stream.destroyed || this.stream.closed) return;
    this.respondOnce();
    if (!this.stream.write(this.takePending()) && !this.blocked) {
      this.blocked = true;
      this.stream.once('drain', () => this.release());
    }
  }

  private release(): void {
    this.blocked = false;
    const waiting = this.writable;
    this.writable = [];
    for (const resolve of waiting) resolve();
  }

  private abort(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort();
  }

  private onClose(): void {
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.release();
    // A call that answered is not cancelled by its stream closing (grpc-server.ts: no DOMException per call).
    if (!this.finished) {
      this.finished = true;
      this.abort();
    }
  }
}

export class H2GrpcServer implements RpcServer {
  private readonly names: string[] = [];
  private readonly methods = new Map<string, Method>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly messageBytesMax: number;
  private server: http2.Http2Server | http2.Http2SecureServer | undefined;
  private closing = false;

  constructor(private readonly options: GrpcServerOptions) {
    this.messageBytesMax = options.requestBytesMax + GRPC_OVERHEAD_BYTES;
  }

  serviceNames(): readonly string[] {
    return this.names;
  }

  /**
   * Serves `service` with `handlers`. With `encoded`, the handlers take and return the encoded
   * protobuf messages (Buffers) instead: a serving process forwards them unread (DESIGN-NOTES 7).
   * Methods missing from `handlers` are refused with UNIMPLEMENTED only when `partial` is set.
   */
  register(service: DescService, handlers: ServiceHandlers, options: { readonly encoded?: boolean; readonly partial?: boolean } = {}): void {
    const definition = grpcServiceDefinition(service);
    for (const method of service.methods) {
      const handler = handlers[method.name];
      if (handler === undefined) {
        if (options.partial === true) continue;
        throw new Error(`no handler for ${service.typeName}/${method.name}`);
      }
      if (method.methodKind === 'client_streaming') throw new Error(`client streaming is not supported: ${service.typeName}/${method.name}`);
      const def = definition[method.name];
      if (def === undefined) throw new Error(`no definition for ${service.typeName}/${method.name}`);
      this.methods.set(def.path, {
        path: def.path,
        kind: method.methodKind === 'unary' ? 'unary' : method.methodKind === 'server_streaming' ? 'serverStream' : 'bidi',
        handler,
        deserialize: options.encoded === true ? (bytes) => bytes : def.requestDeserialize,
        serialize: options.encoded === true ? (message) => message as Buffer : (def.responseSerialize as (message: unknown) => Buffer),
      });
    }
    if (!this.names.includes(service.typeName)) this.names.push(service.typeName);
  }

  listen(address: string, tls?: ServerTls): Promise<string> {
    if (this.server !== undefined) return Promise.reject(new Error('already listening'));
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon);
    const port = Number(address.slice(colon + 1));
    const common: http2.ServerOptions = {
      // Small responses (a unary reply's headers, message and trailers) must not wait on Nagle.
      noDelay: true,
      maxSessionMemory: SESSION_MEMORY_MB,
      settings: {
        enablePush: false,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxConcurrentStreams: 4_294_967_295,
        maxHeaderListSize: 65_536,
      },
    } as http2.ServerOptions;
    const server =
      tls === undefined
        ? http2.createServer(common)
        : http2.createSecureServer({
            ...common,
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }),
            minVersion: TLS_MIN_VERSION,
            ciphers: TLS_CIPHERS,
            // Mutual TLS: the handshake fails without a certificate signed by `ca`.
            requestCert: tls.clientCa !== undefined,
            rejectUnauthorized: tls.clientCa !== undefined,
            allowHTTP1: false,
          });
    // Also per accepted socket: `noDelay` above reaches net.Server only on Node versions that read it there.
    server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    server.on('session', (session) => this.onSession(session));
    server.on('stream', (stream, headers) => this.onStream(stream, headers));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${address}: ${err.message}`));
      server.once('error', onError);
      server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
        server.off('error', onError);
        server.on('error', (err) => this.options.logger.error({ err }, 'gRPC server error'));
        this.server = server;
        resolve(`${host}:${(server.address() as AddressInfo).port}`);
      });
    });
  }

  async close(graceMs: number): Promise<void> {
    const server = this.server;
    if (server === undefined || this.closing) return;
    this.closing = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const session of this.sessions) session.destroy();
      }, graceMs);
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      // GOAWAY: no new streams; each session closes once its streams are done.
      for (const session of this.sessions) session.close();
    });
  }

  /** @internal for H2Call */
  logUnexpected(method: string, error: unknown): void {
    this.options.logger.error({ err: error, method }, 'unexpected error serving request');
  }

  private onSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.on('error', () => undefined); // reported as 'close'; a broken connection is not the server's error
    if (this.closing) {
      session.close();
      return;
    }
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    // Keepalive: a ping every keepaliveTimeMs; no ack within keepaliveTimeoutMs closes the connection.
    const { keepaliveTimeMs, keepaliveTimeoutMs } = this.options;
    let ackTimer: NodeJS.Timeout | undefined;
    const interval = setInterval(() => {
      if (session.destroyed || session.closed || ackTimer !== undefined) return;
      ackTimer = setTimeout(() => session.destroy(), keepaliveTimeoutMs);
      let sent = false;
      try {
        sent = session.ping((err) => {
          clearTimeout(ackTimer);
          ackTimer = undefined;
          if (err !== null) session.destroy();
        });
      } catch {
        // The session is closing: no ping is needed.
      }
      if (!sent) {
        clearTimeout(ackTimer);
        ackTimer = undefined;
      }
    }, keepaliveTimeMs);
    interval.unref();
    session.on('close', () => {
      clearInterval(interval);
      clearTimeout(ackTimer);
      this.sessions.delete(session);
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined); // a reset stream: seen as 'close', which cancels the call
    const contentType = headers['content-type'];
    if (headers[':method'] !== 'POST' || typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      // Not gRPC (PROTOCOL-HTTP2.md: 415 for a wrong content-type); grpc-status for gRPC clients that ask anyway.
      stream.respond({ ':status': headers[':method'] !== 'POST' ? 405 : 415, 'grpc-status': String(status.INTERNAL), 'grpc-message': 'not a gRPC request' }, { endStream: true });
      return;
    }
    const path = headers[':path'] ?? '';
    const method = this.methods.get(path);
    if (method === undefined) {
      // grpc-js's wording.
      stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(status.UNIMPLEMENTED), 'grpc-message': encodeGrpcMessage(`The server does not implement the method ${path}`) }, { endStream: true });
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      stream.respond(
        {
          ...RESPONSE_HEADERS,
          'grpc-accept-encoding': 'identity',
          'grpc-status': String(status.UNIMPLEMENTED),
          'grpc-message': encodeGrpcMessage(`Received message compressed with unsupported encoding "${String(encoding)}"`),
        },
        { endStream: true },
      );
      return;
    }
    const call = new H2Call(stream, headers, method, this);
    const timeout = headers['grpc-timeout'];
    if (typeof timeout === 'string') {
      const ms = parseGrpcTimeout(timeout);
      if (ms === undefined) {
        call.failTransport(new CallStatus(status.INTERNAL, `Invalid grpc-timeout value "${timeout}"`));
        return;
      }
      call.startDeadline(ms);
    }
    if (method.kind === 'bidi') this.readStream(stream, call, method);
    else this.readOne(stream, call, method);
  }

  /** Unary and server-streaming calls: exactly one request, then the handler. */
  private readOne(stream: http2.ServerHttp2Stream, call: H2Call, method: Method): void {
    const reader = new MessageReader(this.messageBytesMax);
    const messages: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => {
      if (call.finished) return;
      try {
        reader.push(chunk, messages);
      } catch (error) {
        call.failTransport(error as CallStatus);
      }
    });
    stream.on('end', () => {
      if (call.finished) return;
      const bytes = messages[0];
      if (messages.length !== 1 || reader.partial() || bytes === undefined) {
        call.failTransport(new CallStatus(status.INTERNAL, `expected one request message for ${method.path}, got ${messages.length}${reader.partial() ? ' and a partial one' : ''}`));
        return;
      }
      let request: unknown;
      try {
        request = method.deserialize(bytes);
      } catch (error) {
        call.failTransport(new CallStatus(status.INTERNAL, `Error deserializing request: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
      if (method.kind === 'unary') this.runUnary(call, method.handler as UnaryHandler, request);
      else this.runStream(call, method.handler as StreamHandler, one(request));
    });
  }

  /** Bidi calls: the handler starts at once and reads requests as they arrive. */
  private readStream(stream: http2.ServerHttp2Stream, call: H2Call, method: Method): void {
    const reader = new MessageReader(this.messageBytesMax);
    const requests = new RequestQueue(() => {
      if (stream.isPaused()) stream.resume();
    });
    const messages: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => {
      if (call.finished) return;
      try {
        reader.push(chunk, messages);
        for (const bytes of messages) requests.push(method.deserialize(bytes));
      } catch (error) {
        requests.end();
        call.failTransport(error instanceof CallStatus ? error : new CallStatus(status.INTERNAL, `Error deserializing request: ${String(error)}`));
        return;
      } finally {
        messages.length = 0;
      }
      if (requests.length >= REQUESTS_QUEUED_MAX) stream.pause();
    });
    stream.on('end', () => requests.end());
    stream.on('close', () => requests.end());
    this.runStream(call, method.handler as StreamHandler, requests);
  }

  private runUnary(call: H2Call, handler: UnaryHandler, request: unknown): void {
    let result: unknown;
    try {
      result = handler(request, call);
    } catch (error) {
      call.fail(error);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (response) => call.reply(response),
        (error: unknown) => call.fail(error),
      );
    } else {
      call.reply(result);
    }
  }

  private runStream(call: H2Call, handler: StreamHandler, requests: AsyncIterable<unknown>): void {
    let done: Promise<void>;
    try {
      done = handler({ ctx: call, requests, send: (message) => call.send(message) });
    } catch (error) {
      call.fail(error);
      return;
    }
    done.then(
      () => call.end(),
      (error: unknown) => call.fail(error),
    );
  }
}
