// A lean gRPC client over node:http2 for benchmarks: requests arrive already protobuf-encoded and
// framed (frame() once per distinct request), responses come back as raw bytes for the caller to
// scan (pb-scan.mjs) or decode. No retries, no deadlines, no interceptors: one HTTP/2 stream per
// unary call, one long-lived stream per watch.
//
//   const conn = await GrpcH2.connect('127.0.0.1:2379');
//   const body = frame(toBinary(RangeRequestSchema, create(RangeRequestSchema, { key })));
//   const bytes = await conn.unary('/etcdserverpb.KV/Range', body);   // throws GrpcError on grpc-status != 0
//   conn.close();
import http2 from 'node:http2';

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE } = http2.constants;

/** Flow-control windows large enough that a 500-key page (~170 KB) never waits for WINDOW_UPDATE. */
const WINDOW_BYTES = 16 * 1024 * 1024;

export class GrpcError extends Error {
  constructor(code, message, path) {
    super(`${path}: grpc-status ${code}${message ? ` (${decodeURIComponent(message)})` : ''}`);
    this.code = code;
  }
}

/** A gRPC length-prefixed message: 1 byte "not compressed", 4 bytes big-endian length, the bytes. */
export function frame(bytes) {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** Splits a byte stream into gRPC messages; push() returns the complete messages so far. */
export class FrameReader {
  #pending = [];
  #pendingBytes = 0;

  push(chunk) {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < 5) return [];
    let buf = this.#pending.length === 1 ? this.#pending[0] : Buffer.concat(this.#pending, this.#pendingBytes);
    const messages = [];
    let offset = 0;
    while (buf.length - offset >= 5) {
      const length = buf.readUInt32BE(offset + 1);
      if (buf.length - offset - 5 < length) break;
      messages.push(buf.subarray(offset + 5, offset + 5 + length));
      offset += 5 + length;
    }
    buf = buf.subarray(offset);
    this.#pending = buf.length > 0 ? [buf] : [];
    this.#pendingBytes = buf.length;
    return messages;
  }
}

function grpcHeaders(path) {
  return {
    [HTTP2_HEADER_METHOD]: 'POST',
    [HTTP2_HEADER_PATH]: path,
    [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
    [HTTP2_HEADER_TE]: 'trailers',
  };
}

export class GrpcH2 {
  #session;
  #headersByPath = new Map();

  constructor(session) {
    this.#session = session;
  }

  /** One HTTP/2 connection (one TCP socket) to `authority` ("host:port"). */
  static connect(authority) {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${authority}`, {
        settings: { initialWindowSize: WINDOW_BYTES, enablePush: false },
        peerMaxConcurrentStreams: 1000,
      });
      const fail = (error) => reject(error);
      session.once('error', fail);
      session.once('connect', () => {
        session.off('error', fail);
        session.on('error', () => {}); // surfaced per stream
        session.setLocalWindowSize(WINDOW_BYTES);
        resolve(new GrpcH2(session));
      });
    });
  }

  #headers(path) {
    let headers = this.#headersByPath.get(path);
    if (headers === undefined) this.#headersByPath.set(path, (headers = grpcHeaders(path)));
    return headers;
  }

  /** Sends one framed request; resolves with the response message bytes (one message expected). */
  unary(path, framedBody) {
    return new Promise((resolve, reject) => {
      const stream = this.#session.request(this.#headers(path), { endStream: false });
      const chunks = [];
      let status;
      let message;
      stream.on('response', (headers) => {
        if (headers['grpc-status'] !== undefined) [status, message] = [headers['grpc-status'], headers['grpc-message']];
      });
      stream.on('trailers', (trailers) => {
        [status, message] = [trailers['grpc-status'], trailers['grpc-message']];
      });
      stream.on('data', (chunk) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('end', () => {
        if (status !== '0') {
          reject(new GrpcError(status ?? 'missing', message, path));
          return;
        }
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) {
          reject(new Error(`${path}: expected one gRPC message, got ${body.length} bytes`));
          return;
        }
        resolve(body.subarray(5));
      });
      stream.end(framedBody);
    });
  }

  /**
   * A bidi stream: `send(framed)` writes a request, `onMessage(bytes)` sees each response message.
   * `end()` half-closes; `cancel()` resets the stream.
   */
  bidi(path, onMessage, onEnd) {
    const stream = this.#session.request(this.#headers(path), { endStream: false });
    const reader = new FrameReader();
    let status;
    stream.on('trailers', (t) => (status = t['grpc-status']));
    stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = h['grpc-status'];
    });
    stream.on('data', (chunk) => {
      for (const m of reader.push(chunk)) onMessage(m);
    });
    stream.on('error', (error) => onEnd?.(error));
    stream.on('end', () => onEnd?.(status === '0' || status === undefined ? undefined : new GrpcError(status, '', path)));
    return {
      send: (framed) => stream.write(framed),
      end: () => stream.end(),
      cancel: () => stream.close(http2.constants.NGHTTP2_CANCEL),
    };
  }

  close() {
    return new Promise((resolve) => {
      if (this.#session.closed || this.#session.destroyed) resolve();
      else this.#session.close(resolve);
    });
  }

  destroy() {
    this.#session.destroy();
  }
}
