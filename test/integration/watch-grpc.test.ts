// The Watch protocol over gRPC against the built `t4 run`: what etcd clients rely on (created per
// create in order, ids, duplicate refusal, cancel, fragments, periodic and requested progress,
// hasleader metadata), and fan-out: 1,000 watchers on one prefix receive every event of a burst.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EtcdGrpcClient, utf8, type WatchStreamClient } from '../support/etcd-grpc-client.js';
import { startT4, type T4Process } from '../support/t4-process.js';
import type * as pb from '../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';

const prefixEnd = (p: string): Uint8Array => {
  const b = utf8(p);
  b[b.length - 1] = (b[b.length - 1] as number) + 1;
  return b;
};
const isProgress = (r: pb.WatchResponse): boolean => r.events.length === 0 && !r.created && !r.canceled && r.compactRevision === 0n && (r.header?.revision ?? 0n) !== 0n;

describe('Watch over gRPC against t4 run', () => {
  let t4: T4Process;
  let client: EtcdGrpcClient;
  before(async () => {
    t4 = await startT4({ args: ['--watch-progress-notify-interval', '200ms', '--max-request-bytes', '4096'] });
    client = new EtcdGrpcClient(t4.endpoint);
  });
  after(async () => {
    client?.close();
    await t4?.cleanup();
  });

  const revision = async (): Promise<bigint> => (await client.range({ key: utf8('nothing') })).header?.revision ?? 0n;

  it('answers creates in order with ids from 0, honours client ids, refuses duplicates as etcd 3.5; hasleader accepted', async () => {
    const w = client.watch({ hasleader: 'true' });
    try {
      w.create({ key: utf8('p/a') });
      w.create({ key: utf8('p/b'), watchId: 5n });
      w.create({ key: utf8('p/c'), watchId: 5n });
      w.create({ key: utf8('p/d') });
      w.create({ key: utf8('p/z'), rangeEnd: utf8('p/a') });
      const rs = [await w.next(), await w.next(), await w.next(), await w.next(), await w.next()];
      assert.deepEqual(
        rs.map((r) => [r.watchId, r.created, r.canceled, r.cancelReason]),
        [
          [0n, true, false, ''],
          [5n, true, false, ''],
          [-1n, true, true, 'mvcc: duplicate watch ID provided on the WatchStream'],
          [1n, true, false, ''],
          [-1n, true, true, 'mvcc: watcher range is empty'],
        ],
      );
      const now = await revision();
      for (const r of rs) assert.equal(r.header?.revision, now);
      w.cancel(5n);
      const canceled = await w.next();
      assert.deepEqual([canceled.watchId, canceled.canceled, canceled.created], [5n, true, false]);
    } finally {
      w.close();
    }
  });

  it('splits a large revision into fragments only for a watcher that asked, never otherwise', async () => {
    const value = 'x'.repeat(3_000);
    await Promise.all(Array.from({ length: 300 }, (_, i) => client.put({ key: utf8(`frag/${i}`), value: utf8(value) })));
    const from = (await revision()) + 1n;
    const w = client.watch();
    try {
      w.create({ key: utf8('frag/'), rangeEnd: prefixEnd('frag/'), startRevision: from, prevKv: true, fragment: true });
      w.create({ key: utf8('frag/'), rangeEnd: prefixEnd('frag/'), startRevision: from, prevKv: true });
      await w.next();
      await w.next();
      // One revision deleting 300 keys, each event with a 3 KB prev_kv: ~900 KB, over the
      // 4 KiB + 512 KiB threshold (etcd: max-request-bytes plus gRPC overhead).
      await client.deleteRange({ key: utf8('frag/'), rangeEnd: prefixEnd('frag/') });
      await w.quiet(500);
      const fragmented = w.responses.filter((r) => r.events.length > 0 && r.watchId === 0n);
      const whole = w.responses.filter((r) => r.events.length > 0 && r.watchId === 1n);
      assert.deepEqual(whole.map((r) => [r.events.length, r.fragment]), [[300, false]]);
      assert.ok(fragmented.length >= 2, `expected fragments, got ${fragmented.length} responses`);
      assert.deepEqual(fragmented.map((r) => r.fragment), [...fragmented.slice(1).map(() => true), false]);
      assert.equal(fragmented.reduce((n, r) => n + r.events.length, 0), 300);
    } finally {
      w.close();
    }
  });

  it('sends periodic progress to progress_notify watchers and answers RequestProgress with watch id -1', async () => {
    const w = client.watch();
    try {
      w.create({ key: utf8('quiet'), progressNotify: true });
      await w.next();
      const periodic = await w.until(isProgress, 5_000);
      assert.equal(periodic.watchId, 0n);
      w.requestProgress();
      const requested = await w.until((r) => isProgress(r) && r.watchId === -1n, 5_000);
      assert.equal(requested.header?.revision, await revision());
    } finally {
      w.close();
    }
  });

  it('1,000 watchers on one prefix receive every event of a write burst, with no loss', async () => {
    const streams: WatchStreamClient[] = [];
    const clients = Array.from({ length: 4 }, () => new EtcdGrpcClient(t4.endpoint));
    const from = (await revision()) + 1n;
    const burst = 200;
    try {
      for (let s = 0; s < 20; s++) {
        const w = clients[s % clients.length]?.watch() as WatchStreamClient;
        for (let i = 0; i < 50; i++) w.create({ key: utf8('fan/'), rangeEnd: prefixEnd('fan/'), startRevision: from });
        streams.push(w);
      }
      await Promise.all(Array.from({ length: burst }, (_, i) => clients[i % clients.length]?.put({ key: utf8(`fan/${i % 20}`), value: utf8(String(i)) })));
      // A generous bound (the burst is 200,000 deliveries; on a loaded 2-core CI machine it has
      // taken over 20 s): the test asserts completeness and order, not speed.
      const deadline = Date.now() + 90_000;
      const counts = (w: WatchStreamClient): Map<bigint, number> => {
        const m = new Map<bigint, number>();
        for (const r of w.responses) if (r.events.length > 0) m.set(r.watchId, (m.get(r.watchId) ?? 0) + r.events.length);
        return m;
      };
      const complete = (): boolean => streams.every((w) => { const m = counts(w); return m.size === 50 && [...m.values()].every((n) => n === burst); });
      while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
      let total = 0;
      for (const w of streams) for (const n of counts(w).values()) total += n;
      assert.equal(total, 1000 * burst);
      for (const w of streams) {
        for (const [id, n] of counts(w)) assert.equal(n, burst, `watch ${id}`);
        // Ordered per watcher, revisions contiguous from the burst's first revision.
        const byId = new Map<bigint, bigint[]>();
        for (const r of w.responses) for (const e of r.events) byId.set(r.watchId, [...(byId.get(r.watchId) ?? []), e.kv?.modRevision ?? 0n]);
        for (const revs of byId.values()) revs.forEach((rev, i) => assert.equal(rev, from + BigInt(i)));
      }
    } finally {
      for (const w of streams) w.close();
      for (const c of clients) c.close();
    }
  });
});
