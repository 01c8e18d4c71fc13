import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteDatabaseRestorer } from '../../../../src/adapters/sqlite/sqlite-database-restorer.js';
import { SqliteDatabaseSnapshots } from '../../../../src/adapters/sqlite/sqlite-database-snapshots.js';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { keyRange } from '../../../../src/domain/mvcc/key-range.js';
import type { Change, CommittedBatch, KeyValue, Revision } from '../../../../src/domain/mvcc/types.js';
import type { DatabaseSnapshot } from '../../../../src/ports/database-snapshots.js';
import { MvccModel } from '../../../contract/mvcc-backend.contract.js';
import { b, FROM_KEY } from '../../../support/domain-fixtures.js';

/**
 * SqliteDatabaseSnapshots copies the store with SQLite's online backup while batches keep being
 * applied; the copy must be one consistent revision, restorable into a fresh data dir, and
 * page-for-page identical to the previous copy wherever the store did not change (checkpoints
 * upload only the chunks that differ).
 */
describe('SqliteDatabaseSnapshots', () => {
  const root = mkdtempSync(join(tmpdir(), 't4-db-snapshots-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let dirs = 0;
  const freshDir = (): string => mkdtempSync(join(root, `d${++dirs}-`));

  const openBackend = (path: string, checkpointIntervalMs = 3_600_000): SqliteMvccBackend =>
    new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs });

  it('copies one consistent revision while writes, deletes and purges keep running', async () => {
    const dir = freshDir();
    // A short checkpoint interval: the worker thread's checkpoints run against the store during the copy too.
    const backend = openBackend(join(dir, 't4.sqlite'), 20);
    const model = new MvccModel();
    const random = xorshift(7);
    const value = (n: number): Uint8Array => b(`v${n}:`.padEnd(600, 'x'));
    try {
      for (let i = 0; i < 20; i++) {
        backend.apply(model.batch(Array.from({ length: 200 }, (_, j) => [{ op: 'put' as const, key: key(i * 200 + j), value: value(i) }])));
      }
      const snapshots = new SqliteDatabaseSnapshots(backend, join(dir, 'snapshots'), { pagesPerStep: 8 });
      const startRevision = backend.currentRevision();
      let stop = false;
      let batches = 0;
      const compactedAt = new Map<Revision, Revision>([[startRevision, model.compacted]]);
      const writer = (async () => {
        for (let n = 0; !stop; n++) {
          await new Promise((resolve) => setImmediate(resolve));
          const k = key(random() % 6000); // a third are new keys: the store grows during the copy
          const ops = model.latest(k) !== undefined && n % 5 === 0 ? [{ op: 'delete' as const, key: k }] : [{ op: 'put' as const, key: k, value: value(n) }];
          const compact = n % 50 === 49 ? model.current - 10 : undefined;
          backend.apply(model.batch([ops, [{ op: 'put', key: key(random() % 6000), value: value(n) }]], compact));
          if (compact !== undefined) while (!backend.purgeStep(100));
          compactedAt.set(model.current, model.compacted);
          batches++;
        }
      })();
      let progressCalls = 0;
      const snapshot = await snapshots.take((p) => {
        progressCalls++;
        assert.ok(p.copiedPages <= p.totalPages);
      });
      stop = true;
      await writer;
      try {
        assert.ok(progressCalls > 10, `the copy took ${progressCalls} steps`);
        assert.ok(batches > 10, `only ${batches} batches ran during the copy`);
        assert.ok(snapshot.revision > startRevision, 'writes during the copy reach it');
        assert.ok(snapshot.revision <= backend.currentRevision());
        assert.equal(snapshot.compactRevision, compactedAt.get(snapshot.revision));
        assert.ok(snapshot.compactRevision > 1, 'compactions ran during the copy');
        assert.equal(snapshot.sizeBytes % snapshot.pageBytes, 0);
        assert.ok(snapshot.longestPauseMs >= 0);

        const copyPath = join(dir, 'copy.sqlite');
        await writeFile(snapshot, copyPath);
        const raw = new Database(copyPath, { readonly: true });
        try {
          assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
          assert.equal(raw.pragma('journal_mode', { simple: true }), 'delete');
          const maxMain = (raw.prepare('SELECT MAX(main) AS m FROM history').get() as { m: number }).m;
          assert.equal(maxMain, snapshot.revision, 'the newest history row is the recorded revision');
        } finally {
          raw.close();
        }
        const copy = openBackend(copyPath);
        try {
          assert.equal(copy.currentRevision(), snapshot.revision);
          assert.equal(copy.compactRevision(), snapshot.compactRevision);
          assert.deepEqual(allKeys(copy, snapshot.revision).map(show), model.range(ALL, snapshot.revision, 0).map(show));
        } finally {
          copy.close();
        }
      } finally {
        await snapshot.release();
      }
    } finally {
      backend.close();
    }
  });

  it('round-trips through the restorer into a fresh data dir', async () => {
    const dir = freshDir();
    const backend = openBackend(join(dir, 't4.sqlite'));
    const model = new MvccModel();
    try {
      backend.apply(model.batch([[{ op: 'put', key: b('a'), value: b('1') }], [{ op: 'put', key: b('b'), value: b('2') }]]));
      backend.apply(model.batch([[{ op: 'delete', key: b('a') }], [{ op: 'put', key: b('c'), value: b('3') }]], 3));
      while (!backend.purgeStep(100));
      const snapshot = await new SqliteDatabaseSnapshots(backend, join(dir, 'snapshots')).take();
      try {
        assert.equal(snapshot.revision, 5);
        assert.equal(snapshot.compactRevision, 3);
        const target = join(freshDir(), 'db', 't4.sqlite');
        const restorer = new SqliteDatabaseRestorer(target);
        assert.equal(restorer.exists(), false);
        const writer = await restorer.begin();
        const chunkBytes = 3000; // not a multiple of the page size: the writer takes any slicing
        for (let offset = 0; offset < snapshot.sizeBytes; offset += chunkBytes) await writer.write(await snapshot.read(offset, chunkBytes));
        await writer.commit();
        assert.equal(restorer.exists(), true);

        const restored = openBackend(target);
        try {
          assert.equal(restored.currentRevision(), 5);
          assert.equal(restored.compactRevision(), 3);
          assert.deepEqual(allKeys(restored, 5).map(show), model.range(ALL, 5, 0).map(show));
          assert.deepEqual(allKeys(restored, 4).map(show), model.range(ALL, 4, 0).map(show));
          // The restored store takes the next batch where the original would.
          restored.apply(model.batch([[{ op: 'put', key: b('d'), value: b('4') }]]));
          assert.equal(restored.currentRevision(), 6);
        } finally {
          restored.close();
        }
      } finally {
        await snapshot.release();
      }
    } finally {
      backend.close();
    }
  });

  it('records the revisions of a store that was never written', async () => {
    const dir = freshDir();
    const backend = openBackend(join(dir, 't4.sqlite'));
    try {
      const snapshot = await new SqliteDatabaseSnapshots(backend, join(dir, 'snapshots')).take();
      assert.equal(snapshot.revision, 1);
      assert.equal(snapshot.compactRevision, -1);
      await snapshot.release();
    } finally {
      backend.close();
    }
  });

  it('reads short only at the end of the copy, and release deletes it', async () => {
    const dir = freshDir();
    const backend = openBackend(join(dir, 't4.sqlite'));
    const snapshotsDir = join(dir, 'snapshots');
    try {
      const snapshot = await new SqliteDatabaseSnapshots(backend, snapshotsDir).take();
      assert.equal(readdirSync(snapshotsDir).length, 1, 'one file, nothing beside it');
      const header = await snapshot.read(0, 16);
      assert.equal(Buffer.from(header).toString('latin1'), 'SQLite format 3\0');
      assert.equal((await snapshot.read(snapshot.sizeBytes - 10, 100)).length, 10);
      assert.equal((await snapshot.read(snapshot.sizeBytes, 100)).length, 0);
      await snapshot.release();
      await snapshot.release();
      assert.deepEqual(readdirSync(snapshotsDir), []);
      await assert.rejects(snapshot.read(0, 1), /released/);
    } finally {
      backend.close();
    }
  });

  it('rejects, and leaves no file, when the store closes during the copy', async () => {
    const dir = freshDir();
    const backend = openBackend(join(dir, 't4.sqlite'));
    const model = new MvccModel();
    backend.apply(model.batch(Array.from({ length: 500 }, (_, i) => [{ op: 'put' as const, key: key(i), value: new Uint8Array(1000) }])));
    const snapshotsDir = join(dir, 'snapshots');
    const snapshots = new SqliteDatabaseSnapshots(backend, snapshotsDir, { pagesPerStep: 4 });
    let steps = 0;
    await assert.rejects(
      snapshots.take(() => {
        if (++steps === 3) setImmediate(() => backend.close());
      }),
      /store was closed before its copy completed/,
    );
    assert.deepEqual(readdirSync(snapshotsDir), []);
    await assert.rejects(snapshots.take(), /closed store/);
    assert.deepEqual(readdirSync(snapshotsDir), []);
  });

  /**
   * The property checkpoints rely on: after one small put, two snapshots of a 64+ MiB store differ
   * in a handful of pages, so in few fixed-size chunks.
   */
  it('two snapshots around one put differ in few chunks', async (t) => {
    const dir = freshDir();
    const backend = openBackend(join(dir, 't4.sqlite'));
    try {
      const keys = 16 * 1024;
      const valueBytes = 4096;
      const random = xorshift(42);
      const order = Array.from({ length: keys }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = random() % (i + 1);
        [order[i], order[j]] = [order[j] as number, order[i] as number];
      }
      let revision: Revision = backend.currentRevision();
      const buildStart = performance.now();
      for (let start = 0; start < keys; start += 2048) {
        const changes: Change[] = order.slice(start, start + 2048).map((k, i) => put(key(k), randomBytes(random, valueBytes), revision + 1 + i, 1));
        backend.apply(batch(revision, changes));
        revision += changes.length;
      }
      const buildMs = performance.now() - buildStart;

      const snapshots = new SqliteDatabaseSnapshots(backend, join(dir, 'snapshots'));
      const takeStart = performance.now();
      const a = await snapshots.take();
      const takeMs = performance.now() - takeStart;
      backend.apply(batch(revision, [put(key(5000), b('small'), revision + 1, 2, 2 + order.indexOf(5000))]));
      const bSnap = await snapshots.take();
      try {
        assert.ok(a.sizeBytes >= 64 * 1024 * 1024, `store is ${a.sizeBytes} bytes`);
        assert.equal(bSnap.revision, a.revision + 1);
        t.diagnostic(`store ${mib(a.sizeBytes)} (pages of ${a.pageBytes} bytes), built in ${buildMs.toFixed(0)} ms`);
        t.diagnostic(`snapshot A took ${takeMs.toFixed(0)} ms, longest step ${a.longestPauseMs.toFixed(2)} ms; B longest step ${bSnap.longestPauseMs.toFixed(2)} ms`);

        const chunkSizes = [64 * 1024, 128 * 1024, 256 * 1024, 1024 * 1024];
        const hashesA = await chunkHashes(a, chunkSizes);
        const hashesB = await chunkHashes(bSnap, chunkSizes);
        for (const [c, size] of chunkSizes.entries()) {
          const ha = hashesA[c] as string[];
          const hb = hashesB[c] as string[];
          let differing = 0;
          for (let i = 0; i < Math.max(ha.length, hb.length); i++) if (ha[i] !== hb[i]) differing++;
          const differingBytes = Math.min(differing * size, bSnap.sizeBytes);
          const share = differingBytes / bSnap.sizeBytes;
          t.diagnostic(
            `chunks of ${size / 1024} KiB: ${differing} of ${hb.length} differ, ${mib(differingBytes)} of ${mib(bSnap.sizeBytes)} (${(share * 100).toFixed(2)}%)`,
          );
          if (size === 256 * 1024) assert.ok(share <= 0.05, `${(share * 100).toFixed(2)}% of bytes differ at 256 KiB chunks`);
        }
      } finally {
        await a.release();
        await bSnap.release();
      }
    } finally {
      backend.close();
    }
  });
});

