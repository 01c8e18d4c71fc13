import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, tick } from '../../../support/domain-fixtures.js';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { prefixEndOf, watchHarness, type WatchHarness } from '../../../support/watch-harness.js';
import { validateWatchHistory } from '../../../support/watch-validators.js';
import { CANCEL_REASONS } from '../../../../src/domain/watch/types.js';
import type { WatchOutput } from '../../../../src/domain/watch/types.js';

const put = (h: WatchHarness, key: string, value = 'v') => h.d.kv.put({ key: b(key), value: b(value) });
const del = (h: WatchHarness, key: string, end?: string) => h.d.kv.deleteRange({ key: b(key), ...(end !== undefined ? { rangeEnd: b(end) } : {}) });
const kinds = (outs: WatchOutput[]) => outs.map((o) => (o.kind === 'events' ? `events@${o.revision}:${o.events.length}` : `${o.kind}@${o.kind === 'compacted' ? o.compactRevision : o.revision}`));

/** Lets the catch-up loop run its pages (it yields to the event loop between them). */
async function settle(h: WatchHarness): Promise<void> {
  for (let i = 0; i < 20; i++) await tick();
  void h;
}

describe('WatchHub: the protocol', () => {
  it('answers each create with a created response, ids from 0, client ids honoured, duplicates refused as etcd', () => {
    const h = watchHarness();
    const r = h.record();
    assert.equal(r.create({ key: 'a' }), 0n);
    assert.equal(r.create({ key: 'a', watchId: 7n }), 7n);
    assert.equal(r.create({ key: 'b' }), 1n);
    assert.equal(r.create({ key: 'c', watchId: 7n }), -1n);
    const outs = r.drain();
    assert.deepEqual(kinds(outs), ['created@1', 'created@1', 'created@1', 'refused@1']);
    assert.deepEqual(outs[3], { kind: 'refused', revision: 1, reason: CANCEL_REASONS.duplicateId });
  });

  it('skips ids in use when assigning (etcd watchStream.Watch)', () => {
    const h = watchHarness();
    const r = h.record();
    r.create({ key: 'a', watchId: 1n });
    assert.equal(r.create({ key: 'a' }), 0n);
    assert.equal(r.create({ key: 'a' }), 2n);
  });

  it('refuses an empty range and a negative start revision with etcd reasons', () => {
    const h = watchHarness();
    const r = h.record();
    r.create({ key: 'b', end: 'a' });
    r.create({ key: 'a', startRevision: -1 });
    const outs = r.drain();
    assert.deepEqual(
      outs.map((o) => (o.kind === 'refused' ? o.reason : o.kind)),
      [CANCEL_REASONS.emptyRange, CANCEL_REASONS.compacted],
    );
  });

  it('delivers key, prefix, range and from-key watches, one response per revision, with filters and prev_kv', async () => {
    const h = watchHarness();
    const r = h.record();
    r.create({ key: 'k1' });
    r.create({ key: 'k', end: prefixEndOf('k'), prevKv: true });
    r.create({ key: 'k2', end: 'k4', noDelete: true });
    r.create({ key: 'k3', end: '\0', noPut: true });
    await put(h, 'k1', 'a');
    await put(h, 'k2', 'b');
    await put(h, 'k1', 'c');
    await del(h, 'k1', 'k9');
    await put(h, 'z', 'z');
    r.drain();
    validateWatchHistory(r.history(), h.truth());
    const byWatch = (id: bigint) => r.outputs.filter((o) => o.kind === 'events' && o.watchId === id).map((o) => (o.kind === 'events' ? o.events.map((e) => `${e.kind} ${new TextDecoder().decode(e.kv.key)}@${e.kv.modRevision}${e.prevKv ? ` prev@${e.prevKv.modRevision}` : ''}`).join(',') : ''));
    assert.deepEqual(byWatch(0n), ['put k1@2', 'put k1@4', 'delete k1@5']);
    assert.deepEqual(byWatch(1n), ['put k1@2', 'put k2@3', 'put k1@4 prev@2', 'delete k1@5 prev@4,delete k2@5 prev@3']);
    assert.deepEqual(byWatch(2n), ['put k2@3']);
    assert.deepEqual(byWatch(3n), []);
    const del5 = r.outputs.find((o) => o.kind === 'events' && o.watchId === 0n && o.revision === 5);
    assert.ok(del5 && del5.kind === 'events');
    assert.deepEqual({ ...del5.events[0]?.kv, key: undefined }, { key: undefined, value: new Uint8Array(), createRevision: 0, modRevision: 5, version: 0, lease: 0n });
  });

  it('replays history inclusively from start_revision, then continues live', async () => {
    const h = watchHarness();
    for (let i = 0; i < 5; i++) await put(h, `k${i}`);
    const r = h.record();
    r.create({ key: 'k', end: prefixEndOf('k'), startRevision: 3 });
    await settle(h);
    await put(h, 'k9');
    r.drain();
    assert.deepEqual(r.eventLines(), ['PUT k1@3', 'PUT k2@4', 'PUT k3@5', 'PUT k4@6', 'PUT k9@7']);
    assert.deepEqual(kinds(r.outputs), ['created@6', 'events@6:4', 'events@7:1']);
    validateWatchHistory(r.history(), h.truth());
  });

  it('a future start revision waits for it', async () => {
    const h = watchHarness();
    const r = h.record();
    r.create({ key: 'k', end: prefixEndOf('k'), startRevision: 4 });
    await put(h, 'k1');
    await put(h, 'k2');
    await put(h, 'k3');
    r.drain();
    assert.deepEqual(r.eventLines(), ['PUT k3@4']);
  });

  it('allows a start at the compaction revision; below it: created, then canceled with compact_revision and header 0', async () => {
    const h = watchHarness();
    for (let i = 0; i < 5; i++) await put(h, 'k', String(i));
    await h.d.kv.compact(4, false);
    const r = h.record();
    r.create({ key: 'k', startRevision: 4 });
    r.create({ key: 'k', startRevision: 3 });
    await settle(h);
    r.drain();
    assert.deepEqual(kinds(r.outputs), ['created@6', 'created@6', 'compacted@4', 'events@6:3']);
    assert.deepEqual(r.eventLines(), ['PUT k@4', 'PUT k@5', 'PUT k@6']);
    validateWatchHistory(r.history(), h.truth());
  });

  it('keeps a compaction-cancelled id registered until the client cancels it, as etcd (duplicate refused, cancel answered)', async () => {
    const h = watchHarness();
    for (let i = 0; i < 5; i++) await put(h, 'k', String(i));
    await h.d.kv.compact(4, false);
    const r = h.record();
    assert.equal(r.create({ key: 'k', startRevision: 2, watchId: 3n }), 3n);
    await settle(h);
    assert.equal(r.create({ key: 'k', watchId: 3n }), -1n);
    r.stream.cancel(3n);
    r.stream.cancel(99n);
    assert.equal(r.create({ key: 'k', watchId: 3n }), 3n);
    r.drain();
    assert.deepEqual(kinds(r.outputs), ['created@6', 'compacted@4', 'refused@6', 'canceled@6', 'created@6']);
    const canceled = r.outputs[3];
    assert.ok(canceled?.kind === 'canceled' && canceled.watchId === 3n);
  });

  it('a deletion at exactly the compaction revision is replayed to a watch from it (etcd-io/etcd#18274), in memory and on SQLite', async () => {
    for (const backend of [undefined, new SqliteMvccBackend({ path: ':memory:', synchronous: 'normal' })]) {
      const h = watchHarness({}, backend === undefined ? {} : { backend });
      await put(h, 'k', '1');
      await del(h, 'k');
      await put(h, 'k', '3');
      await h.d.kv.compact(3, true);
      const r = h.record();
      r.create({ key: 'k', startRevision: 3 });
      await settle(h);
      r.drain();
      assert.deepEqual(r.eventLines(), ['DELETE k@3', 'PUT k@4']);
      // A later compaction removes that tombstone; reads and watches from there are unaffected.
      await put(h, 'j', '5');
      await h.d.kv.compact(5, true);
      const r2 = h.record();
      r2.create({ key: '\0', end: '\0', startRevision: 5 });
      await settle(h);
      r2.drain();
      assert.deepEqual(r2.eventLines(), ['PUT j@5']);
      assert.equal(h.d.kv.range({ key: b('k') }).result.kvs.length, 1);
      backend?.close();
    }
  });

  it('cancel answers with a canceled response and stops events; cancelling an unknown id sends nothing', async () => {
    const h = watchHarness();
    const r = h.record();
    r.create({ key: 'a' });
    r.stream.cancel(0n);
    r.stream.cancel(42n);
    await put(h, 'a');
    r.drain();
    assert.deepEqual(kinds(r.outputs), ['created@1', 'canceled@1']);
    assert.deepEqual(h.hub.stats(), { streams: 1, synced: 0, unsynced: 0 });
  });

  it('closing a stream removes its watchers', () => {
    const h = watchHarness();
    const r = h.record();
    r.create({ key: 'a' });
    r.create({ key: 'a', startRevision: 1 });
    r.stream.close();
    assert.deepEqual(h.hub.stats(), { streams: 0, synced: 0, unsynced: 0 });
  });
});

