// T4's own gRPC servers, Http2GrpcServer (T4's HTTP/2, the default) and H2GrpcServer (node:http2),
// each with real clients: @grpc/grpc-js, node:http2 and the etcd3 npm client. The same suite runs
// against both. First test handlers that expose what the server did (signal aborted, metadata, peer
// CN): unary, server streaming, bidi, deadlines, cancellation, unknown methods, the receive limit,
// error mapping, TLS and mutual TLS. Then a whole T4Node served by it (T4_GRPC_SERVER) with etcd3.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { create, type DescService } from '@bufbuild/protobuf';
import { Etcd3 } from 'etcd3';
import { H2GrpcServer } from '../../../../src/adapters/grpc/h2-grpc-server.js';
import { Http2GrpcServer } from '../../../../src/adapters/grpc/http2-grpc-server.js';
import { encodeGrpcMessage, parseGrpcTimeout } from '../../../../src/adapters/grpc/grpc-framing.js';
import type { GrpcServerOptions, RpcServer } from '../../../../src/adapters/grpc/grpc-server.js';
import { GrpcStatusError, unimplemented } from '../../../../src/adapters/grpc/errors.js';
import type { CallContext, ServiceHandlers, StreamCall } from '../../../../src/adapters/grpc/handler.js';
import { healthHandlers } from '../../../../src/adapters/grpc/health-handlers.js';
import { grpcServiceDefinition } from '../../../../src/adapters/grpc/service-definition.js';
import * as pb from '../../../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import * as health from '../../../../src/adapters/grpc/gen/grpc/health/v1/health_pb.js';
import { T4Node } from '../../../../src/app/node.js';
import { DEFAULT_LIMITS } from '../../../../src/domain/limits.js';
import type { Logger } from '../../../../src/ports/logger.js';
import { EtcdGrpcClient, grpcErrorOf, utf8 } from '../../../support/etcd-grpc-client.js';
import { testCertificates } from '../../../support/certs.js';

const errors: unknown[] = [];
const logger: Logger = { debug() {}, info() {}, warn() {}, error: (fields) => void errors.push(fields['err']), child: () => logger };
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** Every method answers UNIMPLEMENTED unless overridden. */
function handlersFor(service: DescService, overrides: ServiceHandlers): ServiceHandlers {
  const out: ServiceHandlers = {};
  for (const m of service.methods) out[m.name] = overrides[m.name] ?? (() => Promise.reject(unimplemented(`${m.name} not in this test`)));
  return out;
}

/** What the test handlers saw. */
const seen = { slowAborted: undefined as Promise<void> | undefined, slowCancellation: [] as boolean[] };

function abortedPromise(ctx: CallContext): Promise<void> {
  return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
}

interface Implementation {
  readonly name: string;
  /** T4_GRPC_SERVER for a T4Node served by it. */
  readonly env: string;
  readonly make: (options: GrpcServerOptions) => RpcServer;
}

const IMPLEMENTATIONS: readonly Implementation[] = [
  { name: 'Http2GrpcServer', env: 'http2', make: (o) => new Http2GrpcServer(o) },
  { name: 'H2GrpcServer', env: 'node-http2', make: (o) => new H2GrpcServer(o) },
];