const ALL = keyRange(b(''), FROM_KEY);

function key(n: number): Uint8Array {
  return b(`key-${String(n).padStart(6, '0')}`);
}

function allKeys(backend: SqliteMvccBackend, revision: Revision): KeyValue[] {
  return backend.range(ALL, revision, 0);
}

function show(kv: KeyValue): string {
  return `${Buffer.from(kv.key).toString()}@${kv.createRevision}/${kv.modRevision}/v${kv.version}/l${kv.lease}=${Buffer.from(kv.value).toString('hex')}`;
}

function put(k: Uint8Array, value: Uint8Array, main: Revision, version: number, createRevision = main): Change {
  return { kind: 'put', main, sub: 0, prev: undefined, kv: { key: k, value, lease: 0n, modRevision: main, createRevision, version } };
}

function batch(fromRevision: Revision, changes: Change[]): CommittedBatch {
  const last = changes[changes.length - 1];
  return { fromRevision, toRevision: last === undefined ? fromRevision : last.main, changes, compactRevision: undefined };
}

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  for (let i = 0; i < words.length; i++) words[i] = random();
  return new Uint8Array(words.buffer, 0, length);
}

async function writeFile(snapshot: DatabaseSnapshot, path: string): Promise<void> {
  const restorer = new SqliteDatabaseRestorer(path);
  const writer = await restorer.begin();
  for (let offset = 0; offset < snapshot.sizeBytes; offset += 1024 * 1024) await writer.write(await snapshot.read(offset, 1024 * 1024));
  await writer.commit();
}

/** SHA-256 of each fixed-size chunk, per chunk size (every size divides the 1 MiB reads). */
async function chunkHashes(snapshot: DatabaseSnapshot, sizes: readonly number[]): Promise<string[][]> {
  const out = sizes.map((): string[] => []);
  const readBytes = 1024 * 1024;
  for (let offset = 0; offset < snapshot.sizeBytes; offset += readBytes) {
    const bytes = await snapshot.read(offset, readBytes);
    for (const [c, size] of sizes.entries()) {
      for (let i = 0; i < bytes.length; i += size) out[c]?.push(createHash('sha256').update(bytes.subarray(i, i + size)).digest('hex'));
    }
  }
  return out;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}
