// The KV service end to end on the in-memory backend: revision and header rules (etcd
// server/storage/mvcc/kvstore_txn.go, server/etcdserver/txn/*.go), Put/DeleteRange details, Compact.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { EMPTY_BYTES, prefixEnd } from '../../../../src/domain/bytes.js';
import {
  CompactedError,
  EmptyKeyError,
  FutureRevisionError,
  KeyNotFoundError,
  LeaseNotFoundError,
  LeaseProvidedError,
  ValueProvidedError,
} from '../../../../src/domain/errors.js';
import { NEVER_COMPACTED } from '../../../../src/domain/mvcc/types.js';
import {
  b,
  buildDomain,
  FROM_KEY,
  keysOf,
  ManualScheduler,
  rejectsWith,
  throwsWith,
  tick,
  view,
  views,
  type Domain,
} from '../../../support/domain-fixtures.js';

const get = (d: Domain, key: string) => d.kv.range({ key: b(key) }).result.kvs.map(view)[0];

describe('KvService revisions', () => {
  it('an empty store is at revision 1, never compacted', () => {
    const d = buildDomain();
    assert.equal(d.kv.currentRevision(), 1);
    assert.equal(d.kv.compactRevision(), NEVER_COMPACTED);
    assert.deepEqual(d.kv.range({ key: b('a'), rangeEnd: FROM_KEY }), { revision: 1, result: { kvs: [], more: false, count: 0 } });
  });

  it('the first write is revision 2; each write its own next revision, reported in its header', async () => {
    const d = buildDomain();
    assert.equal((await d.kv.put({ key: b('a'), value: b('1') })).revision, 2);
    assert.equal((await d.kv.put({ key: b('b'), value: b('1') })).revision, 3);
    assert.equal((await d.kv.deleteRange({ key: b('a') })).revision, 4);
    assert.equal(d.kv.currentRevision(), 4);
  });

  it('writes batched together each report their own revision, not the batch\'s last', async () => {
    const d = buildDomain();
    const [p1, del, p2, none, p3] = await Promise.all([
      d.kv.put({ key: b('a'), value: b('1') }),
      d.kv.deleteRange({ key: b('a') }),
      d.kv.put({ key: b('b'), value: b('1') }),
      d.kv.deleteRange({ key: b('zz') }),
      d.kv.put({ key: b('c'), value: b('1') }),
    ]);
    assert.deepEqual([p1.revision, del.revision, p2.revision, none.revision, p3.revision], [2, 3, 4, 4, 5]);
    assert.equal(del.result.deleted, 1);
    assert.equal(d.batches.length, 1);
  });

  it('a put of an unchanged value still takes a revision and bumps the version', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('same') });
    const r = await d.kv.put({ key: b('a'), value: b('same') });
    assert.equal(r.revision, 3);
    assert.deepEqual(get(d, 'a'), { key: 'a', value: 'same', create: 2, mod: 3, version: 2, lease: 0n });
  });

  it('a delete that matches nothing takes no revision; its header is the current revision', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') }); // 2
    for (const req of [{ key: b('x') }, { key: b('x'), rangeEnd: b('z') }, { key: b('b'), rangeEnd: b('a') }]) {
      assert.deepEqual(await d.kv.deleteRange(req), { revision: 2, result: { deleted: 0, prevKvs: [] } });
    }
    assert.equal(d.kv.currentRevision(), 2);
    assert.equal((await d.kv.put({ key: b('c'), value: b('1') })).revision, 3);
  });

  it('reads report the current revision, even when reading an older one', async () => {
    const d = buildDomain();
    for (let i = 0; i < 4; i++) await d.kv.put({ key: b('a'), value: b(String(i)) }); // 2..5
    await d.kv.compact(3, true);
    const r = d.kv.range({ key: b('a'), revision: 3 });
    assert.equal(r.revision, 5);
    assert.equal(view(r.result.kvs[0]!).value, '1');
  });

  it('per-key version, create and mod revisions; a re-created key restarts at version 1', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('k'), value: b('1') }); // 2
    await d.kv.put({ key: b('other'), value: b('x') }); // 3
    await d.kv.put({ key: b('k'), value: b('2') }); // 4
    assert.deepEqual(get(d, 'k'), { key: 'k', value: '2', create: 2, mod: 4, version: 2, lease: 0n });
    await d.kv.deleteRange({ key: b('k') }); // 5
    assert.equal(get(d, 'k'), undefined);
    await d.kv.put({ key: b('k'), value: b('3') }); // 6
    assert.deepEqual(get(d, 'k'), { key: 'k', value: '3', create: 6, mod: 6, version: 1, lease: 0n });
    assert.deepEqual(get(d, 'other'), { key: 'other', value: 'x', create: 3, mod: 3, version: 1, lease: 0n });
  });

  it('empty keys are rejected before anything runs', async () => {
    const d = buildDomain();
    throwsWith(() => d.kv.range({ key: EMPTY_BYTES }), EmptyKeyError);
    throwsWith(() => d.kv.put({ key: EMPTY_BYTES, value: b('v') }), EmptyKeyError);
    throwsWith(() => d.kv.deleteRange({ key: EMPTY_BYTES }), EmptyKeyError);
    assert.equal(d.kv.currentRevision(), 1);
  });
});

