// CallForwarder (serving process) and ForwardedCallServer (writer) together over a FrameChannel
// pair on a real TCP socket pair: unary, server-streaming and bidi calls run the writer's
// handlers with the client's token and CN; statuses, credits (flow control), cancellation and
// the channel going away behave as on a local gRPC server.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { create, fromBinary, toBinary, type DescService } from '@bufbuild/protobuf';
import { CallForwarder } from '../../../../src/adapters/ipc/call-forwarder.js';
import { ForwardedCallServer } from '../../../../src/adapters/ipc/forwarded-call-server.js';
import { FrameChannel } from '../../../../src/adapters/ipc/frame-channel.js';
import { FrameType, STREAM_WINDOW } from '../../../../src/adapters/ipc/serving-protocol.js';
import { GrpcStatusError, unimplemented } from '../../../../src/adapters/grpc/errors.js';
import type { CallContext, ServiceHandlers, StreamCall, StreamHandler, UnaryHandler } from '../../../../src/adapters/grpc/handler.js';
import * as pb from '../../../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { CompactedError } from '../../../../src/domain/errors.js';
import type { Logger } from '../../../../src/ports/logger.js';

const UNAVAILABLE = 14;
const GONE = 'etcdserver: the writer process is gone; this serving process is stopping';

const servers: net.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

async function socketPair(): Promise<{ a: net.Socket; b: net.Socket }> {
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

/** Every method answers UNIMPLEMENTED unless overridden. */
function handlersFor(service: DescService, overrides: ServiceHandlers): ServiceHandlers {
  const out: ServiceHandlers = {};
  for (const m of service.methods) out[m.name] = overrides[m.name] ?? (() => Promise.reject(unimplemented(`${m.name} not in this test`)));
  return out;
}

interface Harness {
  /** The serving process's forwarding handlers, by method name. */
  readonly kv: Record<string, UnaryHandler<Buffer, Buffer>>;
  readonly snapshot: StreamHandler<Buffer, Buffer>;
  readonly keepAlive: StreamHandler<Buffer, Buffer>;
  readonly leaseGrant: UnaryHandler<Buffer, Buffer>;
  readonly servingChannel: FrameChannel;
  readonly writerChannel: FrameChannel;
  readonly logged: { fields: Record<string, unknown>; message: string }[];
}

/** A writer serving KV and Maintenance (and Lease when given) to one serving process. */
async function harness(handlers: { kv?: ServiceHandlers; maintenance?: ServiceHandlers; lease?: ServiceHandlers }): Promise<Harness> {
  const { a, b } = await socketPair();
  const servingChannel = new FrameChannel(a);
  const writerChannel = new FrameChannel(b);
  const logged: Harness['logged'] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error: (fields, message) => void logged.push({ fields, message }),
    child: () => logger,
  };
  const server = new ForwardedCallServer(logger);
  server.register(pb.KV, handlersFor(pb.KV, handlers.kv ?? {}));
  server.register(pb.Maintenance, handlersFor(pb.Maintenance, handlers.maintenance ?? {}));
  if (handlers.lease !== undefined) server.register(pb.Lease, handlersFor(pb.Lease, handlers.lease));
  assert.deepEqual(server.serviceNames().slice(0, 2), ['etcdserverpb.KV', 'etcdserverpb.Maintenance']);
  server.attach(writerChannel);
  const forwarder = new CallForwarder(servingChannel);
  const kv = forwarder.handlers(pb.KV) as Record<string, UnaryHandler<Buffer, Buffer>>;
  const maintenance = forwarder.handlers(pb.Maintenance);
  const lease = forwarder.handlers(pb.Lease);
  return {
    kv,
    snapshot: maintenance['Snapshot'] as StreamHandler<Buffer, Buffer>,
    keepAlive: lease['LeaseKeepAlive'] as StreamHandler<Buffer, Buffer>,
    leaseGrant: lease['LeaseGrant'] as UnaryHandler<Buffer, Buffer>,
    servingChannel,
    writerChannel,
    logged,
  };
}

