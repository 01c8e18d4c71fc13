// The lease service on a VirtualClock: grant, revoke, keepalive, time-to-live, list, expiry, the
// lease checks of the KV write path, and a restart over the same store. No sleeps: time moves
// only with `advance`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { VirtualClock } from '../../../../src/adapters/memory/virtual-clock.js';
import { LeaseExistsError, LeaseNotFoundError, LeaseTtlTooLargeError } from '../../../../src/domain/errors.js';
import { b, cmp, keysOf, putOp, rejectsWith, s, tick, txn, view } from '../../../support/domain-fixtures.js';
import { buildLeaseDomain, ScriptedRandom } from '../../../support/lease-fixtures.js';

const get = (d: ReturnType<typeof buildLeaseDomain>, key: string) => d.kv.range({ key: b(key) }).result.kvs[0];

describe('LeaseService grant', () => {
  it('server-chosen ids are positive int63, never 0, never an existing id', async () => {
    const d = buildLeaseDomain({ random: new ScriptedRandom([0n, (1n << 64n) - 1n, 0x8000_0000_0000_0005n, 42n, 43n]) });
    const first = await d.leases.grant(10);
    assert.equal(first.id, (1n << 63n) - 1n, 'the top bit is cleared (int63)');
    const second = await d.leases.grant(10);
    assert.equal(second.id, 5n);
    await d.leases.grant(10, 42n);
    const third = await d.leases.grant(10);
    assert.equal(third.id, 43n, 'the random 42 was taken, so the next draw is used');
  });

  it('honours a client id; a duplicate is LeaseExistsError, also within one batch', async () => {
    const d = buildLeaseDomain();
    const g = await d.leases.grant(10, 77n);
    assert.deepEqual({ id: g.id, ttl: g.ttlSeconds }, { id: 77n, ttl: 10 });
    await rejectsWith(d.leases.grant(10, 77n), LeaseExistsError);
    const [a, c] = await Promise.allSettled([d.leases.grant(5, 88n), d.leases.grant(5, 88n)]);
    assert.equal(a.status, 'fulfilled');
    assert.ok(c.status === 'rejected' && c.reason instanceof LeaseExistsError);
  });

  it('raises TTLs below 2 s to 2 s and refuses above 9,000,000,000 s', async () => {
    const d = buildLeaseDomain();
    assert.equal((await d.leases.grant(1)).ttlSeconds, 2);
    assert.equal((await d.leases.grant(0)).ttlSeconds, 2);
    assert.equal((await d.leases.grant(-5)).ttlSeconds, 2);
    assert.equal((await d.leases.grant(9_000_000_000)).ttlSeconds, 9_000_000_000);
    await rejectsWith(d.leases.grant(9_000_000_001), LeaseTtlTooLargeError);
    // etcd checks the TTL before the id: a too-large TTL for an existing id is still "too large".
    await d.leases.grant(10, 5n);
    await rejectsWith(d.leases.grant(9_000_000_001, 5n), LeaseTtlTooLargeError);
  });

  it('takes no revision, is logged in the batch and answers the current revision', async () => {
    const d = buildLeaseDomain();
    await d.kv.put({ key: b('a'), value: b('1') });
    const g = await d.leases.grant(10, 3n);
    assert.equal(g.revision, 2);
    assert.equal(d.backend.currentRevision(), 2);
    const batch = d.batches.at(-1);
    assert.deepEqual(batch?.leaseChanges, [{ kind: 'grant', id: 3n, ttlSeconds: 10 }]);
    assert.equal(batch?.fromRevision, batch?.toRevision);
    assert.deepEqual(d.backend.leases(), [{ id: 3n, ttlSeconds: 10 }]);
  });
});

