// Lease records in the WAL: LEASE_GRANT (op 4) and LEASE_REVOKE (op 5) survive the frame codec
// byte for byte, a lease workload written through the real WalLog recovers into an empty store
// with the same leases and attached keys, and replaying the same batches again changes nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaultInjectingWalFiles } from '../../../../src/adapters/memory/fault-injecting-wal-files.js';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { VirtualClock } from '../../../../src/adapters/memory/virtual-clock.js';
import { Crc32cChecksum } from '../../../../src/adapters/node/crc32c.js';
import { EMPTY_BYTES } from '../../../../src/domain/bytes.js';
import type { CommittedBatch } from '../../../../src/domain/mvcc/types.js';
import { replayWal } from '../../../../src/domain/wal/replay.js';
import { encodeBatchFrame, readFrame } from '../../../../src/domain/wal/wal-codec.js';
import { recoverWal, WalLog } from '../../../../src/domain/wal/wal-log.js';
import type { Logger } from '../../../../src/ports/logger.js';
import type { MvccBackend } from '../../../../src/ports/mvcc-backend.js';
import { b, s } from '../../../support/domain-fixtures.js';
import { buildLeaseDomain } from '../../../support/lease-fixtures.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const checksum = new Crc32cChecksum();

function snapshot(backend: MvccBackend): unknown {
  return {
    revision: backend.currentRevision(),
    leases: backend.leases(),
    keys: backend.range({ kind: 'fromKey', key: EMPTY_BYTES }, backend.currentRevision(), 0).map((kv) => [s(kv.key), kv.lease, kv.modRevision]),
    attached: backend.leases().map((l) => [l.id, backend.keysWithLease(l.id).map(s)]),
  };
}

describe('WAL lease records', () => {
  it('grant and revoke entries round-trip through the frame codec, in request order', () => {
    const batch: CommittedBatch = {
      fromRevision: 4,
      toRevision: 5,
      compactRevision: undefined,
      changes: [
        { kind: 'put', main: 5, sub: 0, prev: undefined, kv: { key: b('a'), value: b('1'), lease: -9n, createRevision: 5, modRevision: 5, version: 1 } },
        { kind: 'delete', main: 5, sub: 1, prev: undefined, kv: { key: b('k'), value: EMPTY_BYTES, lease: 0n, createRevision: 0, modRevision: 5, version: 0 } },
      ],
      leaseChanges: [
        { kind: 'grant', id: (1n << 63n) - 1n, ttlSeconds: 9_000_000_000 },
        { kind: 'revoke', id: 7n },
        { kind: 'grant', id: -9n, ttlSeconds: 2 },
        { kind: 'revoke', id: (1n << 63n) - 1n },
      ],
    };
    const frame = encodeBatchFrame(batch, 1n, checksum);
    const read = readFrame(frame, 0, checksum);
    assert.ok(read.ok, read.ok ? '' : read.reason);
    assert.deepEqual(read.batch.leaseChanges, batch.leaseChanges);
    assert.deepEqual(read.batch.changes.map((c) => [c.kind, s(c.kv.key), c.kv.lease]), [['put', 'a', -9n], ['delete', 'k', 0n]]);
    assert.equal(read.end, frame.length);
    // A lease-only batch takes no revision and has no `leaseChanges: []` noise when absent.
    const leaseOnly = readFrame(encodeBatchFrame({ fromRevision: 3, toRevision: 3, changes: [], compactRevision: undefined, leaseChanges: [{ kind: 'grant', id: 1n, ttlSeconds: 5 }] }, 1n, checksum), 0, checksum);
    assert.ok(leaseOnly.ok);
    assert.deepEqual([leaseOnly.batch.fromRevision, leaseOnly.batch.toRevision, leaseOnly.batch.leaseChanges], [3, 3, [{ kind: 'grant', id: 1n, ttlSeconds: 5 }]]);
    const none = readFrame(encodeBatchFrame({ fromRevision: 3, toRevision: 4, changes: batch.changes.slice(0, 1).map((c) => ({ ...c, main: 4, kv: { ...c.kv, modRevision: 4, createRevision: 4 } })), compactRevision: undefined }, 1n, checksum), 0, checksum);
    assert.ok(none.ok);
    assert.equal(none.batch.leaseChanges, undefined);
  });

  it('a lease workload written through the WAL recovers into an empty store, and replaying it again changes nothing', async () => {
    const files = new FaultInjectingWalFiles();
    const empty = await recoverWal(files, checksum, silent);
    const source = new InMemoryMvccBackend();
    const wal = await WalLog.start(files, checksum, { segmentBytesMax: 4096, term: 1n }, silent, empty, source.currentRevision(), async () => source.durableCheckpoint());
    const clock = new VirtualClock();
    const d = buildLeaseDomain({ backend: source, clock, stages: [wal] });

    const l1 = (await d.leases.grant(10, 1n)).id;
    const l2 = (await d.leases.grant(20, 2n)).id;
    await Promise.all([d.leases.grant(30, 3n), d.kv.put({ key: b('c'), value: b('0'), lease: 3n })]); // grant + put in one batch
    for (let i = 0; i < 20; i++) await d.kv.put({ key: b(`k${i % 7}`), value: b(String(i)), lease: i % 2 === 0 ? l1 : l2 });
    await d.kv.put({ key: b('k0'), value: b('x') }); // detaches k0
    await d.kv.deleteRange({ key: b('k1') }); // detaches k1
    await d.leases.revoke(l2); // deletes k3, k5 at one revision
    await d.leases.grant(5, 4n);
    await d.leases.revoke(4n); // lease-only batches at the same revision
    await d.advance(10_000); // lease 1 expires: k2, k4, k6 deleted through the pipeline
    await d.leases.grant(40, 2n); // an id used before, granted again
    await d.kv.put({ key: b('z'), value: b('1'), lease: 2n });
    await d.leases.grant(5, 9n);
    await d.leases.revoke(9n);
    await d.leases.grant(50, 8n); // the last batches take no revision
    await wal.close();

    const recovered = await recoverWal(files, checksum, silent);
    assert.ok(recovered.batches.length > 10);
    const target = new InMemoryMvccBackend();
    replayWal(recovered.batches, target, silent);
    assert.deepEqual(snapshot(target), snapshot(source));
    assert.deepEqual(target.leases(), [{ id: 2n, ttlSeconds: 40 }, { id: 3n, ttlSeconds: 30 }, { id: 8n, ttlSeconds: 50 }]);
    assert.deepEqual(target.keysWithLease(3n).map(s), ['c']);
    assert.deepEqual((snapshot(target) as { keys: unknown[] }).keys, [['c', 3n, 2], ['k0', 0n, 23], ['z', 2n, 27]]);

    // Replaying everything again (a restart whose store already holds all of it) changes nothing.
    const before = snapshot(target);
    replayWal(recovered.batches, target, silent);
    assert.deepEqual(snapshot(target), before);
    // Batches that take no revision at the store's revision are applied again, idempotently.
    const tail = recovered.batches.filter((bt) => bt.toRevision === target.currentRevision());
    assert.ok(tail.some((bt) => (bt.leaseChanges ?? []).length > 0));
    replayWal(tail, target, silent);
    assert.deepEqual(snapshot(target), before);

    // And a lease service opened on the recovered store serves the recovered leases.
    const reopened = buildLeaseDomain({ backend: target, clock });
    assert.deepEqual(reopened.leases.leases().ids, [3n, 2n, 8n]);
    assert.equal(reopened.leases.timeToLive(3n, false).ttlSeconds, 30, 'full TTL after a restart');
  });
});