/** The serving process's view of a client call. */
function clientCtx(token?: string, cn?: string): { ctx: CallContext; controller: AbortController } {
  const controller = new AbortController();
  const ctx: CallContext = {
    signal: controller.signal,
    get aborted() {
      return controller.signal.aborted;
    },
    metadata: (key) => (key === 'token' ? token : undefined),
    peerCommonName: () => cn,
  };
  return { ctx, controller };
}

/** An async queue of requests the test feeds. */
class Requests<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private ended = false;
  private waiter: ((r: IteratorResult<T>) => void) | undefined;

  push(item: T): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w !== undefined) w({ value: item, done: false });
    else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift() as T, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** A client-side stream call: records what the forwarder sends to the client. */
function clientStream(
  ctx: CallContext,
  requests: AsyncIterable<Buffer>,
  onSend: (bytes: Buffer) => Promise<void> | void = () => undefined,
): { call: StreamCall<Buffer, Buffer>; received: Buffer[] } {
  const received: Buffer[] = [];
  return {
    received,
    call: {
      ctx,
      requests,
      send: async (bytes) => {
        received.push(Buffer.from(bytes));
        await onSend(bytes);
      },
    },
  };
}

async function* one(bytes: Buffer): AsyncIterable<Buffer> {
  yield bytes;
}

const bin = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const rangeRequest = (key: string): Buffer => bin(toBinary(pb.RangeRequestSchema, create(pb.RangeRequestSchema, { key: Buffer.from(key) })));
const keepAliveRequest = (id: bigint): Buffer => bin(toBinary(pb.LeaseKeepAliveRequestSchema, create(pb.LeaseKeepAliveRequestSchema, { ID: id })));
const EMPTY_SNAPSHOT_REQUEST = bin(toBinary(pb.SnapshotRequestSchema, create(pb.SnapshotRequestSchema)));