describe('KvService.put', () => {
  it('prev_kv returns the previous value when asked and the key existed', async () => {
    const d = buildDomain();
    assert.deepEqual(await d.kv.put({ key: b('a'), value: b('1'), prevKv: true }), { revision: 2, result: { prevKv: undefined } });
    const second = await d.kv.put({ key: b('a'), value: b('2'), prevKv: true });
    assert.deepEqual(view(second.result.prevKv!), { key: 'a', value: '1', create: 2, mod: 2, version: 1, lease: 0n });
    assert.equal((await d.kv.put({ key: b('a'), value: b('3') })).result.prevKv, undefined);
  });

  it('an absent value is the empty value', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a') });
    assert.deepEqual(get(d, 'a'), { key: 'a', value: '', create: 2, mod: 2, version: 1, lease: 0n });
  });

  it('ignore_value keeps the value (and takes the given lease); ignore_lease keeps the lease', async () => {
    const d = buildDomain();
    d.leases.ids.add(7n);
    d.leases.ids.add(8n);
    await d.kv.put({ key: b('a'), value: b('1'), lease: 7n }); // 2
    await d.kv.put({ key: b('a'), ignoreValue: true, lease: 8n }); // 3
    assert.deepEqual(get(d, 'a'), { key: 'a', value: '1', create: 2, mod: 3, version: 2, lease: 8n });
    await d.kv.put({ key: b('a'), value: b('2'), ignoreLease: true }); // 4
    assert.deepEqual(get(d, 'a'), { key: 'a', value: '2', create: 2, mod: 4, version: 3, lease: 8n });
    await d.kv.put({ key: b('a'), ignoreValue: true, ignoreLease: true, prevKv: true }); // 5
    assert.deepEqual(get(d, 'a'), { key: 'a', value: '2', create: 2, mod: 5, version: 4, lease: 8n });
    await d.kv.put({ key: b('a'), value: b('3') }); // 6: a put without a lease detaches it
    assert.equal(get(d, 'a')?.lease, 0n);
  });

  it('ignore_value / ignore_lease on a missing key is KeyNotFound', async () => {
    const d = buildDomain();
    await rejectsWith(d.kv.put({ key: b('a'), ignoreValue: true }), KeyNotFoundError);
    await rejectsWith(d.kv.put({ key: b('a'), value: b('1'), ignoreLease: true }), KeyNotFoundError);
    assert.equal(d.kv.currentRevision(), 1);
  });

  it('ignore_value with a value is ValueProvided; ignore_lease with a lease is LeaseProvided', async () => {
    const d = buildDomain();
    d.leases.ids.add(7n);
    await d.kv.put({ key: b('a'), value: b('1') });
    throwsWith(() => d.kv.put({ key: b('a'), value: b('x'), ignoreValue: true }), ValueProvidedError);
    throwsWith(() => d.kv.put({ key: b('a'), lease: 7n, ignoreLease: true }), LeaseProvidedError);
    assert.equal(d.kv.currentRevision(), 2);
  });

  it('any non-zero lease that does not exist is LeaseNotFound, checked before the ignore_* lookup', async () => {
    const d = buildDomain();
    for (const lease of [1n, -1n, 2n ** 63n - 1n]) {
      await rejectsWith(d.kv.put({ key: b('a'), value: b('1'), lease }), LeaseNotFoundError);
    }
    await rejectsWith(d.kv.put({ key: b('missing'), ignoreValue: true, lease: 3n }), LeaseNotFoundError);
    assert.equal(d.kv.currentRevision(), 1);
    assert.equal((await d.kv.put({ key: b('a'), value: b('1'), lease: 0n })).revision, 2);
  });

  it('an existing lease is attached, int64 ids beyond 2^53 intact', async () => {
    const d = buildDomain();
    const big = 2n ** 63n - 1n;
    d.leases.ids.add(big);
    await d.kv.put({ key: b('a'), value: b('1'), lease: big });
    assert.equal(get(d, 'a')?.lease, big);
  });
});

