// The benchmark's gRPC client: HTTP/2 frames written and read directly on a TCP socket, so the
// client costs a few microseconds a call and is not what limits a server on 2 cores. Requests
// arrive already protobuf-encoded and gRPC-framed (frame() in grpc-h2.mjs, once per distinct
// request); a unary call is one write of HEADERS + DATA(END_STREAM); responses come back as the
// raw message bytes for the caller to scan (pb-scan.mjs). Response headers are HPACK-decoded with
// T4's decoder (the server's dynamic table must be followed; etcd's Go server Huffman-codes and
// indexes), only to read grpc-status.
//
// Same interface as GrpcH2 (grpc-h2.mjs, the node:http2 client it replaces as the default):
//   const conn = await H2Client.connect('127.0.0.1:2379');
//   const bytes = await conn.unary('/etcdserverpb.KV/Range', framedBody);  // GrpcError on grpc-status != 0
//   const s = conn.bidi(path, onMessage, onEnd); s.send(framed); s.end(); s.cancel();
//   await conn.close();
//
// What it does not do: TLS, request bodies larger than the server's initial stream window (the
// benchmark's largest request is a few KiB), server push, priorities.
import net from 'node:net';
import { encodeHeaderBlock, HpackDecoder } from '../../dist/src/adapters/http2/hpack.js';
import { GrpcError, FrameReader } from './grpc-h2.mjs';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

/** Our receive windows: a 500-key page (~170 KB) never waits for a WINDOW_UPDATE. */
const WINDOW_BYTES = 16 * 1024 * 1024;
const MAX_FRAME_BYTES = 16_384;

function frameHeader(length, type, flags, streamId) {
  const h = Buffer.allocUnsafe(9);
  h[0] = length >>> 16;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return h;
}

function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  return Buffer.concat([frameHeader(payload.length, type, flags, streamId), payload]);
}

