import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpiryQueue } from '../../../../src/domain/lease/expiry-queue.js';
import { LeaseTable } from '../../../../src/domain/lease/lease-table.js';
import { SeededRandom } from '../../../support/seeded-random.js';

describe('LeaseTable', () => {
  it('follows the worked example: renew moves the expiry, expired reports once', () => {
    const t = new LeaseTable();
    t.grant(7n, 10, 0);
    assert.equal(t.remainingMs(7n, 0), 10_000);
    assert.equal(t.renew(7n, 4_000), 10);
    assert.deepEqual(t.expired(13_999), []);
    assert.deepEqual(t.expired(14_000), [7n]);
    assert.deepEqual(t.expired(15_000), [], 'reported once per expiry');
    assert.ok(t.has(7n), 'expired is not revoked: the revoke is a write');
    assert.equal(t.nextCheckMs(), undefined);
  });

  it('a renewal leaves no stale report behind', () => {
    const t = new LeaseTable();
    t.grant(1n, 2, 0);
    for (let now = 1_000; now <= 10_000; now += 1_000) {
      t.renew(1n, now);
      assert.deepEqual(t.expired(now), []);
    }
    assert.equal(t.nextCheckMs(), 12_000);
    assert.deepEqual(t.expired(12_000), [1n]);
  });

  it('retryAt reports an expired lease again; a revoked one never', () => {
    const t = new LeaseTable();
    t.grant(1n, 2, 0);
    t.grant(2n, 2, 0);
    assert.deepEqual(t.expired(2_000), [1n, 2n]);
    t.retryAt(1n, 5_000);
    t.retryAt(2n, 5_000);
    t.revoke(2n);
    assert.equal(t.nextCheckMs(), 5_000);
    assert.deepEqual(t.expired(5_000), [1n]);
    t.retryAt(3n, 6_000); // unknown: nothing
    assert.equal(t.nextCheckMs(), undefined);
  });

  it('unknown leases: renew and remaining are undefined', () => {
    const t = new LeaseTable();
    assert.equal(t.renew(9n, 0), undefined);
    assert.equal(t.remainingMs(9n, 0), undefined);
    assert.equal(t.revoke(9n), false);
  });

  it('lists soonest expiry first, ties by id', () => {
    const t = new LeaseTable();
    t.grant(5n, 30, 0);
    t.grant(9n, 10, 0);
    t.grant(3n, 10, 0);
    t.grant(4n, 20, 0);
    assert.deepEqual(t.list().map((l) => l.id), [3n, 9n, 4n, 5n]);
  });
});

describe('ExpiryQueue', () => {
  it('pops in time order, then id order, for 2,000 seeded pushes', () => {
    const rnd = new SeededRandom(42);
    const q = new ExpiryQueue();
    const items = Array.from({ length: 2_000 }, (_, i) => ({ atMs: rnd.int(500), id: BigInt(rnd.int(100)), generation: i }));
    for (const item of items) q.push(item);
    const popped = [];
    for (let item = q.pop(); item !== undefined; item = q.pop()) popped.push(item);
    const sorted = [...items].sort((a, b) => a.atMs - b.atMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    assert.deepEqual(popped.map((i) => [i.atMs, i.id]), sorted.map((i) => [i.atMs, i.id]));
    assert.equal(q.size, 0);
  });
});