describe('WatchHub: slow consumers', () => {
  it('a full outbox makes the watcher unsynced; draining catches it up from history with no gap or duplicate', async () => {
    const h = watchHarness({ streamEventsQueuedMax: 3, catchUpPageChangesMax: 4 });
    const slow = h.record('slow');
    const fast = h.record('fast');
    slow.create({ key: 'k', end: prefixEndOf('k'), prevKv: true });
    fast.create({ key: 'k', end: prefixEndOf('k') });
    for (let i = 0; i < 20; i++) {
      await put(h, `k${i % 3}`, String(i));
      fast.drain();
    }
    assert.equal(h.hub.stats().unsynced, 1);
    for (let i = 0; i < 30 && h.hub.stats().unsynced > 0; i++) {
      slow.drain(2);
      await settle(h);
    }
    slow.drain();
    assert.equal(h.hub.stats().unsynced, 0);
    assert.equal(slow.eventLines().length, 20);
    assert.deepEqual(slow.eventLines(), fast.eventLines());
    validateWatchHistory(slow.history(), h.truth());
    validateWatchHistory(fast.history(), h.truth());
  });

  it('never blocks writers: 1,000 writes with a stalled watcher complete', async () => {
    const h = watchHarness({ streamEventsQueuedMax: 10 });
    const r = h.record();
    r.create({ key: 'k', end: prefixEndOf('k') });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => put(h, `k${i}`)));
    assert.equal(h.d.backend.currentRevision(), 1001);
    assert.equal(h.hub.stats().unsynced, 1);
  });

  it('an unsynced watcher whose history was compacted is cancelled with compact_revision', async () => {
    const h = watchHarness({ streamEventsQueuedMax: 2 });
    const r = h.record();
    r.create({ key: 'k', end: prefixEndOf('k') });
    for (let i = 0; i < 10; i++) await put(h, `k${i}`);
    await h.d.kv.compact(8, false);
    r.drain();
    await settle(h);
    r.drain();
    const last = r.outputs[r.outputs.length - 1];
    assert.deepEqual(last, { kind: 'compacted', watchId: 0n, compactRevision: 8 });
    validateWatchHistory(r.history(), h.truth());
  });

  it('many unsynced watchers on one prefix share one history read per page', async () => {
    const h = watchHarness({ catchUpPageChangesMax: 10 });
    for (let i = 0; i < 50; i++) await put(h, `k${i}`);
    let reads = 0;
    const original = h.d.backend.changesBetween.bind(h.d.backend);
    h.d.backend.changesBetween = (a, t, l) => {
      reads++;
      return original(a, t, l);
    };
    const recorders = Array.from({ length: 20 }, () => h.record());
    for (const r of recorders) r.create({ key: 'k', end: prefixEndOf('k'), startRevision: 2 });
    await settle(h);
    assert.equal(h.hub.stats().unsynced, 0);
    assert.ok(reads <= 6, `expected about 5 page reads, got ${reads}`);
    for (const r of recorders) {
      r.drain();
      assert.equal(r.eventLines().length, 50);
      validateWatchHistory(r.history(), h.truth());
    }
  });

  it('never splits a revision across history pages, even one larger than a page', async () => {
    const h = watchHarness({ catchUpPageChangesMax: 3 });
    await put(h, 'k0');
    await h.d.kv.txn({ compare: [], success: ['a', 'b', 'c', 'd', 'e'].map((k) => ({ kind: 'put' as const, request: { key: b(`k${k}`), value: b('x') } })), failure: [] });
    await put(h, 'k1');
    const r = h.record();
    r.create({ key: 'k', end: prefixEndOf('k'), startRevision: 2 });
    await settle(h);
    r.drain();
    validateWatchHistory(r.history(), h.truth());
    assert.equal(r.eventLines().length, 7);
  });
});