describe('LeaseService and the KV write path', () => {
  it('put with a lease attaches; a re-put without detaches; ignore_lease keeps; delete detaches', async () => {
    const d = buildLeaseDomain();
    const { id } = await d.leases.grant(10);
    await rejectsWith(d.kv.put({ key: b('x'), value: b('1'), lease: 999n }), LeaseNotFoundError);
    await d.kv.put({ key: b('a'), value: b('1'), lease: id });
    await d.kv.put({ key: b('b'), value: b('1'), lease: id });
    await d.kv.put({ key: b('c'), value: b('1'), lease: id });
    assert.equal(get(d, 'a')?.lease, id);
    assert.deepEqual(d.leases.timeToLive(id, true).keys.map(s), ['a', 'b', 'c']);
    await d.kv.put({ key: b('a'), value: b('2') });
    await d.kv.put({ key: b('b'), value: b('3'), ignoreLease: true });
    await d.kv.deleteRange({ key: b('c') });
    assert.equal(get(d, 'a')?.lease, 0n);
    assert.equal(get(d, 'b')?.lease, id);
    assert.deepEqual(d.leases.timeToLive(id, true).keys.map(s), ['b']);
  });

  it('txn puts check the lease; LEASE compares see it', async () => {
    const d = buildLeaseDomain();
    const { id } = await d.leases.grant(10, 12n);
    await rejectsWith(d.kv.txn(txn([], [putOp('a', '1', { lease: 13n })])), LeaseNotFoundError);
    await d.kv.txn(txn([], [putOp('a', '1', { lease: id })]));
    assert.equal((await d.kv.txn(txn([cmp.lease('a', 'equal', 12n)], [putOp('r', 'yes')]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.lease('a', 'greater', 12n)], [putOp('r', 'yes')]))).result.succeeded, false);
    assert.equal((await d.kv.txn(txn([cmp.lease('nope', 'equal', 0n)], [putOp('r', 'yes')]))).result.succeeded, true);
  });

  it('a grant and a put with that lease in the same batch both commit', async () => {
    const d = buildLeaseDomain();
    const before = d.batches.length;
    const [g, p, t] = await Promise.all([
      d.leases.grant(10, 5n),
      d.kv.put({ key: b('a'), value: b('1'), lease: 5n }),
      d.kv.txn(txn([], [putOp('b', '1', { lease: 5n })])),
    ]);
    assert.equal(d.batches.length, before + 1, 'one batch');
    assert.equal(g.id, 5n);
    assert.equal(p.revision, 2);
    assert.equal(t.revision, 3);
    assert.deepEqual(d.leases.timeToLive(5n, true).keys.map(s), ['a', 'b']);
  });

  it('a put after a revoke in the same batch fails; a revoke deletes keys attached earlier in its batch', async () => {
    const d = buildLeaseDomain();
    await d.leases.grant(10, 5n);
    await d.kv.put({ key: b('c'), value: b('0'), lease: 5n });
    await d.kv.put({ key: b('d'), value: b('0'), lease: 5n });
    const [p1, p2, r, p3] = await Promise.allSettled([
      d.kv.put({ key: b('a'), value: b('1'), lease: 5n }),
      d.kv.put({ key: b('d'), value: b('1') }), // detached before the revoke: survives
      d.leases.revoke(5n),
      d.kv.put({ key: b('e'), value: b('1'), lease: 5n }),
    ]);
    assert.equal(p1.status, 'fulfilled');
    assert.equal(p2.status, 'fulfilled');
    assert.ok(r.status === 'fulfilled');
    assert.ok(p3.status === 'rejected' && p3.reason instanceof LeaseNotFoundError);
    assert.equal(r.value.revision, 6);
    assert.deepEqual(keysOf(d.kv.range({ key: b('a'), rangeEnd: b('z') }).result.kvs), ['d']);
    const batch = d.batches.at(-1);
    assert.deepEqual(
      batch?.changes.filter((c) => c.main === 6).map((c) => [c.kind, s(c.kv.key), c.sub]),
      [['delete', 'a', 0], ['delete', 'c', 1]],
    );
  });
});

describe('LeaseService revoke', () => {
  it('deletes every attached key at one revision with DELETE changes, in key order', async () => {
    const d = buildLeaseDomain();
    const { id } = await d.leases.grant(10);
    for (const k of ['k3', 'k1', 'k2']) await d.kv.put({ key: b(k), value: b('v'), lease: id });
    await d.kv.put({ key: b('other'), value: b('v') });
    const r = await d.leases.revoke(id);
    assert.equal(r.revision, 6);
    const batch = d.batches.at(-1);
    assert.deepEqual(batch?.changes.map((c) => [c.kind, s(c.kv.key), c.main, c.sub, c.prev?.lease]), [
      ['delete', 'k1', 6, 0, id],
      ['delete', 'k2', 6, 1, id],
      ['delete', 'k3', 6, 2, id],
    ]);
    assert.deepEqual(batch?.leaseChanges, [{ kind: 'revoke', id }]);
    assert.deepEqual(keysOf(d.kv.range({ key: b('a'), rangeEnd: b('z') }).result.kvs), ['other']);
    assert.equal(d.leases.timeToLive(id, false).ttlSeconds, -1);
    assert.deepEqual(d.backend.leases(), []);
  });

  it('without keys takes no revision; an unknown lease is LeaseNotFoundError', async () => {
    const d = buildLeaseDomain();
    await d.kv.put({ key: b('a'), value: b('1') });
    const { id } = await d.leases.grant(10);
    assert.equal((await d.leases.revoke(id)).revision, 2);
    assert.equal(d.backend.currentRevision(), 2);
    await rejectsWith(d.leases.revoke(id), LeaseNotFoundError);
    await rejectsWith(d.leases.revoke(12345n), LeaseNotFoundError);
  });
});