function testServer(impl: Implementation): RpcServer {
  const server = impl.make({ requestBytesMax: 1024, keepaliveTimeMs: 60_000, keepaliveTimeoutMs: 5_000, logger });
  server.register(
    pb.KV,
    handlersFor(pb.KV, {
      // The request's metadata and the peer's CN come back in prev_kv.
      Put: (req: pb.PutRequest, ctx: CallContext) =>
        create(pb.PutResponseSchema, {
          header: { revision: 7n },
          prevKv: { key: req.key, value: utf8(`${ctx.metadata('token') ?? '-'}|${ctx.metadata('trace-bin') ?? '-'}|${ctx.peerCommonName() ?? '-'}`) },
        }),
      Range: async (req: pb.RangeRequest, ctx: CallContext) => {
        const key = text(req.key);
        if (key === 'slow') {
          // `aborted` (what writes check) says what the signal says, before and after.
          seen.slowCancellation = [ctx.aborted];
          seen.slowAborted = abortedPromise(ctx);
          await seen.slowAborted;
          seen.slowCancellation.push(ctx.aborted);
          throw new Error('aborted');
        }
        if (key === 'boom') throw new Error('boom');
        if (key === 'status') throw new GrpcStatusError(grpc.status.OUT_OF_RANGE, 'déjà vu: 100% compacted');
        return create(pb.RangeResponseSchema, { count: BigInt(key.length) });
      },
    }),
  );
  server.register(
    pb.Maintenance,
    handlersFor(pb.Maintenance, {
      Snapshot: async (call: StreamCall<pb.SnapshotRequest, pb.SnapshotResponse>) => {
        for await (const _ of call.requests) {
          for (let i = 3; i >= 0; i--) await call.send(create(pb.SnapshotResponseSchema, { remainingBytes: BigInt(i), blob: utf8(`chunk${i}`) }));
        }
      },
    }),
  );
  server.register(
    pb.Watch,
    handlersFor(pb.Watch, {
      // Each create answers with a burst: created, then 50 responses of one event each.
      Watch: async (call: StreamCall<pb.WatchRequest, pb.WatchResponse>) => {
        let id = 0n;
        for await (const req of call.requests) {
          if (req.requestUnion.case !== 'createRequest') continue;
          const watchId = id++;
          const key = req.requestUnion.value.key;
          await call.send(create(pb.WatchResponseSchema, { watchId, created: true }));
          for (let i = 0; i < 50; i++) {
            void call.send(create(pb.WatchResponseSchema, { watchId, header: { revision: BigInt(i + 1) }, events: [{ kv: { key, modRevision: BigInt(i + 1) } }] }));
          }
        }
      },
    }),
  );
  server.register(health.Health, healthHandlers(() => server.serviceNames(), () => true));
  return server;
}

function genericClient(service: DescService, address: string, credentials = grpc.credentials.createInsecure()): grpc.Client {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  return new Ctor(address, credentials, { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
}

function unary<T>(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): { call: grpc.ClientUnaryCall; result: Promise<T> } {
  let call!: grpc.ClientUnaryCall;
  const result = new Promise<T>((resolve, reject) => {
    const fn = (client as unknown as Record<string, Function>)[method] as Function;
    call = fn.call(client, request, metadata, { deadline: Date.now() + 10_000, ...options }, (err: grpc.ServiceError | null, value: T) => (err ? reject(err) : resolve(value)));
  });
  return { call, result };
}

async function statusOf(p: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: grpc.status[err.code] ?? String(err.code), details: err.details };
  }
  throw new Error('expected the call to fail');
}

describe('gRPC framing helpers', () => {
  it('parses grpc-timeout and percent-encodes grpc-message', () => {
    assert.equal(parseGrpcTimeout('250m'), 250);
    assert.equal(parseGrpcTimeout('3S'), 3000);
    assert.equal(parseGrpcTimeout('1H'), 3_600_000);
    assert.equal(parseGrpcTimeout('1000u'), 1);
    assert.equal(parseGrpcTimeout('123456789S'), undefined);
    assert.equal(parseGrpcTimeout('5 parsecs'), undefined);
    assert.equal(encodeGrpcMessage('etcdserver: key is not provided'), 'etcdserver: key is not provided');
    assert.equal(encodeGrpcMessage('100% é\n'), '100%25 %C3%A9%0A');
  });
});