describe('WatchHub: progress', () => {
  it('RequestProgress is answered with watch id -1 and the current revision when all watchers are synced', async () => {
    const h = watchHarness();
    const r = h.record();
    r.create({ key: 'a' });
    await put(h, 'b');
    r.stream.requestProgress();
    r.drain();
    assert.deepEqual(r.outputs[r.outputs.length - 1], { kind: 'progress', watchId: -1n, revision: 2 });
  });

  it('RequestProgress waits while a watcher catches up, then follows all its events', async () => {
    const h = watchHarness({ catchUpPageChangesMax: 2 });
    for (let i = 0; i < 6; i++) await put(h, `k${i}`);
    const r = h.record();
    r.create({ key: 'k', end: prefixEndOf('k'), startRevision: 2 });
    r.stream.requestProgress();
    assert.deepEqual(kinds(r.drain()), ['created@7']);
    await settle(h);
    r.drain();
    assert.deepEqual(r.outputs[r.outputs.length - 1], { kind: 'progress', watchId: -1n, revision: 7 });
    validateWatchHistory(r.history(), h.truth());
  });

  it('periodic progress goes to progress_notify watchers with no events since the last tick (virtual clock)', async () => {
    const h = watchHarness({ progressNotifyIntervalMs: 1_000 });
    const r = h.record();
    r.create({ key: 'a', progressNotify: true });
    r.create({ key: 'b' });
    h.clock.advance(999);
    assert.deepEqual(kinds(r.drain()), ['created@1', 'created@1']);
    h.clock.advance(1);
    assert.deepEqual(r.drain(), [{ kind: 'progress', watchId: 0n, revision: 1 }]);
    await put(h, 'a');
    h.clock.advance(1_000);
    assert.deepEqual(kinds(r.drain()), ['events@2:1']);
    h.clock.advance(1_000);
    assert.deepEqual(r.drain(), [{ kind: 'progress', watchId: 0n, revision: 2 }]);
    r.stream.close();
    assert.equal(h.clock.pendingTimers(), 0);
  });

  it('no periodic progress for a watcher still catching up', () => {
    const h = watchHarness({ progressNotifyIntervalMs: 1_000 });
    const r = h.record();
    return (async () => {
      await put(h, 'a');
      r.create({ key: 'a', startRevision: 2, progressNotify: true });
      h.clock.advance(1_000);
      assert.deepEqual(kinds(r.drain()), ['created@2']);
      await settle(h);
      h.clock.advance(1_000);
      assert.deepEqual(kinds(r.drain()), ['events@2:1']);
      h.clock.advance(1_000);
      assert.deepEqual(kinds(r.drain()), ['progress@2']);
    })();
  });

  it('header revisions never decrease on a stream', async () => {
    const h = watchHarness({ catchUpPageChangesMax: 2 });
    for (let i = 0; i < 6; i++) await put(h, `k${i}`);
    const r = h.record();
    r.create({ key: 'z' });
    r.create({ key: 'k', end: prefixEndOf('k'), startRevision: 2 });
    await settle(h);
    r.drain();
    const revisions = r.outputs.map((o) => (o.kind === 'compacted' ? 0 : o.revision));
    assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y));
    validateWatchHistory(r.history(), h.truth());
  });
});
