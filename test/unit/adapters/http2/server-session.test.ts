// Http2ServerSession (RFC 9113) driven by a raw frame client, so every protocol rule can be
// broken on purpose: connection errors end with GOAWAY and the right code, stream errors with
// RST_STREAM, flow control holds DATA until the client grants window, header blocks may span
// CONTINUATION frames. Then node:http2 (nghttp2, a strict peer) as the client: Huffman-coded and
// indexed headers of every printable octet, a header block large enough for CONTINUATION, and a
// graceful close.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as http2 from 'node:http2';
import { encodeHeaderBlock } from '../../../../src/adapters/http2/hpack.js';
import { CLIENT_PREFACE, ErrorCode, Flag, frame, FrameType, Setting, settingsFrame, windowUpdateFrame } from '../../../../src/adapters/http2/frames.js';
import { Http2ServerSession, type Http2ServerStream } from '../../../../src/adapters/http2/server-session.js';

interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

const RESPONSE = encodeHeaderBlock([[':status', '200']]);
const TRAILERS = encodeHeaderBlock([['x-done', '1']]);

/** A server whose every stream answers with its request body, after the client half-closes. */
async function echoServer(overrides: { maxConcurrentStreams?: number; onStream?: (stream: Http2ServerStream, fields: readonly string[]) => void } = {}) {
  const sessions: Http2ServerSession[] = [];
  const server = net.createServer((socket) => {
    sessions.push(
      new Http2ServerSession(socket, {
        maxConcurrentStreams: overrides.maxConcurrentStreams ?? 100,
        streamWindowBytes: 1024,
        connectionWindowBytes: 1024 * 1024,
        maxHeaderListBytes: 65_536,
        keepaliveTimeMs: 0,
        keepaliveTimeoutMs: 0,
        onStream: (stream, fields) => {
          if (overrides.onStream !== undefined) return overrides.onStream(stream, fields);
          const body: Buffer[] = [];
          stream.onData = (chunk) => body.push(chunk);
          stream.onEnd = () => {
            stream.respond(RESPONSE);
            stream.write(Buffer.concat(body));
            stream.end(TRAILERS);
          };
        },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    sessions,
    close: () => new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A client that speaks frames, and records every frame the server sends. */
class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 9) {
        const length = this.buffer.readUIntBE(0, 3);
        if (this.buffer.length < 9 + length) break;
        this.frames.push({ type: this.buffer[3] as number, flags: this.buffer[4] as number, streamId: this.buffer.readUInt32BE(5) & 0x7fffffff, payload: this.buffer.subarray(9, 9 + length) });
        this.buffer = this.buffer.subarray(9 + length);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.on('close', () => {
      for (const wake of this.waiters.splice(0)) wake();
      resolve();
    }));
    socket.on('error', () => undefined);
  }

  /** Connects and sends the preface and `settings` (unless `preface` is false). */
  static async connect(port: number, { preface = true, settings = [] as [number, number][] } = {}): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    if (preface) client.write(Buffer.concat([CLIENT_PREFACE, settingsFrame(settings)]));
    return client;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): void {
    this.write(frame(type, flags, streamId, payload));
  }

  /** A request's HEADERS (POST /echo), ending the stream when `end`. */
  request(streamId: number, end = false, extra: [string, string][] = []): void {
    const block = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/echo'], [':authority', 'test'], ...extra]);
    this.send(FrameType.HEADERS, Flag.END_HEADERS | (end ? Flag.END_STREAM : 0), streamId, block);
  }

  async until(predicate: (f: Frame) => boolean, what: string, timeoutMs = 2_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(predicate);
      if (found !== undefined) return found;
      if (this.socket.destroyed || Date.now() > deadline) throw new Error(`no ${what}; got ${this.frames.map((f) => `${f.type}/${f.flags}/${f.streamId}`).join(' ')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  async goaway(): Promise<{ lastStreamId: number; code: number; debug: string }> {
    const f = await this.until((x) => x.type === FrameType.GOAWAY, 'GOAWAY');
    return { lastStreamId: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString('utf8') };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const servers: { close: () => Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function started(options?: Parameters<typeof echoServer>[0]) {
  const s = await echoServer(options);
  servers.push(s);
  return s;
}

describe('Http2ServerSession: the connection', () => {
  it('sends its SETTINGS and raises the connection window first, and ACKs the client SETTINGS', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port);
    const settings = await c.until((f) => f.type === FrameType.SETTINGS && f.flags === 0, 'server SETTINGS');
    const values = new Map<number, number>();
    for (let p = 0; p < settings.payload.length; p += 6) values.set(settings.payload.readUInt16BE(p), settings.payload.readUInt32BE(p + 2));
    assert.equal(values.get(Setting.INITIAL_WINDOW_SIZE), 1024);
    assert.equal(values.get(Setting.MAX_CONCURRENT_STREAMS), 100);
    const update = await c.until((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0, 'connection WINDOW_UPDATE');
    assert.equal(update.payload.readUInt32BE(0), 1024 * 1024 - 65_535);
    await c.until((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK, 'SETTINGS ACK');
    c.destroy();
  });

  it('answers PING with an ACK carrying the same 8 bytes', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port);
    c.send(FrameType.PING, 0, 0, Buffer.from('12345678'));
    const ack = await c.until((f) => f.type === FrameType.PING && f.flags === Flag.ACK, 'PING ACK');
    assert.equal(ack.payload.toString(), '12345678');
    c.destroy();
  });

  it('closes a connection whose preface is not HTTP/2 (an HTTP/1.1 request) without a frame', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port, { preface: false });
    c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await c.closed;
    assert.equal(c.frames.filter((f) => f.type === FrameType.GOAWAY).length, 0);
  });

  const connectionErrors: [string, (c: RawClient) => void, number][] = [
    ['a first frame other than SETTINGS', (c) => c.write(Buffer.concat([CLIENT_PREFACE, frame(FrameType.PING, 0, 0, Buffer.alloc(8))])), ErrorCode.PROTOCOL_ERROR],
    ['a frame above SETTINGS_MAX_FRAME_SIZE', (c) => c.send(FrameType.DATA, 0, 1, Buffer.alloc(16_385)), ErrorCode.FRAME_SIZE_ERROR],
    ['HEADERS on an even stream id', (c) => c.request(2, true), ErrorCode.PROTOCOL_ERROR],
    ['DATA on an idle stream', (c) => c.send(FrameType.DATA, 0, 5, Buffer.from('x')), ErrorCode.PROTOCOL_ERROR],
    ['DATA on stream 0', (c) => c.send(FrameType.DATA, 0, 0, Buffer.from('x')), ErrorCode.PROTOCOL_ERROR],
    ['a header block HPACK cannot decode', (c) => c.send(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80])), ErrorCode.COMPRESSION_ERROR],
    ['a header block interrupted by another frame', (c) => {
      c.send(FrameType.HEADERS, 0, 1, encodeHeaderBlock([[':method', 'POST']]));
      c.send(FrameType.PING, 0, 0, Buffer.alloc(8));
    }, ErrorCode.PROTOCOL_ERROR],
    ['CONTINUATION without HEADERS', (c) => c.send(FrameType.CONTINUATION, Flag.END_HEADERS, 1, Buffer.from([0x82])), ErrorCode.PROTOCOL_ERROR],
    ['a connection WINDOW_UPDATE past 2^31-1', (c) => c.write(windowUpdateFrame(0, 2 ** 31 - 1)), ErrorCode.FLOW_CONTROL_ERROR],
    ['a WINDOW_UPDATE of 0 on the connection', (c) => c.write(windowUpdateFrame(0, 0)), ErrorCode.PROTOCOL_ERROR],
    ['SETTINGS of a bad length', (c) => c.send(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)), ErrorCode.FRAME_SIZE_ERROR],
    ['SETTINGS_ENABLE_PUSH of 2', (c) => c.write(settingsFrame([[Setting.ENABLE_PUSH, 2]])), ErrorCode.PROTOCOL_ERROR],
    ['SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1', (c) => c.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31]])), ErrorCode.FLOW_CONTROL_ERROR],
    ['SETTINGS_MAX_FRAME_SIZE below 16384', (c) => c.write(settingsFrame([[Setting.MAX_FRAME_SIZE, 100]])), ErrorCode.PROTOCOL_ERROR],
    ['PING of 7 bytes', (c) => c.send(FrameType.PING, 0, 0, Buffer.alloc(7)), ErrorCode.FRAME_SIZE_ERROR],
    ['PUSH_PROMISE from a client', (c) => c.send(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)), ErrorCode.PROTOCOL_ERROR],
    ['RST_STREAM on an idle stream', (c) => c.send(FrameType.RST_STREAM, 0, 9, Buffer.alloc(4)), ErrorCode.PROTOCOL_ERROR],
  ];
  for (const [what, send, code] of connectionErrors) {
    it(`ends the connection with GOAWAY on ${what}`, async () => {
      const { port } = await started();
      const c = await RawClient.connect(port, { preface: what !== 'a first frame other than SETTINGS' });
      send(c);
      const goaway = await c.goaway();
      assert.equal(goaway.code, code, goaway.debug);
      await c.closed;
    });
  }

  it('ignores unknown frame types and PRIORITY', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port);
    c.send(0xfa, 0, 0, Buffer.from('whatever'));
    c.send(FrameType.PRIORITY, 0, 3, Buffer.alloc(5));
    c.request(1, true);
    await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'the response');
    assert.equal(c.frames.filter((f) => f.type === FrameType.GOAWAY).length, 0);
    c.destroy();
  });
});

describe('Http2ServerSession: streams', () => {
  it('answers a request whose headers span HEADERS and CONTINUATION frames', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port);
    const block = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/echo'], ['x-big', 'b'.repeat(3000)]]);
    c.send(FrameType.HEADERS, 0, 1, block.subarray(0, 1000));
    c.send(FrameType.CONTINUATION, 0, 1, block.subarray(1000, 2000));
    c.send(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(2000));
    c.send(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('hello'));
    await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'trailers');
    const data = c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).map((f) => f.payload.toString());
    assert.deepEqual(data, ['hello']);
    c.destroy();
  });

  it('holds response DATA to the client window and sends the rest, then the trailers, as WINDOW_UPDATEs arrive', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 16]] });
    c.request(1);
    c.send(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(100, 0x61));
    await c.until((f) => f.type === FrameType.DATA && f.streamId === 1, 'the first DATA');
    await new Promise((r) => setTimeout(r, 50));
    const dataBytes = (): number => c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).reduce((n, f) => n + f.payload.length, 0);
    assert.equal(dataBytes(), 16, 'only the initial window was sent');
    assert.equal(c.frames.some((f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0), false, 'trailers wait behind the data');
    for (let granted = 16; granted < 100; granted += 30) c.write(windowUpdateFrame(1, 30));
    await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'trailers');
    assert.equal(dataBytes(), 100);
    c.destroy();
  });

  it('resets a stream whose DATA exceeds its window (FLOW_CONTROL_ERROR); the connection goes on', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port);
    c.request(1);
    c.send(FrameType.DATA, 0, 1, Buffer.alloc(2000)); // 2000 > the 1024-byte stream window
    const rst = await c.until((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 'RST_STREAM');
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.FLOW_CONTROL_ERROR);
    c.request(3, true);
    await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 3 && (f.flags & Flag.END_STREAM) !== 0, 'stream 3 answered');
    c.destroy();
  });

  it('grants stream window as request DATA is consumed, so requests larger than the window arrive whole', async () => {
    const { port } = await started();
    const c = await RawClient.connect(port);
    c.request(1);
    let sent = 0;
    const total = 5000;
    while (sent < total) {
      const granted = c.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 1).reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
      const allowed = 1024 + granted - sent;
      if (allowed <= 0) {
        await c.until((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 1 && c.frames.filter((g) => g.type === FrameType.WINDOW_UPDATE && g.streamId === 1).length > 0, 'a stream WINDOW_UPDATE');
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      const n = Math.min(allowed, total - sent, 500);
      c.send(FrameType.DATA, sent + n === total ? Flag.END_STREAM : 0, 1, Buffer.alloc(n, 0x62));
      sent += n;
    }
    await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'trailers');
    assert.equal(c.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 0);
    c.destroy();
  });

  it('refuses streams past SETTINGS_MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const { port } = await started({ maxConcurrentStreams: 1 });
    const c = await RawClient.connect(port);
    c.request(1);
    c.request(3);
    const rst = await c.until((f) => f.type === FrameType.RST_STREAM && f.streamId === 3, 'RST_STREAM on 3');
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.REFUSED_STREAM);
    c.send(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('one'));
    await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'stream 1 answered');
    c.destroy();
  });

  it('tells the owner when the client resets a stream, and drops the late frames of a closed stream', async () => {
    let aborted: number | undefined;
    const { port } = await started({
      onStream: (stream) => {
        stream.onAbort = (code) => (aborted = code);
      },
    });
    const c = await RawClient.connect(port);
    c.request(1);
    c.send(FrameType.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, ErrorCode.CANCEL]));
    c.send(FrameType.DATA, 0, 1, Buffer.from('late'));
    c.send(FrameType.PING, 0, 0, Buffer.from('stillok!'));
    await c.until((f) => f.type === FrameType.PING && f.flags === Flag.ACK, 'PING ACK');
    assert.equal(aborted, ErrorCode.CANCEL);
    assert.equal(c.frames.filter((f) => f.type === FrameType.GOAWAY).length, 0);
    c.destroy();
  });

  it('ends a response early with RST_STREAM NO_ERROR when the client has not finished its request', async () => {
    const { port } = await started({
      onStream: (stream) => {
        stream.respond(RESPONSE, true);
      },
    });
    const c = await RawClient.connect(port);
    c.request(1);
    const rst = await c.until((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 'RST_STREAM');
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.NO_ERROR);
    c.destroy();
  });

  it('close(): GOAWAY with the last stream id, the open stream finishes, then the connection ends', async () => {
    const s = await started();
    const c = await RawClient.connect(s.port);
    c.request(1);
    await c.until((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK, 'SETTINGS ACK');
    await new Promise((r) => setTimeout(r, 20));
    for (const session of s.sessions) session.close();
    const goaway = await c.goaway();
    assert.deepEqual([goaway.lastStreamId, goaway.code], [1, ErrorCode.NO_ERROR]);
    c.request(3, true); // after GOAWAY: refused
    c.send(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('last'));
    await c.until((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'stream 1 answered');
    await c.closed;
    assert.ok(c.frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === 3));
  });
});

describe('Http2ServerSession with node:http2 as the client', () => {
  it('decodes nghttp2 headers (Huffman, indexed, CONTINUATION) of every printable octet, request after request', async () => {
    let fieldsSeen: readonly string[] = [];
    const { port } = await started({
      onStream: (stream, fields) => {
        fieldsSeen = fields;
        stream.onEnd = () => {
          stream.respond(RESPONSE);
          stream.write(Buffer.from(JSON.stringify(fields), 'latin1'));
          stream.end(TRAILERS);
        };
      },
    });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      let printable = '';
      for (let b = 0x20; b <= 0x7e; b++) printable += String.fromCharCode(b);
      for (let b = 0xa0; b <= 0xff; b++) printable += String.fromCharCode(b);
      for (let round = 0; round < 3; round++) {
        const headers = { ':method': 'POST', ':path': `/round/${round}`, 'x-printable': printable, 'x-big': 'z'.repeat(40_000), 'x-round': String(round) };
        const body = await new Promise<string>((resolve, reject) => {
          const req = session.request(headers);
          const chunks: Buffer[] = [];
          req.on('data', (d: Buffer) => chunks.push(d));
          req.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
          req.on('error', reject);
          req.end();
        });
        const fields = JSON.parse(body) as string[];
        const get = (name: string): string | undefined => fields[fields.indexOf(name) + 1];
        assert.equal(get(':path'), `/round/${round}`);
        assert.equal(get('x-printable'), printable);
        assert.equal(get('x-big')?.length, 40_000);
        assert.equal(get('x-round'), String(round));
      }
      assert.ok(fieldsSeen.length > 0);
    } finally {
      session.close();
    }
  });

  it('serves many concurrent streams on one connection, each answered with its own body', async () => {
    const { port } = await started();
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const bodies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          new Promise<string>((resolve, reject) => {
            const req = session.request({ ':method': 'POST', ':path': '/echo' });
            const chunks: Buffer[] = [];
            req.on('data', (d: Buffer) => chunks.push(d));
            req.on('end', () => resolve(Buffer.concat(chunks).toString()));
            req.on('error', reject);
            req.end(`body-${i}-${'x'.repeat(i * 10)}`);
          }),
        ),
      );
      bodies.forEach((b, i) => assert.equal(b, `body-${i}-${'x'.repeat(i * 10)}`));
    } finally {
      session.close();
    }
  });
});