describe('LeaseService keepalive, time-to-live and list', () => {
  it('keepalive restarts the full TTL and answers the granted TTL; 0 for an unknown lease', async () => {
    const d = buildLeaseDomain();
    const { id } = await d.leases.grant(10);
    await d.kv.put({ key: b('a'), value: b('1'), lease: id });
    for (let i = 0; i < 5; i++) {
      await d.advance(8_000);
      assert.equal((await d.leases.keepAlive(id)).ttlSeconds, 10);
    }
    assert.equal(get(d, 'a')?.lease, id, 'kept alive for 40 s of a 10 s lease');
    assert.equal((await d.leases.keepAlive(4242n)).ttlSeconds, 0);
  });

  it('time-to-live truncates the remaining seconds as etcd; -1 for an unknown lease', async () => {
    const d = buildLeaseDomain();
    const { id } = await d.leases.grant(10);
    assert.deepEqual(
      { ttl: d.leases.timeToLive(id, false).ttlSeconds, granted: d.leases.timeToLive(id, false).grantedTtlSeconds },
      { ttl: 10, granted: 10 },
    );
    await d.advance(300);
    assert.equal(d.leases.timeToLive(id, false).ttlSeconds, 9);
    await d.advance(8_699);
    assert.equal(d.leases.timeToLive(id, false).ttlSeconds, 1);
    await d.advance(2);
    assert.equal(d.leases.timeToLive(id, false).ttlSeconds, 0);
    const unknown = d.leases.timeToLive(999n, true);
    assert.deepEqual({ ttl: unknown.ttlSeconds, granted: unknown.grantedTtlSeconds, keys: unknown.keys }, { ttl: -1, granted: 0, keys: [] });
  });

  it('lists leases soonest expiry first', async () => {
    const d = buildLeaseDomain();
    await d.leases.grant(30, 1n);
    await d.leases.grant(10, 2n);
    await d.leases.grant(20, 3n);
    assert.deepEqual(d.leases.leases().ids, [2n, 3n, 1n]);
    await d.advance(8_000);
    await d.leases.keepAlive(2n); // expires at 18 s
    assert.deepEqual(d.leases.leases().ids, [2n, 3n, 1n]);
    await d.advance(7_000);
    await d.leases.keepAlive(2n); // expires at 25 s
    assert.deepEqual(d.leases.leases().ids, [3n, 2n, 1n]);
  });
});

