import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { MvccModel } from '../../../contract/mvcc-backend.contract.js';
import { b } from '../../../support/domain-fixtures.js';

const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

/**
 * The writer keeps the current version of recently written keys in memory for `get` (every put
 * reads its key's current version). It must always agree with the database.
 */
describe('SqliteMvccBackend recently written keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 't4-recent-keys-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('get answers what the database holds: after puts, overwrites, deletes, and past the cache size', () => {
    const backend = new SqliteMvccBackend({ path: join(dir, 'a.sqlite'), synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    const model = new MvccModel();
    try {
      backend.apply(model.batch([[{ op: 'put', key: b('k'), value: b('1') }]]));
      assert.equal(text(backend.get(b('k'))?.value), '1');
      backend.apply(model.batch([[{ op: 'put', key: b('k'), value: b('2') }]]));
      const v2 = backend.get(b('k'));
      assert.equal(text(v2?.value), '2');
      assert.equal(v2?.version, 2);
      assert.equal(v2?.createRevision, 2);
      assert.equal(v2?.modRevision, 3);
      backend.apply(model.batch([[{ op: 'delete', key: b('k') }]]));
      assert.equal(backend.get(b('k')), undefined);
      // A key changed twice in one batch: the last change counts.
      backend.apply(model.batch([[{ op: 'put', key: b('twice'), value: b('a') }], [{ op: 'delete', key: b('twice') }]]));
      assert.equal(backend.get(b('twice')), undefined);
      // 25,000 keys: more than the cache holds; every one still reads back right, from memory or SQLite.
      for (let i = 0; i < 25; i++) {
        backend.apply(model.batch([Array.from({ length: 1000 }, (_, j) => ({ op: 'put' as const, key: b(`n/${i * 1000 + j}`), value: b(`v${i * 1000 + j}`) }))]));
      }
      for (const i of [0, 1, 9_999, 15_000, 24_999]) assert.equal(text(backend.get(b(`n/${i}`))?.value), `v${i}`);
    } finally {
      backend.close();
    }
  });

  it('keeps copies: a request buffer changed after its put does not change what get returns', () => {
    const backend = new SqliteMvccBackend({ path: join(dir, 'b.sqlite'), synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    const model = new MvccModel();
    try {
      const network = Buffer.from('kkvalue');
      const key = network.subarray(0, 2);
      const value = network.subarray(2);
      backend.apply(model.batch([[{ op: 'put', key, value }]]));
      network.fill(0x78);
      const kv = backend.get(b('kk'));
      assert.equal(text(kv?.key), 'kk');
      assert.equal(text(kv?.value), 'value');
    } finally {
      backend.close();
    }
  });
});
