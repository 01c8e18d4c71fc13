import * as net from 'node:net';
import * as tls from 'node:tls';
import type { DescService } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { encodeHeaderBlock } from '../http2/hpack.js';
import { Http2ServerSession, type Http2ServerStream } from '../http2/server-session.js';
import { toGrpcStatus } from './errors.js';
import { CallStatus, encodeGrpcMessage, MessageReader, one, parseGrpcTimeout, RequestQueue } from './grpc-framing.js';
import { commonName, GRPC_OVERHEAD_BYTES, TLS_CIPHERS, TLS_MIN_VERSION, type GrpcServerOptions, type RpcServer, type ServerTls } from './grpc-server.js';
import type { CallContext, ServiceHandlers, StreamHandler, UnaryHandler } from './handler.js';
import { grpcServiceDefinition } from './service-definition.js';

/**
 * The etcd v3 API served with gRPC over T4's own HTTP/2 (src/adapters/http2): the default server.
 * Same handlers, settings and behaviour as H2GrpcServer (node:http2) and GrpcServer (grpc-js),
 * with none of their per-call objects: a unary call is one stream object, one call object, and
 * its response leaves as one buffer (HEADERS, DATA, trailers) in the connection's one write per tick.
 *
 * A call, on the wire (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 *   HEADERS  :method POST, :path /etcdserverpb.KV/Put, content-type application/grpc, [grpc-timeout], metadata
 *   DATA     0x00 | uint32 length | protobuf message      (the client half-closes with END_STREAM)
 *   response HEADERS :status 200, content-type; DATA messages; trailers grpc-status, grpc-message;
 *   or one trailers-only HEADERS frame with END_STREAM for an error before any message.
 *
 * Not supported: message compression (refused with UNIMPLEMENTED / INTERNAL as grpc-js words it).
 */

/** Connection receive window: several large requests arrive without waiting for WINDOW_UPDATEs. */
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
/** Per-stream receive window: a 1.5 MiB put arrives in about two round trips at most. */
const STREAM_WINDOW_BYTES = 1024 * 1024;
/** SETTINGS_MAX_CONCURRENT_STREAMS per connection (etcd: grpc-go's unlimited; this bounds memory). */
const STREAMS_MAX = 100_000;
const HEADER_LIST_BYTES_MAX = 65_536;
/** Decoded requests a bidi call holds before its stream stops granting window (the client then waits). */
const REQUESTS_QUEUED_MAX = 64;

const RESPONSE_HEADERS = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);
const GRPC_PREFIX_BYTES = 5;

/** Encoded status blocks, by code and message: etcd's error texts are few and frozen. */
const statusBlocks = new Map<string, { trailers: Buffer; trailersOnly: Buffer }>();
const STATUS_BLOCKS_CACHED_MAX = 512;

function statusBlock(code: number, message: string): { trailers: Buffer; trailersOnly: Buffer } {
  const cacheKey = `${code}\u0000${message}`;
  let blocks = statusBlocks.get(cacheKey);
  if (blocks === undefined) {
    const fields: [string, string][] = [['grpc-status', String(code)]];
    if (message !== '') fields.push(['grpc-message', encodeGrpcMessage(message)]);
    blocks = {
      trailers: encodeHeaderBlock(fields),
      trailersOnly: encodeHeaderBlock([[':status', '200'], ['content-type', 'application/grpc'], ...fields]),
    };
    if (statusBlocks.size < STATUS_BLOCKS_CACHED_MAX) statusBlocks.set(cacheKey, blocks);
  }
  return blocks;
}

interface Method {
  readonly path: string;
  readonly kind: 'unary' | 'serverStream' | 'bidi';
  readonly handler: UnaryHandler | StreamHandler;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly serialize: (message: unknown) => Buffer;
}

/** The peer certificate's CN, once per connection: verified client certificates only (mutual TLS). */
const peerNames = new WeakMap<Http2ServerSession, string | null>();

