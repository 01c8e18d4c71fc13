import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { MvccModel } from '../../../contract/mvcc-backend.contract.js';
import { b } from '../../../support/domain-fixtures.js';

/**
 * A burst of writes grows SQLite's -wal file; after a full checkpoint SQLite reuses it from the
 * start but keeps its size unless journal_size_limit says otherwise. Without the limit a node that
 * once loaded a million keys keeps hundreds of MiB of -wal file for good.
 */
describe('SqliteMvccBackend -wal file size', () => {
  const dir = mkdtempSync(join(tmpdir(), 't4-wal-file-size-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shrinks to walFileBytesKept on the first commit after a full checkpoint', async () => {
    const path = join(dir, 'db.sqlite');
    const kept = 256 * 1024;
    const backend = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000, walFileBytesKept: kept });
    try {
      const model = new MvccModel();
      const value = b('v'.repeat(1000));
      for (let i = 0; i < 40; i++) {
        backend.apply(model.batch([Array.from({ length: 100 }, (_, j) => ({ op: 'put' as const, key: b(`k/${i}/${j}`), value }))]));
      }
      const grown = statSync(`${path}-wal`).size;
      assert.ok(grown > 4 * kept, `the burst grew the -wal file (${grown} bytes)`);
      await backend.durableCheckpoint();
      backend.apply(model.batch([[{ op: 'put', key: b('after'), value: b('1') }]]));
      const after = statSync(`${path}-wal`).size;
      assert.ok(after <= kept, `the -wal file is ${after} bytes after the checkpoint, more than ${kept}`);
      assert.equal(backend.currentRevision(), 42);
    } finally {
      backend.close();
    }
  });
});