function isStatus(code: number, message: string | RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof GrpcStatusError, `a GrpcStatusError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}

function aborted(ctx: CallContext): Promise<void> {
  return new Promise((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const settle = (ms = 30): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function close(h: Harness): void {
  h.servingChannel.destroy();
  h.writerChannel.destroy();
}

describe('forwarded unary calls', () => {
  it('reach the handler with the request, token and peer CN, and return its reply bytes', async () => {
    const h = await harness({
      kv: {
        Range: (req: pb.RangeRequest, ctx: CallContext) =>
          create(pb.RangeResponseSchema, {
            count: 42n,
            kvs: [{ key: req.key, value: Buffer.from(`${ctx.metadata('token') ?? '-'}|${ctx.peerCommonName() ?? '-'}|${ctx.metadata('other') ?? '-'}`) }],
          }),
      },
    });
    const { ctx } = clientCtx('tok-1', 'alice');
    const reply = await (h.kv['Range'] as UnaryHandler<Buffer, Buffer>)(rangeRequest('k/1'), ctx);
    const response = fromBinary(pb.RangeResponseSchema, reply);
    assert.equal(response.count, 42n);
    assert.equal(text(response.kvs[0]?.key ?? new Uint8Array()), 'k/1');
    assert.equal(text(response.kvs[0]?.value ?? new Uint8Array()), 'tok-1|alice|-');

    const anonymous = clientCtx();
    const reply2 = fromBinary(pb.RangeResponseSchema, await (h.kv['Range'] as UnaryHandler<Buffer, Buffer>)(rangeRequest('k/2'), anonymous.ctx));
    assert.equal(text(reply2.kvs[0]?.value ?? new Uint8Array()), '-|-|-', 'no token and no CN arrive as undefined');
    close(h);
  });

  it('matches each reply to its call when many are in flight and answered out of order', async () => {
    const h = await harness({
      kv: {
        Range: async (req: pb.RangeRequest) => {
          const n = Number(text(req.key));
          await settle((n * 7) % 13);
          return create(pb.RangeResponseSchema, { count: BigInt(n) });
        },
      },
    });
    const range = h.kv['Range'] as UnaryHandler<Buffer, Buffer>;
    const replies = await Promise.all(Array.from({ length: 50 }, (_, n) => range(rangeRequest(String(n)), clientCtx().ctx)));
    assert.deepEqual(
      replies.map((r) => fromBinary(pb.RangeResponseSchema, r).count),
      Array.from({ length: 50 }, (_, n) => BigInt(n)),
    );
    close(h);
  });

  it('return a handler GrpcStatusError as that status (code and unicode message)', async () => {
    const h = await harness({ kv: { Range: () => Promise.reject(new GrpcStatusError(11, 'déjà vu: 100% compacted')) } });
    await assert.rejects(async () => (h.kv['Range'] as UnaryHandler<Buffer, Buffer>)(rangeRequest('a'), clientCtx().ctx), isStatus(11, 'déjà vu: 100% compacted'));
    assert.equal(h.logged.length, 0, 'a known status is not logged');
    close(h);
  });

  it('map domain errors with the same table as a local server, and unknown errors to INTERNAL (logged)', async () => {
    const h = await harness({
      kv: {
        Range: () => {
          throw new CompactedError();
        },
        Put: async () => {
          throw new Error('boom');
        },
      },
    });
    await assert.rejects(
      async () => (h.kv['Range'] as UnaryHandler<Buffer, Buffer>)(rangeRequest('a'), clientCtx().ctx),
      isStatus(11, 'etcdserver: mvcc: required revision has been compacted'),
    );
    const put = bin(toBinary(pb.PutRequestSchema, create(pb.PutRequestSchema, { key: Buffer.from('a') })));
    await assert.rejects(async () => (h.kv['Put'] as UnaryHandler<Buffer, Buffer>)(put, clientCtx().ctx), isStatus(13, 't4: internal error: boom'));
    assert.equal(h.logged.length, 1);
    assert.equal((h.logged[0]?.fields['err'] as Error).message, 'boom');
    close(h);
  });

  it('answer UNIMPLEMENTED for a method the writer does not serve', async () => {
    const h = await harness({});
    const grant = bin(toBinary(pb.LeaseGrantRequestSchema, create(pb.LeaseGrantRequestSchema, { TTL: 5n })));
    await assert.rejects(
      async () => h.leaseGrant(grant, clientCtx().ctx),
      isStatus(12, 'The server does not implement the method /etcdserverpb.Lease/LeaseGrant'),
    );
    close(h);
  });

  it('carry a cancel from the forwarding side to the handler (its signal aborts); its late answer is dropped', async () => {
    let handlerAborted: Promise<void> | undefined;
    let finished = false;
    const h = await harness({
      kv: {
        Range: async (req: pb.RangeRequest, ctx: CallContext) => {
          if (text(req.key) !== 'slow') return create(pb.RangeResponseSchema, { count: 1n });
          handlerAborted = aborted(ctx);
          await handlerAborted;
          finished = true;
          return create(pb.RangeResponseSchema, { count: 1n });
        },
      },
    });
    const range = h.kv['Range'] as UnaryHandler<Buffer, Buffer>;
    const { ctx, controller } = clientCtx();
    void range(rangeRequest('slow'), ctx);
    await until(() => handlerAborted !== undefined, 'the handler to start');
    controller.abort();
    await handlerAborted;
    await until(() => finished, 'the handler to return');
    // The channel stays usable: the next call gets its own answer.
    const next = fromBinary(pb.RangeResponseSchema, await range(rangeRequest('x'), clientCtx().ctx));
    assert.equal(next.count, 1n);
    assert.equal(h.servingChannel.isClosed, false);
    close(h);
  });
});

describe('forwarded server-streaming calls', () => {
  it('stream the handler messages in order, then end OK; the handler gets the one request', async () => {
    let requests = 0;
    const h = await harness({
      maintenance: {
        Snapshot: async (call: StreamCall<pb.SnapshotRequest, pb.SnapshotResponse>) => {
          for await (const _ of call.requests) requests++;
          for (let i = 0; i < 10; i++) await call.send(create(pb.SnapshotResponseSchema, { remainingBytes: BigInt(9 - i), blob: Buffer.from(`chunk${i}`) }));
        },
      },
    });
    const { ctx } = clientCtx('t', 'cn');
    const { call, received } = clientStream(ctx, one(EMPTY_SNAPSHOT_REQUEST));
    await h.snapshot(call);
    assert.equal(requests, 1);
    assert.deepEqual(
      received.map((b) => text(fromBinary(pb.SnapshotResponseSchema, b).blob)),
      Array.from({ length: 10 }, (_, i) => `chunk${i}`),
    );
    close(h);
  });

  it('deliver the messages sent before a handler error, then that error as the status', async () => {
    const h = await harness({
      maintenance: {
        Snapshot: async (call: StreamCall<pb.SnapshotRequest, pb.SnapshotResponse>) => {
          await call.send(create(pb.SnapshotResponseSchema, { blob: Buffer.from('one') }));
          await call.send(create(pb.SnapshotResponseSchema, { blob: Buffer.from('two') }));
          throw new GrpcStatusError(9, 'etcdserver: not now');
        },
      },
    });
    const { call, received } = clientStream(clientCtx().ctx, one(EMPTY_SNAPSHOT_REQUEST), () => settle(5));
    await assert.rejects(h.snapshot(call), isStatus(9, 'etcdserver: not now'));
    assert.deepEqual(
      received.map((b) => text(fromBinary(pb.SnapshotResponseSchema, b).blob)),
      ['one', 'two'],
    );
    close(h);
  });

  it(`hold the handler at ${STREAM_WINDOW} unacknowledged messages until the client takes them (credits)`, async () => {
    const total = 200;
    let sent = 0;
    const h = await harness({
      maintenance: {
        Snapshot: async (call: StreamCall<pb.SnapshotRequest, pb.SnapshotResponse>) => {
          for (let i = 0; i < total; i++) {
            await call.send(create(pb.SnapshotResponseSchema, { remainingBytes: BigInt(total - 1 - i) }));
            sent = i + 1;
          }
        },
      },
    });
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { call, received } = clientStream(clientCtx().ctx, one(EMPTY_SNAPSHOT_REQUEST), () => gate);
    const done = h.snapshot(call);
    await until(() => sent === STREAM_WINDOW, `${STREAM_WINDOW} sends`);
    await settle(50);
    assert.equal(sent, STREAM_WINDOW, 'no credit came back: the handler waits in send');
    assert.equal(received.length, 1, 'the client is still taking the first message');
    open();
    await done;
    assert.equal(sent, total);
    assert.deepEqual(
      received.map((b) => fromBinary(pb.SnapshotResponseSchema, b).remainingBytes),
      Array.from({ length: total }, (_, i) => BigInt(total - 1 - i)),
    );
    close(h);
  });

  it('wake a handler waiting for credit when the client cancels, with its signal aborted', async () => {
    let sent = 0;
    let handlerSawAbort = false;
    let handlerDone = false;
    const h = await harness({
      maintenance: {
        Snapshot: async (call: StreamCall<pb.SnapshotRequest, pb.SnapshotResponse>) => {
          while (!call.ctx.signal.aborted) {
            await call.send(create(pb.SnapshotResponseSchema, { blob: Buffer.from('x') }));
            sent++;
          }
          handlerSawAbort = true;
          handlerDone = true;
        },
      },
    });
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { ctx, controller } = clientCtx();
    const { call } = clientStream(ctx, one(EMPTY_SNAPSHOT_REQUEST), () => gate);
    // Watched from the start: the call may end (cancelled) before the client side lets go below.
    const cancelled = assert.rejects(h.snapshot(call), isStatus(1, 'context canceled'));
    await until(() => sent === STREAM_WINDOW, 'the window to fill');
    controller.abort();
    await until(() => handlerDone, 'the handler to return after the cancel');
    assert.equal(handlerSawAbort, true);
    assert.ok(sent <= STREAM_WINDOW + 1, `no more messages after the window (${sent})`);
    open(); // the client side lets the queued messages go (a real call's send resolves once the stream closes)
    await cancelled;
    close(h);
  });
});

describe('forwarded bidi calls', () => {
  it('stream requests and responses both ways, interleaved, and end when the client half-closes', async () => {
    const seenRequests: bigint[] = [];
    const h = await harness({
      lease: {
        LeaseKeepAlive: async (call: StreamCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>) => {
          for await (const req of call.requests) {
            seenRequests.push(req.ID);
            await call.send(create(pb.LeaseKeepAliveResponseSchema, { ID: req.ID, TTL: req.ID * 10n }));
          }
          // After the half-close: one last message, then OK.
          await call.send(create(pb.LeaseKeepAliveResponseSchema, { ID: -1n }));
        },
      },
    });
    const requests = new Requests<Buffer>();
    const { call, received } = clientStream(clientCtx('tok').ctx, requests);
    const done = h.keepAlive(call);
    for (let id = 1n; id <= 5n; id++) {
      requests.push(keepAliveRequest(id));
      // Each response arrives before the next request is sent: the two directions interleave.
      await until(() => received.length === Number(id), `response ${id}`);
      assert.equal(fromBinary(pb.LeaseKeepAliveResponseSchema, received[Number(id) - 1] as Buffer).TTL, id * 10n);
    }
    requests.end();
    await done;
    assert.deepEqual(seenRequests, [1n, 2n, 3n, 4n, 5n]);
    assert.deepEqual(
      received.map((b) => fromBinary(pb.LeaseKeepAliveResponseSchema, b).ID),
      [1n, 2n, 3n, 4n, 5n, -1n],
    );
    close(h);
  });

  it('carry a cancel to the handler: its signal aborts and its requests end; the client call ends CANCELLED', async () => {
    let handlerCtx: CallContext | undefined;
    let requestsEnded = false;
    const h = await harness({
      lease: {
        LeaseKeepAlive: async (call: StreamCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>) => {
          handlerCtx = call.ctx;
          for await (const req of call.requests) await call.send(create(pb.LeaseKeepAliveResponseSchema, { ID: req.ID }));
          requestsEnded = true;
        },
      },
    });
    const requests = new Requests<Buffer>();
    const { ctx, controller } = clientCtx();
    const { call, received } = clientStream(ctx, requests);
    const done = h.keepAlive(call);
    requests.push(keepAliveRequest(7n));
    await until(() => received.length === 1, 'the first response');
    controller.abort();
    await assert.rejects(done, isStatus(1, 'context canceled'));
    await until(() => requestsEnded, "the handler's requests to end");
    assert.equal(handlerCtx?.signal.aborted, true);
    requests.end();
    close(h);
  });

  it('end with the handler status after its messages', async () => {
    const h = await harness({
      lease: {
        LeaseKeepAlive: async (call: StreamCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>) => {
          for await (const req of call.requests) {
            await call.send(create(pb.LeaseKeepAliveResponseSchema, { ID: req.ID }));
            if (req.ID === 2n) throw new GrpcStatusError(5, 'etcdserver: requested lease not found');
          }
        },
      },
    });
    const requests = new Requests<Buffer>();
    const { call, received } = clientStream(clientCtx().ctx, requests);
    const done = h.keepAlive(call);
    requests.push(keepAliveRequest(1n));
    requests.push(keepAliveRequest(2n));
    await assert.rejects(done, isStatus(5, 'etcdserver: requested lease not found'));
    assert.deepEqual(
      received.map((b) => fromBinary(pb.LeaseKeepAliveResponseSchema, b).ID),
      [1n, 2n],
    );
    requests.end();
    close(h);
  });
});

describe('forwarded calls when the channel goes away', () => {
  it('fail every in-flight call with UNAVAILABLE when the writer closes the channel, and refuse new ones', async () => {
    const handlerSignals: AbortSignal[] = [];
    const h = await harness({
      kv: {
        Range: async (_req: pb.RangeRequest, ctx: CallContext) => {
          handlerSignals.push(ctx.signal);
          await aborted(ctx);
          throw new Error('aborted');
        },
      },
      lease: {
        LeaseKeepAlive: async (call: StreamCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>) => {
          handlerSignals.push(call.ctx.signal);
          for await (const _ of call.requests) await call.send(create(pb.LeaseKeepAliveResponseSchema, { ID: 1n }));
        },
      },
    });
    const range = h.kv['Range'] as UnaryHandler<Buffer, Buffer>;
    const unary = Promise.resolve(range(rangeRequest('slow'), clientCtx().ctx));
    const requests = new Requests<Buffer>();
    const { call } = clientStream(clientCtx().ctx, requests);
    const stream = h.keepAlive(call);
    await until(() => handlerSignals.length === 2, 'both handlers to start');
    h.writerChannel.close();
    await assert.rejects(unary, isStatus(UNAVAILABLE, GONE));
    await assert.rejects(stream, isStatus(UNAVAILABLE, GONE));
    // The writer's side cancelled its handlers too.
    await until(() => handlerSignals.every((s) => s.aborted), 'the handlers to be aborted');
    // New calls fail at once.
    await assert.rejects(async () => range(rangeRequest('x'), clientCtx().ctx), isStatus(UNAVAILABLE, GONE));
    await assert.rejects(async () => h.keepAlive(clientStream(clientCtx().ctx, new Requests<Buffer>()).call), isStatus(UNAVAILABLE, GONE));
    requests.end();
    close(h);
  });

  it('cancel the writer handlers when the serving process goes away (signals abort, bidi requests end)', async () => {
    let unaryCtx: CallContext | undefined;
    let bidiEnded = false;
    let bidiCtx: CallContext | undefined;
    const h = await harness({
      kv: {
        Range: async (_req: pb.RangeRequest, ctx: CallContext) => {
          unaryCtx = ctx;
          await aborted(ctx);
          return create(pb.RangeResponseSchema);
        },
      },
      lease: {
        LeaseKeepAlive: async (call: StreamCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>) => {
          bidiCtx = call.ctx;
          for await (const _ of call.requests) {
            // keep reading
          }
          bidiEnded = true;
        },
      },
    });
    const range = h.kv['Range'] as UnaryHandler<Buffer, Buffer>;
    const unary = Promise.resolve(range(rangeRequest('slow'), clientCtx().ctx));
    unary.catch(() => undefined);
    const requests = new Requests<Buffer>();
    const stream = h.keepAlive(clientStream(clientCtx().ctx, requests).call);
    stream.catch(() => undefined);
    await until(() => unaryCtx !== undefined && bidiCtx !== undefined, 'both handlers to start');
    h.servingChannel.destroy();
    await until(() => unaryCtx?.signal.aborted === true, 'the unary handler to be aborted');
    await until(() => bidiEnded, "the bidi handler's requests to end");
    assert.equal(bidiCtx?.signal.aborted, true);
    await assert.rejects(unary, isStatus(UNAVAILABLE, GONE));
    await assert.rejects(stream, isStatus(UNAVAILABLE, GONE));
    requests.end();
  });

  it('drop the channel on a malformed frame from the serving process (logged), failing its calls', async () => {
    let started = false;
    const h = await harness({
      kv: {
        Range: async (_req: pb.RangeRequest, ctx: CallContext) => {
          started = true;
          await aborted(ctx);
          return create(pb.RangeResponseSchema);
        },
      },
    });
    const range = h.kv['Range'] as UnaryHandler<Buffer, Buffer>;
    const unary = Promise.resolve(range(rangeRequest('slow'), clientCtx().ctx));
    await until(() => started, 'the handler to start');
    // A UNARY frame whose head is cut short: decodeCall cannot read the path length.
    h.servingChannel.send(FrameType.UNARY, 999, Buffer.alloc(1));
    await assert.rejects(unary, isStatus(UNAVAILABLE, GONE));
    assert.equal(h.logged.length, 1);
    assert.equal(h.logged[0]?.message, 'bad frame from a serving process');
    assert.equal(h.logged[0]?.fields['frameType'], FrameType.UNARY);
    close(h);
  });
});
