import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CompactedError, DuplicateKeyError, open, type T4 } from '../../../src/app/embedded.js';

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const enc = (s: string) => new TextEncoder().encode(s);

describe('embedded API', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 't4-embedded-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('puts, gets, lists, deletes with etcd revisions', async () => {
    const t4 = await open({ dataDir: fresh(), logLevel: 'silent' });
    try {
      assert.equal(t4.revision(), 1);
      const a = await t4.put('app/a', '1');
      assert.equal(a.revision, 2);
      await t4.put('app/b', '2');
      await t4.put('other', 'x');
      const kv = await t4.get('app/a');
      assert.equal(text(kv?.value), '1');
      assert.equal(kv?.createRevision, 2);
      assert.equal(kv?.version, 1);
      const listed = await t4.list('app/', { limit: 1 });
      assert.deepEqual(listed.kvs.map((k) => text(k.key)), ['app/a']);
      assert.equal(listed.more, true);
      assert.equal(listed.count, 2);
      assert.equal(listed.revision, 4);
      const del = await t4.delete('app/', { prefix: true, prevKv: true });
      assert.equal(del.deleted, 2);
      assert.equal(del.revision, 5);
      assert.deepEqual(del.prevKvs.map((k) => text(k.value)), ['1', '2']);
      assert.equal(await t4.get('app/a'), undefined);
      assert.equal(text((await t4.get('app/a', { revision: 4 }))?.value), '1');
    } finally {
      await t4.close();
    }
  });

  it('runs transactions and raises typed errors', async () => {
    const t4 = await open({ dataDir: fresh(), logLevel: 'silent' });
    try {
      const created = await t4.txn({
        compare: [{ key: enc('k'), target: 'mod', result: 'equal', operand: { case: 'modRevision', value: 0n } }],
        success: [{ kind: 'put', request: { key: enc('k'), value: enc('v1') } }],
        failure: [{ kind: 'range', request: { key: enc('k') } }],
      });
      assert.equal(created.succeeded, true);
      assert.equal(created.revision, 2);
      const again = await t4.txn({
        compare: [{ key: enc('k'), target: 'mod', result: 'equal', operand: { case: 'modRevision', value: 0n } }],
        success: [{ kind: 'put', request: { key: enc('k'), value: enc('v2') } }],
        failure: [{ kind: 'range', request: { key: enc('k') } }],
      });
      assert.equal(again.succeeded, false);
      assert.equal(again.revision, 2, 'a failed compare with a read-only branch takes no revision');
      const op = again.responses[0];
      assert.ok(op?.kind === 'range');
      assert.equal(text(op.result.kvs[0]?.value), 'v1');
      await assert.rejects(
        t4.txn({
          compare: [],
          success: [
            { kind: 'put', request: { key: enc('d'), value: enc('1') } },
            { kind: 'put', request: { key: enc('d'), value: enc('2') } },
          ],
          failure: [],
        }),
        DuplicateKeyError,
      );
      await t4.put('k', 'v3');
      await t4.compact(3, { physical: true });
      await assert.rejects(t4.get('k', { revision: 2 }), CompactedError);
    } finally {
      await t4.close();
    }
  });

  it('keeps data across close and reopen, and locks the data dir', async () => {
    const dir = fresh();
    const first: T4 = await open({ dataDir: dir, logLevel: 'silent' });
    await first.put('persist', 'yes');
    await assert.rejects(open({ dataDir: dir, logLevel: 'silent' }), /in use by another T4 process/);
    await first.close();
    const second = await open({ dataDir: dir, logLevel: 'silent' });
    try {
      assert.equal(text((await second.get('persist'))?.value), 'yes');
      assert.equal((await second.put('next', '1')).revision, 3);
    } finally {
      await second.close();
    }
  });
});
