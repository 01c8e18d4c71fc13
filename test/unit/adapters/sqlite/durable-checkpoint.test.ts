import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { MvccModel } from '../../../contract/mvcc-backend.contract.js';
import { b } from '../../../support/domain-fixtures.js';

/**
 * The WAL deletes a sealed segment once `durableCheckpoint()` reports its last revision. The
 * answer must cover every batch applied before the call: a checkpoint already in flight started
 * earlier and may miss the newest batches (for a compaction or a lease grant, which take no
 * revision, its revision would even look sufficient).
 */
describe('SqliteMvccBackend.durableCheckpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 't4-durable-checkpoint-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('covers batches applied while an earlier checkpoint was in flight', async () => {
    const backend = new SqliteMvccBackend({ path: join(dir, 'db.sqlite'), synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    try {
      const model = new MvccModel();
      backend.apply(model.batch([[{ op: 'put', key: b('a'), value: b('1') }]])); // 2
      const first = backend.durableCheckpoint();
      backend.apply(model.batch([[{ op: 'put', key: b('a'), value: b('2') }]])); // 3
      const second = backend.durableCheckpoint();
      assert.equal(await first, 2);
      assert.equal(await second, 3);
    } finally {
      backend.close();
    }
  });
});