function sessionCommonName(session: Http2ServerSession): string | undefined {
  let name = peerNames.get(session);
  if (name === undefined) {
    const socket = session.transport as tls.TLSSocket;
    name = socket instanceof tls.TLSSocket && socket.authorized ? (commonName(socket.getPeerCertificate()) ?? null) : null;
    peerNames.set(session, name);
  }
  return name ?? undefined;
}

/**
 * One call: its CallContext, its request side (messages from DATA), and its response side. The
 * AbortController is made only if the handler reads `signal`, and aborted only if the call ends
 * before it answered (client cancel or reset, deadline, connection lost).
 */
class Http2Call implements CallContext {
  finished = false;
  private cancelled = false;
  private controller: AbortController | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private headersSent = false;
  /** Unary and server streaming: the request's bytes as they came. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Stream responses of this tick, sent together as one DATA write. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;

  constructor(
    readonly stream: Http2ServerStream,
    private readonly fields: readonly string[],
    readonly method: Method,
    private readonly server: Http2GrpcServer,
  ) {}

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
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] !== key) continue;
      const value = fields[i + 1] as string;
      return key.endsWith('-bin') ? Buffer.from(value, 'base64').toString('utf8') : value;
    }
    return undefined;
  }

  peerCommonName(): string | undefined {
    return sessionCommonName(this.stream.connection);
  }

  startDeadline(timeoutMs: number): void {
    this.deadline = setTimeout(() => this.failTransport(new CallStatus(status.DEADLINE_EXCEEDED, 'Deadline exceeded')), timeoutMs);
  }

  /** Unary/server-streaming request bytes; the whole request is checked once the client half-closes. */
  addChunk(chunk: Buffer, messageBytesMax: number): void {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.chunkBytes >= GRPC_PREFIX_BYTES && this.chunkBytes > messageBytesMax + GRPC_PREFIX_BYTES) {
      // Refuse early, before a huge request is buffered; the length prefix says how large it is.
      const head = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.chunkBytes);
      this.chunks = [head];
      this.failTransport(new CallStatus(status.RESOURCE_EXHAUSTED, `Received message larger than max (${head.readUInt32BE(1)} vs ${messageBytesMax})`));
    }
  }

  /** The one request message, or a CallStatus saying what was wrong with it. */
  takeRequest(messageBytesMax: number): Buffer | CallStatus {
    const bytes = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.chunkBytes);
    this.chunks = [];
    if (bytes.length < GRPC_PREFIX_BYTES) {
      return new CallStatus(status.INTERNAL, `expected one request message for ${this.method.path}, got ${bytes.length === 0 ? 0 : 'a partial one'}`);
    }
    if (bytes[0] !== 0) return new CallStatus(status.INTERNAL, 'received a compressed message, but compression is not supported (grpc-encoding identity)');
    const length = bytes.readUInt32BE(1);
    if (length > messageBytesMax) return new CallStatus(status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${messageBytesMax})`);
    if (bytes.length !== GRPC_PREFIX_BYTES + length) {
      return new CallStatus(status.INTERNAL, `expected one request message for ${this.method.path}, got ${bytes.length < GRPC_PREFIX_BYTES + length ? 'a partial one' : 'more than one'}`);
    }
    return bytes.subarray(GRPC_PREFIX_BYTES);
  }

  /** A unary call's response: HEADERS, the message and OK trailers, in one buffer when the windows allow. */
  reply(message: unknown): void {
    if (this.finished) return;
    let bytes: Buffer;
    try {
      bytes = this.method.serialize(message);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.finish();
    const prefix = Buffer.allocUnsafe(GRPC_PREFIX_BYTES);
    prefix[0] = 0;
    prefix.writeUInt32BE(bytes.length, 1);
    this.stream.respondWhole(RESPONSE_HEADERS, prefix, bytes, OK_TRAILERS);
  }

  /** A stream message. Messages of one tick leave together; resolves once the connection takes more. */
  send(message: unknown): Promise<void> | undefined {
    if (this.finished) return undefined;
    const bytes = this.method.serialize(message);
    const prefix = Buffer.allocUnsafe(GRPC_PREFIX_BYTES);
    prefix[0] = 0;
    prefix.writeUInt32BE(bytes.length, 1);
    this.pending.push(prefix, bytes);
    this.pendingBytes += GRPC_PREFIX_BYTES + bytes.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
    return this.stream.congested() ? this.stream.whenWritable() : undefined;
  }

  /** The handler returned: queued messages, then OK trailers (trailers-only when nothing was sent). */
  end(): void {
    if (this.finished) return;
    this.finish();
    if (!this.headersSent && this.pending.length === 0) {
      this.stream.respond(statusBlock(0, '').trailersOnly, true);
      return;
    }
    this.flush();
    this.stream.end(OK_TRAILERS);
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

  /** The stream ended before the call did (RST_STREAM, connection lost). */
  onAborted(): void {
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.pending = [];
    if (!this.finished) {
      this.finished = true;
      this.abort();
    }
  }

  private sendStatus(code: number, message: string): void {
    this.finish();
    const blocks = statusBlock(code, message);
    if (!this.headersSent) {
      this.pending = [];
      this.stream.respond(blocks.trailersOnly, true);
      return;
    }
    this.flush();
    this.stream.end(blocks.trailers);
  }

  private finish(): void {
    this.finished = true;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.stream.isClosed) return;
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(RESPONSE_HEADERS);
    }
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.stream.write(data);
  }

  private abort(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort();
  }
}

export class Http2GrpcServer implements RpcServer {
  private readonly names: string[] = [];
  private readonly methods = new Map<string, Method>();
  private readonly sessions = new Set<Http2ServerSession>();
  private readonly messageBytesMax: number;
  private server: net.Server | tls.Server | undefined;
  private closing = false;

  constructor(private readonly options: GrpcServerOptions) {
    this.messageBytesMax = options.requestBytesMax + GRPC_OVERHEAD_BYTES;
  }

  serviceNames(): readonly string[] {
    return this.names;
  }

  /**
   * Serves `service` with `handlers`. With `encoded`, the handlers take and return the encoded
   * protobuf messages (Buffers): a serving process forwards them unread (DESIGN-NOTES 7).
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

  listen(address: string, serverTls?: ServerTls): Promise<string> {
    if (this.server !== undefined) return Promise.reject(new Error('already listening'));
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const port = Number(address.slice(colon + 1));
    let server: net.Server | tls.Server;
    if (serverTls === undefined) {
      server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    } else {
      const mutual = serverTls.clientCa !== undefined;
      server = tls.createServer(
        {
          cert: serverTls.cert,
          key: serverTls.key,
          ...(mutual ? { ca: serverTls.clientCa } : {}),
          minVersion: TLS_MIN_VERSION,
          ciphers: TLS_CIPHERS,
          // Mutual TLS: the handshake fails without a certificate signed by `ca`.
          requestCert: mutual,
          rejectUnauthorized: mutual,
          ALPNProtocols: ['h2'],
          noDelay: true,
        },
        (socket) => this.onConnection(socket),
      );
      // A failed handshake (no certificate, wrong CA, an old TLS version) is the client's problem.
      server.on('tlsClientError', () => undefined);
    }
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${address}: ${err.message}`));
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        server.on('error', (err) => this.options.logger.error({ err }, 'gRPC server error'));
        this.server = server;
        resolve(`${address.slice(0, colon)}:${(server.address() as net.AddressInfo).port}`);
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
      // GOAWAY: no new streams; each connection closes once its streams are done.
      for (const session of this.sessions) session.close();
    });
  }

  /** @internal for Http2Call */
  logUnexpected(method: string, error: unknown): void {
    this.options.logger.error({ err: error, method }, 'unexpected error serving request');
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const session: Http2ServerSession = new Http2ServerSession(socket, {
      maxConcurrentStreams: STREAMS_MAX,
      streamWindowBytes: STREAM_WINDOW_BYTES,
      connectionWindowBytes: SESSION_WINDOW_BYTES,
      maxHeaderListBytes: HEADER_LIST_BYTES_MAX,
      keepaliveTimeMs: this.options.keepaliveTimeMs,
      keepaliveTimeoutMs: this.options.keepaliveTimeoutMs,
      onStream: (stream, fields, listBytes) => this.onStream(stream, fields, listBytes),
      onClose: () => this.sessions.delete(session),
      onProtocolError: (code, reason) => this.options.logger.debug({ code, reason }, 'HTTP/2 connection error'),
    });
    this.sessions.add(session);
  }

  private onStream(stream: Http2ServerStream, fields: readonly string[], listBytes: number): void {
    let method: string | undefined;
    let path: string | undefined;
    let contentType: string | undefined;
    let timeout: string | undefined;
    let encoding: string | undefined;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i] as string;
      const value = fields[i + 1] as string;
      switch (name) {
        case ':method':
          method = value;
          break;
        case ':path':
          path = value;
          break;
        case 'content-type':
          contentType = value;
          break;
        case 'grpc-timeout':
          timeout = value;
          break;
        case 'grpc-encoding':
          encoding = value;
          break;
        default:
          break;
      }
    }
    if (method !== 'POST' || contentType === undefined || !contentType.startsWith('application/grpc')) {
      // Not gRPC (PROTOCOL-HTTP2.md: 415 for a wrong content-type); grpc-status for gRPC clients that ask anyway.
      const httpStatus = method !== 'POST' ? '405' : '415';
      stream.respond(encodeHeaderBlock([[':status', httpStatus], ['grpc-status', String(status.INTERNAL)], ['grpc-message', 'not a gRPC request']]), true);
      return;
    }
    if (listBytes > HEADER_LIST_BYTES_MAX) {
      stream.respond(statusBlock(status.RESOURCE_EXHAUSTED, `header list of ${listBytes} bytes exceeds ${HEADER_LIST_BYTES_MAX}`).trailersOnly, true);
      return;
    }
    const target = this.methods.get(path ?? '');
    if (target === undefined) {
      // grpc-js's wording.
      stream.respond(statusBlock(status.UNIMPLEMENTED, `The server does not implement the method ${path ?? ''}`).trailersOnly, true);
      return;
    }
    if (encoding !== undefined && encoding !== 'identity') {
      stream.respond(
        encodeHeaderBlock([
          [':status', '200'],
          ['content-type', 'application/grpc'],
          ['grpc-accept-encoding', 'identity'],
          ['grpc-status', String(status.UNIMPLEMENTED)],
          ['grpc-message', encodeGrpcMessage(`Received message compressed with unsupported encoding "${encoding}"`)],
        ]),
        true,
      );
      return;
    }
    const call = new Http2Call(stream, fields, target, this);
    stream.onAbort = () => call.onAborted();
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(timeout);
      if (ms === undefined) {
        call.failTransport(new CallStatus(status.INTERNAL, `Invalid grpc-timeout value "${timeout}"`));
        return;
      }
      call.startDeadline(ms);
    }
    if (target.kind === 'bidi') this.readStream(stream, call, target);
    else this.readOne(stream, call, target);
  }

  /** Unary and server-streaming calls: exactly one request, then the handler. */
  private readOne(stream: Http2ServerStream, call: Http2Call, method: Method): void {
    const max = this.messageBytesMax;
    stream.onData = (chunk) => {
      if (!call.finished) call.addChunk(chunk, max);
    };
    stream.onEnd = () => {
      if (call.finished) return;
      const bytes = call.takeRequest(max);
      if (bytes instanceof CallStatus) {
        call.failTransport(bytes);
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
    };
  }

  /** Bidi calls: the handler starts at once and reads requests as they arrive. */
  private readStream(stream: Http2ServerStream, call: Http2Call, method: Method): void {
    const reader = new MessageReader(this.messageBytesMax);
    const requests = new RequestQueue(() => stream.resume());
    const messages: Buffer[] = [];
    stream.onData = (chunk) => {
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
    };
    stream.onEnd = () => requests.end();
    stream.onAbort = () => {
      requests.end();
      call.onAborted();
    };
    this.runStream(call, method.handler as StreamHandler, requests);
  }

  private runUnary(call: Http2Call, handler: UnaryHandler, request: unknown): void {
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

  private runStream(call: Http2Call, handler: StreamHandler, requests: AsyncIterable<unknown>): void {
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
