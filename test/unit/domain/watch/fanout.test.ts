import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, tick } from '../../../support/domain-fixtures.js';
import { prefixEndOf, watchHarness, type StreamRecorder } from '../../../support/watch-harness.js';
import { validateWatchHistory } from '../../../support/watch-validators.js';

describe('watch fan-out', () => {
  it('1,000 watchers on one prefix all receive every event of a concurrent write burst, slow ones via catch-up', async () => {
    const h = watchHarness({ streamEventsQueuedMax: 64, catchUpPageChangesMax: 100 });
    const recorders: StreamRecorder[] = [];
    for (let s = 0; s < 100; s++) {
      const r = h.record(`stream ${s}`);
      for (let w = 0; w < 10; w++) r.create({ key: 'burst/', end: prefixEndOf('burst/'), prevKv: w % 2 === 0 });
      recorders.push(r);
    }
    const writes = Array.from({ length: 500 }, (_, i) => h.d.kv.put({ key: b(`burst/${i % 50}`), value: b(String(i)) }));
    // Every 10th stream reads slowly while the burst runs, so its watchers go unsynced.
    for (let round = 0; round < 5_000; round++) {
      recorders.forEach((r, i) => r.drain(i % 10 === 0 ? 1 : Infinity));
      await tick();
      if (round > 10 && h.hub.stats().unsynced === 0 && h.d.backend.currentRevision() === 501) break;
    }
    await Promise.all(writes);
    for (let round = 0; round < 1_000 && h.hub.stats().unsynced > 0; round++) {
      for (const r of recorders) r.drain();
      await tick();
    }
    for (const r of recorders) r.drain();
    const truth = h.truth();
    for (const r of recorders) {
      const perWatcher = new Map<bigint, number>();
      for (const o of r.outputs) if (o.kind === 'events') perWatcher.set(o.watchId, (perWatcher.get(o.watchId) ?? 0) + o.events.length);
      assert.equal(perWatcher.size, 10, r.name);
      for (const [id, n] of perWatcher) assert.equal(n, 500, `${r.name} watch ${id}`);
      validateWatchHistory(r.history(), truth);
    }
  });

  it('many watchers catching up on one prefix share each history read (one read per page, not one per watcher)', async () => {
    const h = watchHarness();
    for (let i = 0; i < 10; i++) await h.d.kv.put({ key: b(`shared/${i}`), value: b(String(i)) });
    let reads = 0;
    const changesBetween = h.d.backend.changesBetween.bind(h.d.backend);
    h.d.backend.changesBetween = (...args) => {
      reads++;
      return changesBetween(...args);
    };
    const recorders: StreamRecorder[] = [];
    for (let s = 0; s < 20; s++) {
      const r = h.record(`stream ${s}`);
      for (let w = 0; w < 10; w++) r.create({ key: 'shared/', end: prefixEndOf('shared/'), startRevision: 2 });
      recorders.push(r);
    }
    for (let round = 0; round < 100 && h.hub.stats().unsynced > 0; round++) await tick();
    assert.equal(h.hub.stats().unsynced, 0);
    assert.ok(reads <= 2, `${reads} history reads for 200 watchers`);
    for (const r of recorders) {
      r.drain();
      assert.equal(r.eventLines().length, 100, r.name);
      validateWatchHistory(r.history(), h.truth());
    }
  });
});
