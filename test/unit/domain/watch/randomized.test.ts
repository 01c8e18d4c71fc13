// Randomized, seeded: concurrent writers, watchers that start (also from old revisions), stall,
// resume and cancel, progress requests and ticks on a virtual clock, and compactions; every
// stream's history is then checked with the watch validators. A failure names its seed; rerun one
// with T4_WATCH_SEED=<seed> (and T4_WATCH_SEEDS=<n> for more seeds).
import { describe, it } from 'node:test';
import { b, tick } from '../../../support/domain-fixtures.js';
import { SeededRandom } from '../../../support/seeded-random.js';
import { prefixEndOf, watchHarness, type CreateInit, type StreamRecorder, type WatchHarness } from '../../../support/watch-harness.js';
import { validateWatchHistory } from '../../../support/watch-validators.js';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'ka', 'kb', 'x', 'y'];
const RANGES: Omit<CreateInit, 'startRevision'>[] = [
  { key: 'k1' },
  { key: 'k', end: prefixEndOf('k') },
  { key: 'k2', end: 'k5' },
  { key: 'k4', end: '\0' },
  { key: '\0', end: '\0' },
  { key: 'x' },
];

type Speed = 'fast' | 'slow' | 'stalled';

interface Client {
  readonly rec: StreamRecorder;
  speed: Speed;
  ids: bigint[];
}

async function runSeed(seed: number): Promise<void> {
  const rnd = new SeededRandom(seed);
  const h: WatchHarness = watchHarness({
    streamEventsQueuedMax: 1 + rnd.int(12),
    catchUpPageChangesMax: 1 + rnd.int(8),
    progressNotifyIntervalMs: 500,
  });
  const clients: Client[] = [];
  const writes: Promise<unknown>[] = [];
  const write = (): void => {
    const r = rnd.next();
    const key = b(rnd.pick(KEYS));
    if (r < 0.6) writes.push(h.d.kv.put({ key, value: b(`v${rnd.int(1000)}`) }));
    else if (r < 0.75) writes.push(h.d.kv.deleteRange({ key }));
    else if (r < 0.85) writes.push(h.d.kv.deleteRange({ key: b('k2'), rangeEnd: b('k4') }));
    else {
      const keys = [...new Set([rnd.pick(KEYS), rnd.pick(KEYS), rnd.pick(KEYS)])];
      writes.push(h.d.kv.txn({ compare: [], success: keys.map((k) => ({ kind: 'put' as const, request: { key: b(k), value: b(`t${rnd.int(1000)}`) } })), failure: [] }));
    }
  };
  const createOn = (c: Client): void => {
    const current = h.d.backend.currentRevision();
    const compacted = Math.max(1, h.d.backend.compactRevision());
    const r = rnd.next();
    // Mostly from now or from a retained revision; sometimes below compaction or in the future.
    const startRevision = r < 0.4 ? 0 : r < 0.8 ? compacted + rnd.int(current - compacted + 1) : r < 0.9 ? rnd.int(current + 1) : current + 1 + rnd.int(3);
    const id = c.rec.create({ ...rnd.pick(RANGES), startRevision, prevKv: rnd.next() < 0.5, noPut: rnd.next() < 0.1, noDelete: rnd.next() < 0.1, progressNotify: rnd.next() < 0.3 });
    if (id >= 0n) c.ids.push(id);
  };

  const steps = 150 + rnd.int(150);
  for (let step = 0; step < steps; step++) {
    const r = rnd.next();
    if (r < 0.45) {
      for (let i = rnd.int(4); i >= 0; i--) write();
    } else if (r < 0.55) {
      if (clients.length < 6) clients.push({ rec: h.record(`seed ${seed} stream ${clients.length}`), speed: rnd.pick(['fast', 'slow', 'stalled'] as const), ids: [] });
      createOn(rnd.pick(clients));
    } else if (r < 0.6 && clients.length > 0) {
      const c = rnd.pick(clients);
      const id = c.ids.splice(rnd.int(c.ids.length), 1)[0];
      if (id !== undefined) c.rec.stream.cancel(id);
    } else if (r < 0.65 && clients.length > 0) {
      rnd.pick(clients).rec.stream.requestProgress();
    } else if (r < 0.7 && clients.length > 0) {
      const c = rnd.pick(clients);
      c.speed = rnd.pick(['fast', 'slow', 'stalled'] as const);
    } else if (r < 0.73) {
      const current = h.d.backend.currentRevision();
      const from = Math.max(1, h.d.backend.compactRevision());
      // Compactions may race each other (a lower one then fails with Compacted): that is fine here.
      if (current > from) writes.push(h.d.kv.compact(from + rnd.int(current - from), false).catch(() => undefined));
    } else if (r < 0.8) {
      h.clock.advance(rnd.int(700));
    } else {
      await tick();
    }
    for (const c of clients) {
      if (c.speed === 'fast') c.rec.drain();
      else if (c.speed === 'slow') c.rec.drain(1 + rnd.int(2));
    }
    if (rnd.next() < 0.2) await Promise.all(writes.splice(0));
  }
  await Promise.allSettled(writes.splice(0));

  // Quiesce: every consumer reads until nothing is behind, then asks for a final bookmark.
  for (let round = 0; round < 500; round++) {
    for (const c of clients) c.rec.drain();
    await tick();
    if (h.hub.stats().unsynced === 0) break;
  }
  for (const c of clients) {
    c.rec.stream.requestProgress();
    c.rec.drain();
  }
  const truth = h.truth();
  for (const c of clients) {
    try {
      validateWatchHistory(c.rec.history(), truth, { compactRevision: h.d.backend.compactRevision() });
    } catch (error) {
      throw new Error(`seed ${seed}: ${(error as Error).message}`);
    }
  }
  if (h.hub.stats().unsynced !== 0) throw new Error(`seed ${seed}: watchers still unsynced after quiescing`);
}

describe('watch: randomized histories on the virtual clock', () => {
  const one = process.env['T4_WATCH_SEED'];
  const seeds = one !== undefined ? [Number(one)] : Array.from({ length: Number(process.env['T4_WATCH_SEEDS'] ?? 25) }, (_, i) => 1000 + i * 7919);
  for (const seed of seeds) {
    it(`seed ${seed}`, async () => {
      await runSeed(seed);
    });
  }
});