for (const impl of IMPLEMENTATIONS) {
  describe(`${impl.name} with grpc-js clients`, () => {
    let server: RpcServer;
    let address: string;
    let kv: grpc.Client;

    before(async () => {
      server = testServer(impl);
      address = await server.listen('127.0.0.1:0');
      kv = genericClient(pb.KV, address);
    });
    after(async () => {
      kv.close();
      await server.close(1_000);
    });

    it('serves a unary call with metadata (text and -bin) from the request headers', async () => {
      const md = new grpc.Metadata();
      md.set('token', 'tok123');
      md.set('trace-bin', Buffer.from('binary ✓'));
      const res = await unary<pb.PutResponse>(kv, 'Put', create(pb.PutRequestSchema, { key: utf8('a'), value: utf8('1') }), md).result;
      assert.equal(res.header?.revision, 7n);
      assert.equal(text(res.prevKv?.value ?? new Uint8Array()), 'tok123|binary ✓|-');
      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => unary<pb.RangeResponse>(kv, 'Range', create(pb.RangeRequestSchema, { key: utf8('k'.repeat(i + 1)) })).result));
      assert.deepEqual(
        many.map((r) => r.count),
        Array.from({ length: 50 }, (_, i) => BigInt(i + 1)),
      );
    });

    it('maps errors: a status error keeps its code and (percent-encoded) text; an unknown error is INTERNAL and logged', async () => {
      assert.deepEqual(await statusOf(unary(kv, 'Range', create(pb.RangeRequestSchema, { key: utf8('status') })).result), { code: 'OUT_OF_RANGE', details: 'déjà vu: 100% compacted' });
      const before = errors.length;
      assert.deepEqual(await statusOf(unary(kv, 'Range', create(pb.RangeRequestSchema, { key: utf8('boom') })).result), { code: 'INTERNAL', details: 't4: internal error: boom' });
      assert.equal(errors.length, before + 1);
      assert.deepEqual(await statusOf(unary(kv, 'Txn', create(pb.TxnRequestSchema, {})).result), { code: 'UNIMPLEMENTED', details: 'Txn not in this test' });
    });

    it('answers UNIMPLEMENTED for an unknown method or service, as grpc-js', async () => {
      const call = (path: string) =>
        new Promise((resolve, reject) =>
          kv.makeUnaryRequest(path, (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (err, v) => (err ? reject(err) : resolve(v))),
        );
      assert.deepEqual(await statusOf(call('/etcdserverpb.KV/Nope')), { code: 'UNIMPLEMENTED', details: 'The server does not implement the method /etcdserverpb.KV/Nope' });
      assert.deepEqual(await statusOf(call('/no.Such/Service')), { code: 'UNIMPLEMENTED', details: 'The server does not implement the method /no.Such/Service' });
    });

    it('refuses a message over requestBytesMax + 512 KiB with RESOURCE_EXHAUSTED, and keeps serving', async () => {
      const value = new Uint8Array(600 * 1024);
      const { code, details } = await statusOf(unary(kv, 'Put', create(pb.PutRequestSchema, { key: utf8('big'), value })).result);
      assert.equal(code, 'RESOURCE_EXHAUSTED');
      assert.match(details, /^Received message larger than max \(\d+ vs 525312\)$/);
      const ok = await unary<pb.PutResponse>(kv, 'Put', create(pb.PutRequestSchema, { key: utf8('small'), value: new Uint8Array(500 * 1024) })).result;
      assert.equal(ok.header?.revision, 7n);
    });

    it('ends a call at its deadline with DEADLINE_EXCEEDED and aborts the handler signal', async () => {
      seen.slowAborted = undefined;
      const started = Date.now();
      const { code } = await statusOf(unary(kv, 'Range', create(pb.RangeRequestSchema, { key: utf8('slow') }), new grpc.Metadata(), { deadline: Date.now() + 200 }).result);
      assert.equal(code, 'DEADLINE_EXCEEDED');
      assert.ok(Date.now() - started < 2_000);
      assert.ok(seen.slowAborted !== undefined);
      await seen.slowAborted;
      assert.deepEqual(seen.slowCancellation, [false, true]);
    });

    it('aborts the handler signal when the client cancels', async () => {
      seen.slowAborted = undefined;
      const { call, result } = unary(kv, 'Range', create(pb.RangeRequestSchema, { key: utf8('slow') }));
      while (seen.slowAborted === undefined) await new Promise((r) => setTimeout(r, 5));
      call.cancel();
      assert.equal((await statusOf(result)).code, 'CANCELLED');
      await seen.slowAborted;
      assert.deepEqual(seen.slowCancellation, [false, true]);
    });

    it('serves a server stream (Snapshot) in order, then status OK', async () => {
      const m = genericClient(pb.Maintenance, address);
      try {
        const stream = (m as unknown as Record<string, Function>)['Snapshot']!.call(m, create(pb.SnapshotRequestSchema, {}), new grpc.Metadata(), {}) as grpc.ClientReadableStream<pb.SnapshotResponse>;
        const got: string[] = [];
        for await (const r of stream) got.push(text((r as pb.SnapshotResponse).blob));
        assert.deepEqual(got, ['chunk3', 'chunk2', 'chunk1', 'chunk0']);
      } finally {
        m.close();
      }
    });

    it('serves a bidi stream (Watch): bursts arrive whole and in order; half-close ends it with OK', async () => {
      const w = genericClient(pb.Watch, address);
      try {
        const call = (w as unknown as Record<string, Function>)['Watch']!.call(w, new grpc.Metadata(), {}) as grpc.ClientDuplexStream<pb.WatchRequest, pb.WatchResponse>;
        const got: pb.WatchResponse[] = [];
        const done = new Promise<grpc.StatusObject>((resolve, reject) => {
          call.on('data', (r: pb.WatchResponse) => got.push(r));
          call.on('status', resolve);
          call.on('error', reject);
        });
        for (const key of ['a', 'b']) call.write(create(pb.WatchRequestSchema, { requestUnion: { case: 'createRequest', value: create(pb.WatchCreateRequestSchema, { key: utf8(key) }) } }));
        call.end();
        const s = await done;
        assert.equal(s.code, grpc.status.OK);
        assert.equal(got.length, 102);
        for (const [id, key] of [[0n, 'a'], [1n, 'b']] as const) {
          const mine = got.filter((r) => r.watchId === id);
          assert.equal(mine[0]?.created, true);
          assert.deepEqual(
            mine.slice(1).map((r) => r.events[0]?.kv?.modRevision),
            Array.from({ length: 50 }, (_, i) => BigInt(i + 1)),
          );
          assert.ok(mine.slice(1).every((r) => text(r.events[0]?.kv?.key ?? new Uint8Array()) === key));
        }
      } finally {
        w.close();
      }
    });

    it('serves the health service', async () => {
      const h = genericClient(health.Health, address);
      try {
        const res = await unary<health.HealthCheckResponse>(h, 'Check', create(health.HealthCheckRequestSchema, { service: 'etcdserverpb.KV' })).result;
        assert.equal(res.status, health.HealthCheckResponse_ServingStatus.SERVING);
        assert.equal((await statusOf(unary(h, 'Check', create(health.HealthCheckRequestSchema, { service: 'nope' })).result)).code, 'NOT_FOUND');
      } finally {
        h.close();
      }
    });
  });

  describe(`${impl.name} connections`, () => {
    it('refuses a request that is not gRPC with 415', async () => {
      const server = testServer(impl);
      const address = await server.listen('127.0.0.1:0');
      const session = http2.connect(`http://${address}`);
      try {
        const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Put', 'content-type': 'text/plain' });
          req.on('response', resolve);
          req.on('error', reject);
          req.end();
        });
        assert.equal(headers[':status'], 415);
      } finally {
        session.close();
        await server.close(1_000);
      }
    });

    it('pings every keepaliveTimeMs', async () => {
      const server = impl.make({ requestBytesMax: 1024, keepaliveTimeMs: 50, keepaliveTimeoutMs: 1_000, logger });
      server.register(health.Health, healthHandlers(() => [], () => true));
      const address = await server.listen('127.0.0.1:0');
      const session = http2.connect(`http://${address}`);
      try {
        let pings = 0;
        session.on('ping', () => pings++);
        await new Promise((r) => setTimeout(r, 400));
        assert.ok(pings >= 2, `pings: ${pings}`);
        assert.equal(session.destroyed, false);
      } finally {
        session.close();
        await server.close(1_000);
      }
    });

    it('close(graceMs) waits up to graceMs for a running call, then cuts it (its handler signal aborts)', async () => {
      const server = testServer(impl);
      const address = await server.listen('127.0.0.1:0');
      const kv = genericClient(pb.KV, address);
      try {
        await unary(kv, 'Range', create(pb.RangeRequestSchema, { key: utf8('warm') })).result;
        seen.slowAborted = undefined;
        const slow = statusOf(unary(kv, 'Range', create(pb.RangeRequestSchema, { key: utf8('slow') })).result);
        while (seen.slowAborted === undefined) await new Promise((r) => setTimeout(r, 5));
        const started = Date.now();
        await server.close(300);
        assert.ok(Date.now() - started >= 250, 'waited for the grace period');
        assert.equal((await slow).code, 'UNAVAILABLE');
        await seen.slowAborted;
      } finally {
        kv.close();
      }
    });
  });

  describe(`${impl.name} with TLS`, () => {
    it('serves over server-only TLS (no peer CN) and mutual TLS (the verified CN); refuses a client without a certificate', async () => {
      const certs = await testCertificates();
      const ca = readFileSync(certs.ca.cert);
      const base = { cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) };
      const put = create(pb.PutRequestSchema, { key: utf8('t'), value: utf8('v') });

      const oneWay = testServer(impl);
      const a1 = await oneWay.listen('127.0.0.1:0', { ...base, clientCa: undefined });
      const c1 = genericClient(pb.KV, a1.replace('127.0.0.1', 'localhost'), grpc.credentials.createSsl(ca));
      try {
        const res = await unary<pb.PutResponse>(c1, 'Put', put).result;
        assert.equal(text(res.prevKv?.value ?? new Uint8Array()), '-|-|-');
      } finally {
        c1.close();
        await oneWay.close(1_000);
      }

      const mutual = testServer(impl);
      const a2 = (await mutual.listen('127.0.0.1:0', { ...base, clientCa: ca })).replace('127.0.0.1', 'localhost');
      const alice = certs.client('alice');
      const c2 = genericClient(pb.KV, a2, grpc.credentials.createSsl(ca, readFileSync(alice.key), readFileSync(alice.cert)));
      const c3 = genericClient(pb.KV, a2, grpc.credentials.createSsl(ca));
      try {
        const res = await unary<pb.PutResponse>(c2, 'Put', put).result;
        assert.equal(text(res.prevKv?.value ?? new Uint8Array()), '-|-|alice');
        assert.equal((await statusOf(unary(c3, 'Put', put, new grpc.Metadata(), { deadline: Date.now() + 3_000 }).result)).code, 'UNAVAILABLE');
      } finally {
        c2.close();
        c3.close();
        await mutual.close(1_000);
      }
    });
  });

  describe(`a T4Node served by ${impl.name} (T4_GRPC_SERVER=${impl.env})`, () => {
    let dir: string;
    let node: T4Node;
    let address: string;
    let etcd: Etcd3;
    let raw: EtcdGrpcClient;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 't4-h2-grpc-'));
      node = await T4Node.open({ dataDir: dir, nodeId: 'h2-test', limits: DEFAULT_LIMITS, logger });
      const previous = process.env['T4_GRPC_SERVER'];
      process.env['T4_GRPC_SERVER'] = impl.env;
      try {
        address = await node.serve({ listen: '127.0.0.1:0' });
      } finally {
        if (previous === undefined) delete process.env['T4_GRPC_SERVER'];
        else process.env['T4_GRPC_SERVER'] = previous;
      }
      etcd = new Etcd3({ hosts: `http://${address}` });
      raw = new EtcdGrpcClient(address);
    });
    after(async () => {
      etcd.close();
      raw.close();
      await node.close(1_000);
      rmSync(dir, { recursive: true, force: true });
    });

    it('etcd3: put, get, prefix, delete, txn, lease', async () => {
      await etcd.put('h2/a').value('1');
      await etcd.put('h2/b').value('2');
      assert.equal(await etcd.get('h2/a').string(), '1');
      assert.deepEqual(await etcd.getAll().prefix('h2/').strings(), { 'h2/a': '1', 'h2/b': '2' });
      const txn = await etcd.if('h2/a', 'Value', '==', '1').then(etcd.put('h2/c').value('3')).commit();
      assert.equal(txn.succeeded, true);
      assert.equal((await etcd.delete().prefix('h2/').exec()).deleted, '3');
      const lease = etcd.lease(10, { autoKeepAlive: false });
      await lease.put('h2/leased').value('x');
      assert.equal(await etcd.get('h2/leased').string(), 'x');
      await lease.revoke();
      assert.equal(await etcd.get('h2/leased').string(), null);
    });

    it('etcd3: a watcher sees puts and deletes in order', async () => {
      const watcher = await etcd.watch().prefix('w/').create();
      const events: string[] = [];
      const all = new Promise<void>((resolve) => {
        watcher.on('data', (res) => {
          for (const e of res.events) events.push(`${e.type}:${e.kv.key.toString()}`);
          if (events.length >= 21) resolve();
        });
      });
      for (let i = 0; i < 20; i++) await etcd.put(`w/${i}`).value('v');
      await etcd.delete().key('w/0');
      await all;
      assert.deepEqual(events, [...Array.from({ length: 20 }, (_, i) => `Put:w/${i}`), 'Delete:w/0']);
      await watcher.cancel();
    });

    it('grpc-js: etcd error texts, and a watch stream with a cancel', async () => {
      assert.deepEqual(await grpcErrorOf(raw.range({ key: new Uint8Array() })), { code: grpc.status.INVALID_ARGUMENT, codeName: 'INVALID_ARGUMENT', details: 'etcdserver: key is not provided' });
      const w = raw.watch();
      try {
        w.create({ key: utf8('x') });
        const created = await w.next();
        assert.equal(created.created, true);
        await raw.put({ key: utf8('x'), value: utf8('1') });
        const ev = await w.until((r) => r.events.length > 0);
        assert.equal(text(ev.events[0]?.kv?.value ?? new Uint8Array()), '1');
        w.cancel(created.watchId);
        assert.equal((await w.until((r) => r.canceled)).watchId, created.watchId);
      } finally {
        w.close();
      }
    });
  });
}
