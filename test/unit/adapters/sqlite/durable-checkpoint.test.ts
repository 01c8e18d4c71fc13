import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { SqliteCheckpointer } from '../../../../src/adapters/sqlite/sqlite-checkpointer.js';
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

  it('close returns with no connection of the store left open: the last one closes and removes the -wal file', async () => {
    const path = join(dir, 'closed.sqlite');
    const backend = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    const model = new MvccModel();
    backend.apply(model.batch([[{ op: 'put', key: b('a'), value: b('1') }]]));
    // The checkpoint thread opens its own connection at the first checkpoint.
    assert.equal(await backend.durableCheckpoint(), 2);
    backend.apply(model.batch([[{ op: 'put', key: b('a'), value: b('2') }]]));
    assert.ok(existsSync(`${path}-wal`));
    backend.close();
    // Had the thread's connection outlived close(), ours would not have been the last one and the
    // -wal would stay; a restore replacing the file would then share it with that connection.
    assert.equal(existsSync(`${path}-wal`), false);
    const reopened = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    try {
      assert.equal(reopened.currentRevision(), 3);
      assert.equal(await reopened.durableCheckpoint(), 3);
    } finally {
      reopened.close();
    }
  });

  it('close of a store that never checkpointed does not wait for the thread', () => {
    const path = join(dir, 'never.sqlite');
    const backend = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    backend.close();
    assert.equal(existsSync(`${path}-wal`), false);
  });

  it('the checkpoint thread opens nothing before the first checkpoint, so a store closed at once leaves the path alone', async () => {
    const path = join(dir, 'late.sqlite');
    const checkpointer = new SqliteCheckpointer(path);
    // A thread opening its connection at start-up would create the file (or, on a path a restore
    // has just replaced, share its -wal with the new store).
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(existsSync(path), false);
    checkpointer.close();
    await assert.rejects(checkpointer.checkpoint('PASSIVE'), /checkpointer is closed/);
    assert.equal(existsSync(path), false);
  });

  it('a checkpoint on a missing file fails with a message naming SQLite\'s error', async () => {
    const checkpointer = new SqliteCheckpointer(join(dir, 'missing.sqlite'));
    try {
      await assert.rejects(checkpointer.checkpoint('PASSIVE'), /SQLite checkpoint failed: .*unable to open database file \(SQLITE_CANTOPEN\)/);
    } finally {
      checkpointer.close();
    }
  });
});