describe('KvService.deleteRange', () => {
  async function seeded(): Promise<Domain> {
    const d = buildDomain();
    for (const key of ['a', 'p/1', 'p/2', 'p/3', 'q', 'r']) await d.kv.put({ key: b(key), value: b(key) }); // 2..7
    return d;
  }

  it('a single key, with prev_kv', async () => {
    const d = await seeded();
    const r = await d.kv.deleteRange({ key: b('a'), prevKv: true });
    assert.equal(r.revision, 8);
    assert.equal(r.result.deleted, 1);
    assert.deepEqual(views(r.result.prevKvs), [{ key: 'a', value: 'a', create: 2, mod: 2, version: 1, lease: 0n }]);
    assert.equal(get(d, 'a'), undefined);
  });

  it('a prefix: every key its own sub revision of one main revision', async () => {
    const d = await seeded();
    const r = await d.kv.deleteRange({ key: b('p/'), rangeEnd: prefixEnd(b('p/')), prevKv: true });
    assert.equal(r.revision, 8);
    assert.equal(r.result.deleted, 3);
    assert.deepEqual(keysOf(r.result.prevKvs), ['p/1', 'p/2', 'p/3']);
    const batch = d.batches[d.batches.length - 1]!;
    assert.deepEqual(batch.changes.map((c) => [c.kind, c.main, c.sub]), [
      ['delete', 8, 0],
      ['delete', 8, 1],
      ['delete', 8, 2],
    ]);
    assert.equal(d.kv.currentRevision(), 8);
  });

  it('an interval and from-key; without prev_kv no previous values are returned', async () => {
    const d = await seeded();
    const interval = await d.kv.deleteRange({ key: b('p/2'), rangeEnd: b('q\0') });
    assert.deepEqual(interval, { revision: 8, result: { deleted: 3, prevKvs: [] } });
    const fromKey = await d.kv.deleteRange({ key: b('p'), rangeEnd: FROM_KEY });
    assert.deepEqual(fromKey, { revision: 9, result: { deleted: 2, prevKvs: [] } });
    assert.deepEqual(keysOf(d.kv.range({ key: b('\0'), rangeEnd: FROM_KEY }).result.kvs), ['a']);
  });

  it('deleted keys stay readable at older revisions', async () => {
    const d = await seeded();
    await d.kv.deleteRange({ key: b('p/'), rangeEnd: prefixEnd(b('p/')) }); // 8
    assert.deepEqual(keysOf(d.kv.range({ key: b('p/'), rangeEnd: prefixEnd(b('p/')), revision: 7 }).result.kvs), ['p/1', 'p/2', 'p/3']);
    assert.equal(d.kv.range({ key: b('p/'), rangeEnd: prefixEnd(b('p/')), countOnly: true }).result.count, 0);
  });
});

/** An in-memory backend whose purge needs `steps` calls, to observe when a purge finishes. */
class SlowPurgeBackend extends InMemoryMvccBackend {
  remaining = 0;
  purgeCalls = 0;
  override purgeStep(rowsMax: number): boolean {
    this.purgeCalls++;
    if (this.remaining > 0) {
      this.remaining--;
      return false;
    }
    return super.purgeStep(rowsMax);
  }
}

