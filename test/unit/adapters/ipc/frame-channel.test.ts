// FrameChannel: u32 length | u8 type | u32 id | payload frames over a byte stream. Over a real
// TCP socket pair on 127.0.0.1: frames of many sizes arrive intact and in order, frames split at
// arbitrary chunk boundaries are reassembled, frames sent in one turn leave in one write, close and
// destroy reach both sides, and a bad length destroys the stream with an error naming it.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import { FrameChannel, type Frame } from '../../../../src/adapters/ipc/frame-channel.js';

interface SocketPair {
  readonly a: net.Socket;
  readonly b: net.Socket;
}

const servers: net.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A connected pair of TCP sockets on the loopback interface. */
async function socketPair(): Promise<SocketPair> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const a = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    a.once('connect', resolve);
    a.once('error', reject);
  });
  const b = await accepted;
  server.close();
  return { a, b };
}

async function channelPair(): Promise<{ a: FrameChannel; b: FrameChannel; sockets: SocketPair }> {
  const sockets = await socketPair();
  return { a: new FrameChannel(sockets.a), b: new FrameChannel(sockets.b), sockets };
}

/** Collects frames; `next(n)` resolves once n frames in all have arrived. */
function collect(channel: FrameChannel): { frames: Frame[]; next: (n: number) => Promise<Frame[]> } {
  const frames: Frame[] = [];
  const waiters: { n: number; resolve: (f: Frame[]) => void }[] = [];
  channel.onFrame((frame) => {
    // Copy: the payload may be a view into a buffer the channel reuses for the following frames.
    frames.push({ type: frame.type, id: frame.id, payload: Buffer.from(frame.payload) });
    for (const w of waiters.splice(0)) {
      if (frames.length >= w.n) w.resolve(frames);
      else waiters.push(w);
    }
  });
  return {
    frames,
    next: (n) => (frames.length >= n ? Promise.resolve(frames) : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

function closed(channel: FrameChannel): Promise<Error | undefined> {
  return new Promise((resolve) => channel.onClose(resolve));
}

/** The bytes of one frame, as the format says (independent of FrameChannel.send). */
function encodeFrame(type: number, id: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(9 + payload.byteLength);
  out.writeUInt32BE(5 + payload.byteLength, 0);
  out[4] = type;
  out.writeUInt32BE(id, 5);
  Buffer.from(payload).copy(out, 9);
  return out;
}

function patterned(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A Duplex that delivers exactly the chunks pushed to it, one 'data' event each. */
function chunkedStream(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

describe('FrameChannel over a TCP socket pair', () => {
  it('delivers frames of 0 bytes, 1 byte and 1 MiB intact, in order, with their type and id', async () => {
    const { a, b } = await channelPair();
    const got = collect(b);
    const sizes = [0, 1, 2, 8, 9, 100, 4096, 65_535, 65_536, 65_537, 1024 * 1024, 0, 1];
    const payloads = sizes.map((size, i) => patterned(size, i + 1));
    payloads.forEach((payload, i) => a.send(i % 256, 1000 + i, payload));
    const frames = await got.next(payloads.length);
    assert.equal(frames.length, payloads.length);
    frames.forEach((frame, i) => {
      assert.equal(frame.type, i % 256, `frame ${i} type`);
      assert.equal(frame.id, 1000 + i, `frame ${i} id`);
      assert.equal(frame.payload.byteLength, sizes[i], `frame ${i} length`);
      assert.equal(sha(frame.payload), sha(payloads[i] as Buffer), `frame ${i} bytes`);
    });
    a.destroy();
    b.destroy();
  });

  it('keeps the order of frames sent over many event-loop turns, in both directions at once', async () => {
    const { a, b } = await channelPair();
    const atB = collect(b);
    const atA = collect(a);
    const count = 300;
    for (let i = 0; i < count; i++) {
      a.send(7, i, Buffer.from(`a${i}`));
      b.send(8, i, Buffer.from(`b${i}`), Buffer.from('|tail'));
      if (i % 17 === 0) await tick();
    }
    const [fromA, fromB] = await Promise.all([atB.next(count), atA.next(count)]);
    assert.deepEqual(
      fromA.map((f) => `${f.type}:${f.id}:${f.payload.toString()}`),
      Array.from({ length: count }, (_, i) => `7:${i}:a${i}`),
    );
    // Several payload parts are one payload, concatenated.
    assert.deepEqual(
      fromB.map((f) => `${f.type}:${f.id}:${f.payload.toString()}`),
      Array.from({ length: count }, (_, i) => `8:${i}:b${i}|tail`),
    );
    a.destroy();
    b.destroy();
  });

  it('writes the documented layout: u32 length (type + id + payload), u8 type, u32 id (unsigned)', async () => {
    const { a, sockets } = await channelPair();
    const chunks: Buffer[] = [];
    sockets.b.on('data', (chunk: Buffer) => chunks.push(chunk));
    a.send(255, -1, Buffer.from('xyz'));
    a.send(3, 0xffff_ffff);
    a.close();
    await new Promise((resolve) => sockets.b.once('end', resolve));
    assert.deepEqual(
      Buffer.concat(chunks),
      Buffer.concat([encodeFrame(255, 0xffff_ffff, Buffer.from('xyz')), encodeFrame(3, 0xffff_ffff, new Uint8Array(0))]),
    );
  });

  it('reassembles frames the peer writes one byte at a time', async () => {
    const { a: raw, b: rawPeer } = await socketPair();
    raw.setNoDelay(true);
    const channel = new FrameChannel(rawPeer);
    const got = collect(channel);
    let dataEvents = 0;
    rawPeer.on('data', () => dataEvents++);
    const frames = [encodeFrame(11, 1, Buffer.from('hello')), encodeFrame(12, 2, new Uint8Array(0)), encodeFrame(13, 3, patterned(40, 9))];
    const bytes = Buffer.concat(frames);
    for (let i = 0; i < bytes.byteLength; i++) {
      await new Promise<void>((resolve, reject) => raw.write(bytes.subarray(i, i + 1), (err) => (err ? reject(err) : resolve())));
      // Let each byte arrive on its own (TCP may still coalesce some; the Duplex test below pins exact splits).
      if (i % 4 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const received = await got.next(3);
    assert.ok(dataEvents > frames.length, `the bytes arrived in ${dataEvents} chunks`);
    assert.deepEqual(
      received.map((f) => [f.type, f.id, f.payload.toString('hex')]),
      [
        [11, 1, Buffer.from('hello').toString('hex')],
        [12, 2, ''],
        [13, 3, patterned(40, 9).toString('hex')],
      ],
    );
    raw.destroy();
    channel.destroy();
  });

  it('reports close to the other side when one side closes, and to itself', async () => {
    const { a, b } = await channelPair();
    const got = collect(b);
    const aClosed = closed(a);
    const bClosed = closed(b);
    a.send(1, 1, Buffer.from('last words'));
    a.close();
    assert.equal(await bClosed, undefined, 'a graceful close carries no error');
    assert.equal(await aClosed, undefined);
    assert.ok(a.isClosed && b.isClosed);
    // What was sent before the close arrived.
    assert.deepEqual(
      got.frames.map((f) => f.payload.toString()),
      ['last words'],
    );
    // A listener added after the close hears of it at once.
    let late = false;
    b.onClose(() => (late = true));
    assert.equal(late, true);
    // Sending on a closed channel queues nothing.
    assert.equal(a.send(1, 2, Buffer.from('x')), false);
    assert.equal(b.send(1, 2, Buffer.from('x')), false);
  });

  it('reports destroy to the other side', async () => {
    const { a, b } = await channelPair();
    const bClosed = closed(b);
    const aClosed = closed(a);
    a.destroy();
    await bClosed;
    await aClosed;
    assert.ok(b.isClosed);
    assert.ok(a.isClosed);
  });

  it('calls each close listener once, even though the socket emits both end and close', async () => {
    const { a, b } = await channelPair();
    let calls = 0;
    b.onClose(() => calls++);
    a.close();
    await closed(b);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(calls, 1);
  });

  it('sends the frames of one event-loop turn in one write (the socket is corked until the next tick)', async () => {
    const { a, b, sockets } = await channelPair();
    const got = collect(b);
    const writes: number[] = [];
    const socket = sockets.a as net.Socket & {
      _writev: (chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void) => void;
      _write: (chunk: Buffer, encoding: string, cb: (err?: Error | null) => void) => void;
    };
    const writev = socket._writev.bind(socket);
    const write = socket._write.bind(socket);
    socket._writev = (chunks, cb) => {
      writes.push(chunks.length);
      writev(chunks, cb);
    };
    socket._write = (chunk, encoding, cb) => {
      writes.push(1);
      write(chunk, encoding, cb);
    };
    for (let i = 0; i < 50; i++) a.send(1, i, Buffer.from(`m${i}`));
    await got.next(50);
    // 50 headers and 50 payloads, in one writev.
    assert.deepEqual(writes, [100]);
    for (let i = 50; i < 60; i++) a.send(1, i, Buffer.from(`m${i}`));
    await got.next(60);
    assert.deepEqual(writes, [100, 20], 'the next turn is a write of its own');
    assert.deepEqual(
      got.frames.map((f) => f.id),
      Array.from({ length: 60 }, (_, i) => i),
    );
    a.destroy();
    b.destroy();
  });

  it('send returns false over the high-water mark; drained resolves once the peer takes the bytes', async () => {
    const { a, b, sockets } = await channelPair();
    await a.drained(); // nothing queued: resolves at once
    sockets.b.pause();
    const big = patterned(4 * 1024 * 1024, 3);
    assert.equal(a.send(1, 1, big), false, 'a 4 MiB frame is over the socket high-water mark');
    let drained = false;
    const waiting = a.drained().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(drained, false, 'the paused peer has not taken 4 MiB');
    const got = collect(b);
    sockets.b.resume();
    await waiting;
    const [frame] = await got.next(1);
    assert.equal(sha(frame?.payload ?? Buffer.alloc(0)), sha(big));
    a.destroy();
    b.destroy();
  });

  it('drained resolves when the channel closes while waiting', async () => {
    const { a, b, sockets } = await channelPair();
    sockets.b.pause();
    assert.equal(a.send(1, 1, patterned(4 * 1024 * 1024, 4)), false);
    const waiting = a.drained();
    b.destroy();
    await waiting;
    await closed(a);
    assert.ok(a.isClosed);
  });

  it('destroys the stream on an absurd length (over 1 GiB) and says so to its close listeners', async () => {
    const { a: raw, b: rawPeer } = await socketPair();
    const channel = new FrameChannel(rawPeer);
    const got = collect(channel);
    const rawClosed = new Promise((resolve) => raw.once('close', resolve));
    raw.on('error', () => undefined); // the peer may reset
    const header = Buffer.alloc(9);
    header.writeUInt32BE(0xffff_ffff, 0);
    raw.write(Buffer.concat([encodeFrame(1, 1, Buffer.from('ok')), header, Buffer.from('garbage')]));
    const error = await closed(channel);
    assert.ok(error instanceof Error);
    assert.match(error.message, /bad frame length 4294967295/);
    assert.deepEqual(
      got.frames.map((f) => f.payload.toString()),
      ['ok'],
      'the good frame before the bad one was delivered, nothing after',
    );
    assert.ok(rawPeer.destroyed);
    await rawClosed; // the other side sees the connection go
  });

  it('accepts a length of exactly 1 GiB as a header (waits for the bytes), refuses 1 GiB + 1', async () => {
    const { a: raw, b: rawPeer } = await socketPair();
    const channel = new FrameChannel(rawPeer);
    raw.on('error', () => undefined);
    let closeError: Error | undefined | null = null;
    channel.onClose((e) => (closeError = e));
    const header = Buffer.alloc(9);
    header.writeUInt32BE(1024 * 1024 * 1024, 0);
    raw.write(header);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(closeError, null, '1 GiB is the largest length taken');
    assert.equal(channel.isClosed, false);
    raw.destroy();
    await closed(channel);

    const second = await socketPair();
    const channel2 = new FrameChannel(second.b);
    second.a.on('error', () => undefined);
    header.writeUInt32BE(1024 * 1024 * 1024 + 1, 0);
    second.a.write(header);
    const error = await closed(channel2);
    assert.match(error?.message ?? '', /bad frame length 1073741825/);
    second.a.destroy();
  });

  it('destroys the stream on a length too short to hold type and id', async () => {
    for (const length of [0, 4]) {
      const { a: raw, b: rawPeer } = await socketPair();
      const channel = new FrameChannel(rawPeer);
      raw.on('error', () => undefined);
      const got = collect(channel);
      const header = Buffer.alloc(9);
      header.writeUInt32BE(length, 0);
      raw.write(header);
      const error = await closed(channel);
      assert.match(error?.message ?? '', new RegExp(`bad frame length ${length}$`));
      assert.equal(got.frames.length, 0);
      raw.destroy();
    }
  });

  it('drops a truncated frame when the peer goes away mid-frame (close without error, no frame)', async () => {
    const { a: raw, b: rawPeer } = await socketPair();
    const channel = new FrameChannel(rawPeer);
    const got = collect(channel);
    const whole = encodeFrame(5, 9, patterned(100, 5));
    raw.write(Buffer.concat([encodeFrame(5, 8, Buffer.from('complete')), whole.subarray(0, 50)]));
    raw.end();
    const error = await closed(channel);
    assert.equal(error, undefined);
    assert.deepEqual(
      got.frames.map((f) => f.id),
      [8],
    );
  });
});

describe('FrameChannel reassembly at exact chunk boundaries', () => {
  const frames = [
    { type: 1, id: 1, payload: Buffer.from('first') },
    { type: 2, id: 0x01020304, payload: Buffer.alloc(0) },
    { type: 3, id: 3, payload: patterned(30, 2) },
    { type: 4, id: 4, payload: Buffer.from('x') },
  ];
  const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.id, f.payload)));
  const expected = frames.map((f) => `${f.type}:${f.id}:${f.payload.toString('hex')}`);

  async function deliver(chunks: Buffer[]): Promise<string[]> {
    const stream = chunkedStream();
    const channel = new FrameChannel(stream);
    const out: string[] = [];
    channel.onFrame((f) => out.push(`${f.type}:${f.id}:${f.payload.toString('hex')}`));
    for (const chunk of chunks) stream.push(chunk);
    await tick();
    channel.destroy();
    return out;
  }

  it('splits the stream at every single position', async () => {
    for (let cut = 0; cut <= bytes.byteLength; cut++) {
      assert.deepEqual(await deliver([bytes.subarray(0, cut), bytes.subarray(cut)].filter((c) => c.byteLength > 0)), expected, `cut at ${cut}`);
    }
  });

  it('takes the stream one byte per chunk', async () => {
    const chunks = Array.from({ length: bytes.byteLength }, (_, i) => bytes.subarray(i, i + 1));
    assert.deepEqual(await deliver(chunks), expected);
  });

  it('takes the stream in seeded random chunkings', async () => {
    const random = patterned(4000, 77);
    let r = 0;
    for (let round = 0; round < 100; round++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.byteLength; ) {
        const size = 1 + ((random[r++ % random.length] as number) % 20);
        chunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(await deliver(chunks), expected, `round ${round}`);
    }
  });

  it('delivers a payload that stays valid after the frames that follow it arrive', async () => {
    const stream = chunkedStream();
    const channel = new FrameChannel(stream);
    const seen: Frame[] = [];
    channel.onFrame((f) => seen.push(f));
    stream.push(bytes);
    await tick();
    stream.push(Buffer.concat([encodeFrame(9, 9, Buffer.from('later')), bytes.subarray(0, 20)]));
    await tick();
    assert.deepEqual(
      seen.slice(0, 4).map((f) => `${f.type}:${f.id}:${f.payload.toString('hex')}`),
      expected,
    );
    assert.equal(seen[4]?.payload.toString(), 'later');
    channel.destroy();
  });
});
