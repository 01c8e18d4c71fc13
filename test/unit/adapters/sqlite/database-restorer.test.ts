import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteDatabaseRestorer } from '../../../../src/adapters/sqlite/sqlite-database-restorer.js';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { MvccModel } from '../../../contract/mvcc-backend.contract.js';
import { b, s } from '../../../support/domain-fixtures.js';

/**
 * SqliteDatabaseRestorer replaces `<data-dir>/db/t4.sqlite` from a checkpoint's bytes: nothing
 * changes until commit, and a commit leaves no stale -wal/-shm/-journal to be replayed into the new file.
 */
describe('SqliteDatabaseRestorer', () => {
  const root = mkdtempSync(join(tmpdir(), 't4-db-restorer-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let dirs = 0;

  /** A data dir whose store holds `a` = `value`, and the bytes of a second store holding `a` = `other`. */
  function fixture(value: string): { dbPath: string; otherBytes: Buffer } {
    const dbDir = join(root, `d${++dirs}`, 'db');
    mkdirSync(dbDir, { recursive: true });
    const dbPath = join(dbDir, 't4.sqlite');
    const write = (path: string, v: string): void => {
      const backend = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
      backend.apply(new MvccModel().batch([[{ op: 'put', key: b('a'), value: b(v) }]]));
      backend.close();
    };
    write(dbPath, value);
    const otherPath = join(root, `other${dirs}.sqlite`);
    write(otherPath, 'other');
    return { dbPath, otherBytes: readFileSync(otherPath) };
  }

  function valueOf(dbPath: string): string | undefined {
    const backend = new SqliteMvccBackend({ path: dbPath, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    try {
      const kv = backend.get(b('a'));
      return kv === undefined ? undefined : s(kv.value);
    } finally {
      backend.close();
    }
  }

  it('abort leaves the old database untouched and removes the partial file', async () => {
    const { dbPath, otherBytes } = fixture('old');
    const before = readFileSync(dbPath);
    const restorer = new SqliteDatabaseRestorer(dbPath);
    const writer = await restorer.begin();
    await writer.write(otherBytes.subarray(0, 5000));
    await writer.abort();
    await writer.abort();
    assert.deepEqual(readFileSync(dbPath), before);
    assert.deepEqual(readdirSync(join(dbPath, '..')), ['t4.sqlite']);
    assert.equal(valueOf(dbPath), 'old');
    await assert.rejects(writer.write(otherBytes), /aborted/);
    // A new restore can start once the last one ended.
    await (await restorer.begin()).abort();
  });

  it('commit replaces the database and drops the stale -wal, -shm and -journal beside it', async () => {
    const { dbPath, otherBytes } = fixture('old');
    for (const suffix of ['-wal', '-shm', '-journal']) writeFileSync(dbPath + suffix, 'stale');
    const restorer = new SqliteDatabaseRestorer(dbPath);
    const writer = await restorer.begin();
    await assert.rejects(restorer.begin(), /already in progress/);
    for (let offset = 0; offset < otherBytes.length; offset += 4000) await writer.write(otherBytes.subarray(offset, offset + 4000));
    await writer.commit();
    assert.deepEqual(readdirSync(join(dbPath, '..')), ['t4.sqlite']);
    assert.deepEqual(readFileSync(dbPath), otherBytes);
    assert.equal(valueOf(dbPath), 'other');
  });

  it('refuses bytes that are not a SQLite database and keeps the old one', async () => {
    const { dbPath } = fixture('old');
    const restorer = new SqliteDatabaseRestorer(dbPath);
    const writer = await restorer.begin();
    await writer.write(new Uint8Array(8192).fill(7));
    await assert.rejects(writer.commit(), /not a SQLite database/);
    assert.deepEqual(readdirSync(join(dbPath, '..')), ['t4.sqlite']);
    assert.equal(valueOf(dbPath), 'old');
  });

  it('restores into a data dir without a db directory yet', async () => {
    const { otherBytes } = fixture('unused');
    const dbPath = join(root, 'empty-data-dir', 'db', 't4.sqlite');
    const restorer = new SqliteDatabaseRestorer(dbPath);
    assert.equal(restorer.exists(), false);
    const writer = await restorer.begin();
    await writer.write(otherBytes);
    await writer.commit();
    assert.equal(restorer.exists(), true);
    assert.equal(valueOf(dbPath), 'other');
  });

  it('remove deletes the database and its -wal/-shm', async () => {
    const { dbPath } = fixture('old');
    writeFileSync(`${dbPath}-wal`, 'stale');
    writeFileSync(`${dbPath}-shm`, 'stale');
    const restorer = new SqliteDatabaseRestorer(dbPath);
    assert.equal(restorer.exists(), true);
    await restorer.remove();
    await restorer.remove();
    assert.equal(restorer.exists(), false);
    assert.equal(existsSync(`${dbPath}-wal`), false);
    assert.deepEqual(readdirSync(join(dbPath, '..')), []);
  });
});