describe('KvService.compact', () => {
  it('takes no revision and answers with the current revision', async () => {
    const d = buildDomain();
    for (let i = 0; i < 3; i++) await d.kv.put({ key: b('a'), value: b(String(i)) }); // 2..4
    const r = await d.kv.compact(3, false);
    assert.deepEqual(r, { revision: 4, result: undefined });
    assert.equal(d.kv.currentRevision(), 4);
    assert.equal(d.kv.compactRevision(), 3);
    assert.equal((await d.kv.put({ key: b('a'), value: b('x') })).revision, 5);
  });

  it('at or below the compaction revision is Compacted; above the current revision is FutureRevision', async () => {
    const d = buildDomain();
    for (let i = 0; i < 3; i++) await d.kv.put({ key: b('a'), value: b(String(i)) }); // 2..4
    await rejectsWith(d.kv.compact(5, false), FutureRevisionError);
    await d.kv.compact(3, false);
    await rejectsWith(d.kv.compact(3, false), CompactedError);
    await rejectsWith(d.kv.compact(2, false), CompactedError);
    assert.equal(d.kv.compactRevision(), 3);
    await d.kv.compact(4, false);
    assert.equal(d.kv.compactRevision(), 4);
  });

  it('an empty store can be compacted at its revision 1, once (etcd starts at compactMainRev -1)', async () => {
    const d = buildDomain();
    await d.kv.compact(1, true);
    assert.equal(d.kv.compactRevision(), 1);
    await rejectsWith(d.kv.compact(1, true), CompactedError);
  });

  it('reads below the compaction revision are Compacted; at it and above they work', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') }); // 2
    await d.kv.put({ key: b('b'), value: b('1') }); // 3
    await d.kv.deleteRange({ key: b('a') }); // 4
    await d.kv.put({ key: b('b'), value: b('2') }); // 5
    await d.kv.compact(4, true);
    throwsWith(() => d.kv.range({ key: b('a'), revision: 3 }), CompactedError);
    assert.deepEqual(views(d.kv.range({ key: b('a'), rangeEnd: FROM_KEY, revision: 4 }).result.kvs), [
      { key: 'b', value: '1', create: 3, mod: 3, version: 1, lease: 0n },
    ]);
    assert.deepEqual(keysOf(d.kv.range({ key: b('a'), rangeEnd: FROM_KEY }).result.kvs), ['b']);
    throwsWith(() => d.kv.range({ key: b('a'), revision: 6 }), FutureRevisionError);
  });

  it('compactions and writes in one batch see each other', async () => {
    const d = buildDomain();
    for (let i = 0; i < 3; i++) await d.kv.put({ key: b('a'), value: b(String(i)) }); // 2..4
    const [w, c3, c3again, c4, c5] = await Promise.allSettled([
      d.kv.put({ key: b('a'), value: b('x') }), // 5
      d.kv.compact(3, false),
      d.kv.compact(3, false),
      d.kv.compact(4, false),
      d.kv.compact(5, false), // 5 exists: written earlier in this batch
    ]);
    assert.equal(w.status === 'fulfilled' && w.value.revision, 5);
    assert.equal(c3.status === 'fulfilled' && c3.value.revision, 5);
    assert.ok(c3again.status === 'rejected' && c3again.reason instanceof CompactedError);
    assert.equal(c4.status === 'fulfilled' && c4.value.revision, 5);
    assert.equal(c5.status === 'fulfilled' && c5.value.revision, 5);
    assert.equal(d.batches.length, 4, 'one batch for all five requests');
    assert.equal(d.batches[3]!.compactRevision, 5);
    assert.equal(d.kv.compactRevision(), 5);
    assert.equal(d.kv.currentRevision(), 5);
    throwsWith(() => d.kv.range({ key: b('a'), revision: 4 }), CompactedError);
  });

  it('physical: resolves only after the purge finished; otherwise right after the compaction', async () => {
    const backend = new SlowPurgeBackend();
    const scheduler = new ManualScheduler();
    const d = buildDomain({ backend, scheduler });
    for (let i = 0; i < 5; i++) await d.kv.put({ key: b('a'), value: b(String(i)) }); // 2..6

    backend.remaining = 3;
    let done = false;
    const physical = d.kv.compact(4, true).then((r) => {
      done = true;
      return r;
    });
    for (let i = 0; i < 3; i++) {
      while (scheduler.pending === 0) await tick();
      assert.equal(done, false, `still purging after ${i} steps`);
      scheduler.release();
    }
    assert.deepEqual(await physical, { revision: 6, result: undefined });
    assert.equal(backend.remaining, 0);
    assert.equal(backend.historyRows(), 3, 'rows 4, 5 and 6 of a remain');

    backend.remaining = 2;
    const logical = await d.kv.compact(5, false);
    assert.deepEqual(logical, { revision: 6, result: undefined });
    assert.equal(backend.remaining, 1, 'the purge has started but not finished');
    assert.equal(d.kv.compactRevision(), 5);
    while (backend.remaining > 0 || scheduler.pending > 0) {
      scheduler.release();
      await tick();
    }
    assert.equal(backend.historyRows(), 2);
  });
});