function u32(n) {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

export class H2Client {
  #socket;
  #decoder = new HpackDecoder(4096);
  #blocks = new Map();
  #nextStreamId = 1;
  #streams = new Map();
  #input = [];
  #inputBytes = 0;
  #output = [];
  #flushScheduled = false;
  #peerWindow = 65_535;
  #connConsumed = 0;
  #continuation;
  #closed = false;
  #closeWaiters = [];
  #authority;

  constructor(socket, authority) {
    this.#socket = socket;
    this.#authority = authority;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#onClose(new Error('connection closed')));
    this.#queue(PREFACE);
    this.#queue(frame(SETTINGS, 0, 0, Buffer.from([0, 2, 0, 0, 0, 0, 0, 4, ...u32(WINDOW_BYTES)])));
    this.#queue(frame(WINDOW_UPDATE, 0, 0, u32(WINDOW_BYTES - 65_535)));
  }

  /** One HTTP/2 connection (one TCP socket) to `authority` ("host:port"). */
  static connect(authority) {
    const colon = authority.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(authority.slice(colon + 1)), authority.slice(0, colon));
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new H2Client(socket, authority));
      });
    });
  }

  #headerBlock(path) {
    let block = this.#blocks.get(path);
    if (block === undefined) {
      block = encodeHeaderBlock([
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', path],
        [':authority', this.#authority],
        ['content-type', 'application/grpc'],
        ['te', 'trailers'],
      ]);
      this.#blocks.set(path, block);
    }
    return block;
  }

  #open(path, stream) {
    if (this.#closed) throw new Error('connection closed');
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    this.#streams.set(id, stream);
    const block = this.#headerBlock(path);
    this.#queue(frameHeader(block.length, HEADERS, END_HEADERS, id));
    this.#queue(block);
    return id;
  }

  #sendData(id, body, end) {
    if (body.length > this.#peerWindow) throw new Error(`a ${body.length}-byte request is larger than the server's stream window (${this.#peerWindow})`);
    // DATA frames of at most the default SETTINGS_MAX_FRAME_SIZE (16 KiB), which every server takes.
    let offset = 0;
    do {
      const n = Math.min(MAX_FRAME_BYTES, body.length - offset);
      const last = offset + n === body.length;
      this.#queue(frameHeader(n, DATA, last && end ? END_STREAM : 0, id));
      if (n > 0) this.#queue(body.subarray(offset, offset + n));
      offset += n;
    } while (offset < body.length);
  }

  /** Sends one framed request; resolves with the response message bytes (one message expected). */
  unary(path, framedBody) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      const stream = {
        path,
        onData: (chunk) => chunks.push(chunk),
        onStatus: (status, message) => {
          if (status !== '0') return reject(new GrpcError(status ?? 'missing', message, path));
          const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) return reject(new Error(`${path}: expected one gRPC message, got ${body.length} bytes`));
          resolve(body.subarray(5));
        },
        onError: reject,
      };
      try {
        const id = this.#open(path, stream);
        this.#sendData(id, framedBody, true);
      } catch (error) {
        reject(error);
      }
    });
  }

  /**
   * A bidi stream: `send(framed)` writes a request, `onMessage(bytes)` sees each response message.
   * `end()` half-closes; `cancel()` resets the stream.
   */
  bidi(path, onMessage, onEnd) {
    const reader = new FrameReader();
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      onEnd?.(error);
    };
    const stream = {
      path,
      onData: (chunk) => {
        for (const m of reader.push(chunk)) onMessage(m);
      },
      onStatus: (status) => finish(status === '0' || status === undefined ? undefined : new GrpcError(status, '', path)),
      onError: (error) => finish(error),
    };
    const id = this.#open(path, stream);
    return {
      send: (framed) => this.#sendData(id, framed, false),
      end: () => this.#sendData(id, Buffer.alloc(0), true),
      cancel: () => {
        this.#queue(frame(RST_STREAM, 0, id, u32(0x8)));
        this.#streams.delete(id);
        finish(undefined);
      },
    };
  }

  close() {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#closeWaiters.push(resolve);
      this.#queue(frame(GOAWAY, 0, 0, Buffer.concat([u32(0), u32(0)])));
      this.#flush();
      this.#socket.end();
    });
  }

  destroy() {
    this.#socket.destroy();
  }

  #queue(bytes) {
    this.#output.push(bytes);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(() => this.#flush());
    }
  }

  #flush() {
    this.#flushScheduled = false;
    if (this.#output.length === 0 || this.#socket.destroyed) return;
    const out = this.#output.length === 1 ? this.#output[0] : Buffer.concat(this.#output);
    this.#output = [];
    this.#socket.write(out);
  }

  #onData(chunk) {
    let buf;
    if (this.#inputBytes === 0) {
      buf = chunk;
    } else {
      this.#input.push(chunk);
      this.#inputBytes += chunk.length;
      const head = this.#input[0];
      const needed = head.length >= 9 ? 9 + head.readUIntBE(0, 3) : 9;
      if (this.#inputBytes < needed) return;
      buf = Buffer.concat(this.#input, this.#inputBytes);
      this.#input = [];
      this.#inputBytes = 0;
    }
    let pos = 0;
    while (buf.length - pos >= 9) {
      const length = buf.readUIntBE(pos, 3);
      if (buf.length - pos - 9 < length) break;
      const type = buf[pos + 3];
      const flags = buf[pos + 4];
      const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const payload = buf.subarray(pos + 9, pos + 9 + length);
      pos += 9 + length;
      this.#onFrame(type, flags, id, payload);
    }
    if (pos < buf.length) {
      this.#input = [buf.subarray(pos)];
      this.#inputBytes = buf.length - pos;
    }
  }

  #onFrame(type, flags, id, payload) {
    switch (type) {
      case DATA: {
        this.#connConsumed += payload.length;
        if (this.#connConsumed >= WINDOW_BYTES / 2) {
          this.#queue(frame(WINDOW_UPDATE, 0, 0, u32(this.#connConsumed)));
          this.#connConsumed = 0;
        }
        const stream = this.#streams.get(id);
        if (stream === undefined) return;
        let data = payload;
        if (flags & PADDED) data = payload.subarray(1, payload.length - payload[0]);
        stream.consumed = (stream.consumed ?? 0) + payload.length;
        if (stream.consumed >= WINDOW_BYTES / 2 && !(flags & END_STREAM)) {
          this.#queue(frame(WINDOW_UPDATE, 0, id, u32(stream.consumed)));
          stream.consumed = 0;
        }
        if (data.length > 0) stream.onData(data);
        if (flags & END_STREAM) this.#end(id, stream, undefined, undefined);
        return;
      }
      case HEADERS: {
        let start = 0;
        let end = payload.length;
        if (flags & PADDED) {
          start = 1;
          end -= payload[0];
        }
        if (flags & PRIORITY) start += 5;
        const fragment = payload.subarray(start, end);
        if (!(flags & END_HEADERS)) {
          this.#continuation = { id, flags, fragments: [fragment] };
          return;
        }
        this.#onHeaders(id, flags, fragment);
        return;
      }
      case CONTINUATION: {
        const c = this.#continuation;
        c.fragments.push(payload);
        if (!(flags & END_HEADERS)) return;
        this.#continuation = undefined;
        this.#onHeaders(c.id, c.flags, Buffer.concat(c.fragments));
        return;
      }
      case RST_STREAM: {
        const stream = this.#streams.get(id);
        if (stream === undefined) return;
        this.#streams.delete(id);
        const code = payload.readUInt32BE(0);
        // NO_ERROR after a complete response: the server only asks us to stop sending.
        if (code !== 0 || stream.status === undefined) stream.onError(new Error(`${stream.path}: stream reset by the server (code ${code})`));
        return;
      }
      case SETTINGS:
        if (flags & ACK) return;
        for (let p = 0; p < payload.length; p += 6) {
          if (payload.readUInt16BE(p) === 4) this.#peerWindow = payload.readUInt32BE(p + 2);
        }
        this.#queue(frame(SETTINGS, ACK, 0));
        return;
      case PING:
        if (!(flags & ACK)) this.#queue(frame(PING, ACK, 0, payload));
        return;
      case GOAWAY:
        this.#onClose(new Error(`GOAWAY from the server (code ${payload.readUInt32BE(4)})`));
        this.#socket.end();
        return;
      default:
        return;
    }
  }

  #onHeaders(id, flags, block) {
    const fields = [];
    this.#decoder.decode(block, fields);
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 'grpc-status') stream.status = fields[i + 1];
      else if (fields[i] === 'grpc-message') stream.message = fields[i + 1];
    }
    if (flags & END_STREAM) this.#end(id, stream);
  }

  #end(id, stream) {
    this.#streams.delete(id);
    stream.onStatus(stream.status, stream.message);
  }

  #onClose(error) {
    if (this.#closed) return;
    this.#closed = true;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.onError(error);
    for (const resolve of this.#closeWaiters.splice(0)) resolve();
  }
}