describe('LeaseService expiry', () => {
  it('an expired lease is revoked through the pipeline: its keys deleted at one revision', async () => {
    const d = buildLeaseDomain();
    const { id } = await d.leases.grant(5);
    for (const k of ['b', 'a', 'c']) await d.kv.put({ key: b(k), value: b('v'), lease: id });
    await d.advance(4_999);
    assert.equal(d.kv.range({ key: b('a'), rangeEnd: b('z') }).result.kvs.length, 3);
    await d.advance(1);
    assert.deepEqual(d.kv.range({ key: b('a'), rangeEnd: b('z') }).result.kvs, []);
    const batch = d.batches.at(-1);
    assert.deepEqual(batch?.changes.map((c) => [c.kind, s(c.kv.key), c.main, c.sub]), [
      ['delete', 'a', 5, 0],
      ['delete', 'b', 5, 1],
      ['delete', 'c', 5, 2],
    ]);
    assert.deepEqual(batch?.leaseChanges, [{ kind: 'revoke', id }]);
    assert.equal(d.leases.timeToLive(id, false).ttlSeconds, -1);
    assert.equal((await d.leases.keepAlive(id)).ttlSeconds, 0);
    assert.equal(d.clock.pendingTimers(), 0, 'no timer left once no lease remains');
  });

  it('leases expire independently and in order; a kept-alive one survives', async () => {
    const d = buildLeaseDomain();
    await d.leases.grant(3, 1n);
    await d.leases.grant(6, 2n);
    await d.leases.grant(4, 3n);
    await d.kv.put({ key: b('k1'), value: b('v'), lease: 1n });
    await d.kv.put({ key: b('k2'), value: b('v'), lease: 2n });
    await d.kv.put({ key: b('k3'), value: b('v'), lease: 3n });
    await d.advance(2_000);
    await d.leases.keepAlive(1n); // now expires at 5 s
    await d.advance(2_000); // 4 s: lease 3 expires
    assert.deepEqual(d.leases.leases().ids.sort(), [1n, 2n]);
    await d.advance(1_000); // 5 s: lease 1
    assert.deepEqual(d.leases.leases().ids, [2n]);
    await d.advance(1_000); // 6 s: lease 2
    assert.deepEqual(d.leases.leases().ids, []);
    assert.deepEqual(d.batches.slice(-3).map((bt) => bt.changes.map((c) => [s(c.kv.key), c.main])), [[['k3', 5]], [['k1', 6]], [['k2', 7]]]);
  });

  it('a keepalive that finds its lease expired waits for the revoke and answers 0', async () => {
    const d = buildLeaseDomain({ start: false }); // no timer: only the keepalive notices
    const { id } = await d.leases.grant(2);
    await d.kv.put({ key: b('a'), value: b('1'), lease: id });
    d.clock.advance(2_000);
    assert.equal((await d.leases.keepAlive(id)).ttlSeconds, 0);
    assert.equal(get(d, 'a'), undefined, 'the revoke committed before the answer');
    assert.equal(d.leases.timeToLive(id, false).ttlSeconds, -1);
  });

  it('an expired lease revoked meanwhile by a client is not revoked twice', async () => {
    const d = buildLeaseDomain();
    const { id } = await d.leases.grant(2);
    await d.kv.put({ key: b('a'), value: b('1'), lease: id });
    d.clock.advance(2_000); // the timer submits the expiry revoke
    const r = await d.leases.revoke(id).then(
      () => 'revoked',
      (e: unknown) => (e instanceof LeaseNotFoundError ? 'not found' : 'other'),
    );
    await tick();
    assert.equal(r, 'not found', 'the expiry revoke was queued first');
    assert.equal(d.batches.filter((bt) => bt.leaseChanges?.some((l) => l.kind === 'revoke')).length, 1);
  });

  it('a failed expiry revoke is retried after leaseRevokeRetryMs', async () => {
    let failNext = true;
    const stage = {
      append: async () => {
        if (failNext) throw new Error('disk on fire');
      },
    };
    // A failing stage closes the pipeline, so the retry is visible as a logged warning only.
    const d = buildLeaseDomain({ stages: [stage], limits: { leaseRevokeRetryMs: 1_000 } });
    failNext = false;
    await d.leases.grant(2, 1n);
    failNext = true;
    await d.advance(2_000);
    assert.ok(d.logger.entries.some((e) => e.message.startsWith('revoking an expired lease failed')));
    assert.equal(d.clock.pendingTimers(), 1, 'a retry is scheduled');
  });
});

describe('LeaseService across a restart', () => {
  it('every lease survives with its full TTL, keys stay attached, and expiry resumes', async () => {
    const backend = new InMemoryMvccBackend();
    const clock = new VirtualClock();
    const d1 = buildLeaseDomain({ backend, clock });
    await d1.leases.grant(10, 1n);
    await d1.leases.grant(20, 2n);
    await d1.kv.put({ key: b('a'), value: b('1'), lease: 1n });
    await d1.advance(8_000);
    assert.equal(d1.leases.timeToLive(1n, false).ttlSeconds, 2);
    d1.leases.stop();
    await d1.pipeline.close();

    const d2 = buildLeaseDomain({ backend, clock });
    assert.deepEqual(d2.leases.leases().ids, [1n, 2n]);
    const t = d2.leases.timeToLive(1n, true);
    assert.deepEqual({ ttl: t.ttlSeconds, granted: t.grantedTtlSeconds, keys: t.keys.map(s) }, { ttl: 10, granted: 10, keys: ['a'] });
    await d2.advance(9_999);
    assert.equal(view(get(d2, 'a')!).lease, 1n);
    await d2.advance(1);
    assert.equal(get(d2, 'a'), undefined);
    assert.deepEqual(d2.leases.leases().ids, [2n]);
  });
});
