// The embedded lease API over a real data dir (SQLite + WAL): grant, attach, keepalive,
// time-to-live, list, revoke, typed errors, and leases surviving close/open with their full TTL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LeaseExistsError, LeaseNotFoundError, LeaseTtlTooLargeError, open } from '../../../src/app/embedded.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('embedded lease API', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 't4-embedded-lease-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('grant, attach, keepAliveOnce, timeToLive, leases, revoke', async () => {
    const t4 = await open({ dataDir: fresh(), logLevel: 'silent' });
    try {
      const { id, ttlSeconds } = await t4.grant(60);
      assert.ok(id > 0n);
      assert.equal(ttlSeconds, 60);
      assert.equal((await t4.grant(1, { id: 7n })).ttlSeconds, 2);
      await assert.rejects(t4.grant(10, { id: 7n }), LeaseExistsError);
      await assert.rejects(t4.grant(9_000_000_001), LeaseTtlTooLargeError);
      await t4.put('svc/a', 'up', { lease: id });
      await t4.put('svc/b', 'up', { lease: id });
      assert.equal((await t4.get('svc/a'))?.lease, id);
      assert.deepEqual(await t4.keepAliveOnce(id), { ttlSeconds: 60 });
      assert.deepEqual(await t4.keepAliveOnce(12345n), { ttlSeconds: 0 });
      const ttl = await t4.timeToLive(id, { keys: true });
      assert.equal(ttl.grantedTtlSeconds, 60);
      assert.ok(ttl.ttlSeconds >= 58 && ttl.ttlSeconds <= 60);
      assert.deepEqual(ttl.keys.map(text), ['svc/a', 'svc/b']);
      assert.equal((await t4.timeToLive(12345n)).ttlSeconds, -1);
      assert.deepEqual((await t4.leases()).sort(), [7n, id].sort());
      const before = t4.revision();
      const { revision } = await t4.revoke(id);
      assert.equal(revision, before + 1, 'both keys deleted at one revision');
      assert.equal((await t4.list('svc/')).count, 0);
      await assert.rejects(t4.revoke(id), LeaseNotFoundError);
      await assert.rejects(t4.put('svc/c', 'x', { lease: id }), LeaseNotFoundError);
    } finally {
      await t4.close();
    }
  });

  it('leases and their keys survive close and open, with the full TTL back', async () => {
    const dataDir = fresh();
    const t4 = await open({ dataDir, logLevel: 'silent' });
    const { id } = await t4.grant(100);
    await t4.put('k', 'v', { lease: id });
    await t4.close();
    const again = await open({ dataDir, logLevel: 'silent' });
    try {
      assert.deepEqual(await again.leases(), [id]);
      const ttl = await again.timeToLive(id, { keys: true });
      assert.deepEqual([ttl.grantedTtlSeconds, ttl.keys.map(text)], [100, ['k']]);
      assert.ok(ttl.ttlSeconds >= 99);
    } finally {
      await again.close();
    }
  });
});
