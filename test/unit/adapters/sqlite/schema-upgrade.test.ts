import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { decodeKeyValueRecord, unframeKeyValueRecord } from '../../../../src/domain/mvcc/key-value-record.js';
import { keyRange } from '../../../../src/domain/mvcc/key-range.js';
import type { KeyValue } from '../../../../src/domain/mvcc/types.js';
import type { Logger } from '../../../../src/ports/logger.js';
import { MvccModel } from '../../../contract/mvcc-backend.contract.js';
import { b } from '../../../support/domain-fixtures.js';

const plain = (kvs: readonly KeyValue[]): unknown[] => kvs.map((kv) => ({ ...kv, key: Buffer.from(kv.key).toString(), value: Buffer.from(kv.value).toString() }));

/**
 * Schema version 2 keeps each live key's current value as one record (live_records). A database
 * written by a version-1 T4 has no such table: the writer fills it from history on open, and
 * reads give what they gave before.
 */
describe('SqliteMvccBackend schema upgrade 1 -> 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 't4-schema-upgrade-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('fills live_records from history on open and serves the same ranges', () => {
    const path = join(dir, 'db.sqlite');
    const model = new MvccModel();
    let expected: unknown[];
    const backend = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    try {
      // 25,000 keys (more than one upgrade page), overwrites, deletes and a lease.
      for (let i = 0; i < 25; i++) {
        backend.apply(model.batch([Array.from({ length: 1000 }, (_, j) => ({ op: 'put' as const, key: b(`k/${String(i * 1000 + j).padStart(6, '0')}`), value: b(`v${i}.${j}`) }))]));
      }
      backend.apply(model.batch([[{ op: 'put', key: b('k/000001'), value: b('again') }], [{ op: 'delete', key: b('k/000002') }]]));
      expected = plain(backend.range(keyRange(b('k/'), b('k0')), backend.currentRevision(), 0));
      assert.equal(expected.length, 24_999);
    } finally {
      backend.close();
    }
    // Make it a version-1 database: every history row holds its value, no live_records, schema_version 1.
    const raw = new Database(path);
    const fill = raw.prepare('UPDATE history SET value = ? WHERE key = ? AND main = ?');
    raw.transaction(() => {
      for (const record of raw.prepare('SELECT record FROM live_records').pluck().all() as Buffer[]) {
        const kv = decodeKeyValueRecord(unframeKeyValueRecord(record));
        fill.run(kv.value, kv.key, kv.modRevision);
      }
    })();
    assert.equal((raw.prepare('SELECT COUNT(*) FROM history WHERE value IS NULL AND tombstone = 0').pluck().get() as number), 0);
    raw.exec("DROP TABLE live_records; UPDATE meta SET value = 1 WHERE name = 'schema_version'");
    raw.close();
    assert.throws(() => new SqliteMvccBackend({ path, synchronous: 'normal', readOnly: true }), /schema version 1 is not supported/);

    const messages: unknown[] = [];
    const logger = { info: (fields: unknown, msg: string) => messages.push([msg, fields]), child: () => logger } as unknown as Logger;
    const upgraded = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000, logger });
    try {
      assert.deepEqual(plain(upgraded.range(keyRange(b('k/'), b('k0')), upgraded.currentRevision(), 0)), expected);
      assert.equal(Buffer.from(upgraded.get(b('k/000001'))!.value).toString(), 'again');
      assert.equal(upgraded.get(b('k/000002')), undefined);
      assert.deepEqual(messages[messages.length - 1], ['schema upgrade progress', { keys: 24_999, of: 24_999 }]);
    } finally {
      upgraded.close();
    }
    const reader = new SqliteMvccBackend({ path, synchronous: 'normal', readOnly: true });
    try {
      assert.equal(reader.snapshot(() => reader.range(keyRange(b('k/'), b('k0')), reader.currentRevision(), 0)).length, 24_999);
    } finally {
      reader.close();
    }
  });
});
