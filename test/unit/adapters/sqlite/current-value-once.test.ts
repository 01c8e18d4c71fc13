import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import type { CommittedBatch } from '../../../../src/domain/mvcc/types.js';
import { MvccModel, applyWorkload, assertMatchesModel } from '../../../contract/mvcc-backend.contract.js';

/**
 * SQLite stores each current value once (in live_records); a key's history row gets its value when
 * a later change supersedes it. A batch decoded from a WAL (replay after a crash, a restore from
 * the object store) carries no previous versions, so the backend finds them itself.
 */
describe('SqliteMvccBackend current values stored once', () => {
  const dir = mkdtempSync(join(tmpdir(), 't4-current-once-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const source of ['the write pipeline (prev given)', 'a WAL replay (no prev)']) {
    it(`reads like the model at every revision, and watch replay agrees, with batches from ${source}`, () => {
      const path = join(dir, `${source.length}.sqlite`);
      const backend = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
      const reference = new SqliteMvccBackend({ path: ':memory:', synchronous: 'normal' });
      try {
        const stripPrev = source.includes('no prev');
        const applying = {
          apply(batch: CommittedBatch): void {
            reference.apply(batch);
            backend.apply(stripPrev ? { ...batch, changes: batch.changes.map((c) => ({ ...c, prev: undefined })) } : batch);
          },
        };
        const model = new MvccModel();
        applyWorkload(applying as unknown as SqliteMvccBackend, model, 7, 60);
        assertMatchesModel(backend, model);
        // Watch replay: every change with its previous version, as the pipeline gave them.
        const summarize = (b: SqliteMvccBackend) =>
          b.changesBetween(0, model.current, 0).map((c) => ({ kind: c.kind, main: c.main, key: [...c.kv.key], value: [...c.kv.value], prev: c.prev === undefined ? null : [c.prev.modRevision, [...c.prev.value]] }));
        assert.deepEqual(summarize(backend), summarize(reference));
        // Only current versions have no value in history; every superseded one has its value.
        const raw = new Database(path, { readonly: true });
        try {
          const nullRows = raw.prepare('SELECT COUNT(*) FROM history WHERE value IS NULL AND tombstone = 0').pluck().get() as number;
          const liveKeys = raw.prepare('SELECT COUNT(*) FROM live_records').pluck().get() as number;
          assert.equal(nullRows, liveKeys);
        } finally {
          raw.close();
        }
      } finally {
        backend.close();
        reference.close();
      }
    });
  }
});
