// AuthService over the real write pipeline: etcdctl's enable sequence, error kinds, authentication
// with tokens and rate limiting on a virtual clock, checks (range coverage, txn rule, leases,
// admin), and auth state through the WAL: frame round trip, replay into an empty store, and a
// restart of a SQLite store.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthService } from '../../../../src/domain/auth/auth-service.js';
import { FaultInjectingWalFiles } from '../../../../src/adapters/memory/fault-injecting-wal-files.js';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { VirtualClock } from '../../../../src/adapters/memory/virtual-clock.js';
import { Crc32cChecksum } from '../../../../src/adapters/node/crc32c.js';
import { ScryptPasswordHasher } from '../../../../src/adapters/node/scrypt-password-hasher.js';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { prefixEnd } from '../../../../src/domain/bytes.js';
import type { CommittedBatch } from '../../../../src/domain/mvcc/types.js';
import { replayWal } from '../../../../src/domain/wal/replay.js';
import { encodeBatchFrame, readFrame } from '../../../../src/domain/wal/wal-codec.js';
import { recoverWal, WalLog } from '../../../../src/domain/wal/wal-log.js';
import type { Logger } from '../../../../src/ports/logger.js';
import type { MvccBackend } from '../../../../src/ports/mvcc-backend.js';
import type { PasswordHasher } from '../../../../src/ports/password-hasher.js';
import type { BatchLog } from '../../../../src/ports/batch-log.js';
import { b, buildDomain, deleteOp, putOp, rangeOp, txn, txnOp } from '../../../support/domain-fixtures.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const checksum = new Crc32cChecksum();
const OPEN = new Uint8Array([0]);
const NONE = new Uint8Array(0);

/** Fast and transparent; the real scrypt adapter has its own test below. */
const plainHasher: PasswordHasher = {
  hash: async (p) => `plain$${p}`,
  verify: async (p, encoded) => encoded === `plain$${p}`,
};

let seq = 0n;
function build(options: { backend?: MvccBackend; stages?: readonly BatchLog[]; hasher?: PasswordHasher } = {}) {
  const clock = new VirtualClock();
  const d = buildDomain({ ...(options.backend ? { backend: options.backend } : {}), ...(options.stages ? { stages: options.stages } : {}), timers: clock });
  const auth = new AuthService(d.backend, d.pipeline, options.hasher ?? plainHasher, clock, { u64: () => ++seq }, { tokenTtlMs: 300_000, tokensMax: 100 }, silent);
  return { ...d, auth, clock };
}

async function kindOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (error) {
    return (error as { kind?: string }).kind ?? String(error);
  }
  return 'ok';
}

/** What etcdctl does: user add root, auth enable (fails: no root role), role add root, grant, enable again. */
async function enableLikeEtcdctl(auth: AuthService): Promise<void> {
  await auth.userAdd('root', 'rootpw', false);
  assert.equal(await kindOf(() => auth.enable()), 'RootRoleNotExist');
  await auth.roleAdd('root');
  await auth.userGrantRole('root', 'root');
  await auth.enable();
}

describe('AuthService', () => {
  it('etcdctl 3.4 auth enable sequence; auth changes take no KV revision and are logged in batches', async () => {
    const { auth, backend, batches } = build();
    assert.equal(await kindOf(() => auth.enable()), 'RootUserNotExist');
    await enableLikeEtcdctl(auth);
    assert.deepEqual(auth.status(), { enabled: true, revision: 4 });
    assert.equal(backend.currentRevision(), 1, 'no KV revision');
    assert.ok(batches.every((batch) => batch.fromRevision === batch.toRevision && batch.authState !== undefined));
    assert.equal(batches.at(-1)?.authState?.enabled, true);
  });

  it('Authenticate: not enabled, bad password, unknown user, no-password user; tokens identify', async () => {
    const { auth } = build();
    assert.equal(await kindOf(() => auth.authenticate('root', 'rootpw')), 'AuthNotEnabled');
    await enableLikeEtcdctl(auth);
    await auth.userAdd('nopw', '', true);
    assert.equal(await kindOf(() => auth.authenticate('root', 'wrong')), 'AuthFailed');
    assert.equal(await kindOf(() => auth.authenticate('ghost', 'x')), 'AuthFailed');
    assert.equal(await kindOf(() => auth.authenticate('nopw', '')), 'AuthFailed');
    const token = await auth.authenticate('root', 'rootpw');
    assert.equal(auth.identify(token, undefined), 'root');
    assert.equal(auth.identify(undefined, 'cn-user'), 'cn-user', 'client certificate CN without a token');
    assert.equal(auth.identify(token, 'cn-user'), 'root', 'a token wins over the CN');
    assert.equal(await kindOf(() => auth.identify('bogus', undefined)), 'InvalidAuthToken');
  });

  it('tokens slide with use, expire after the TTL, and die with AuthDisable, user delete and password change', async () => {
    const { auth, clock } = build();
    await enableLikeEtcdctl(auth);
    await auth.userAdd('alice', 'pw', false);
    const t1 = await auth.authenticate('alice', 'pw');
    clock.advance(200_000);
    auth.identify(t1, undefined);
    clock.advance(200_000);
    assert.equal(auth.identify(t1, undefined), 'alice');
    clock.advance(300_001);
    assert.equal(await kindOf(() => auth.identify(t1, undefined)), 'InvalidAuthToken');
    const t2 = await auth.authenticate('alice', 'pw');
    await auth.userChangePassword('alice', 'pw2');
    assert.equal(await kindOf(() => auth.identify(t2, undefined)), 'InvalidAuthToken');
    assert.equal(await kindOf(() => auth.authenticate('alice', 'pw')), 'AuthFailed');
    const t3 = await auth.authenticate('alice', 'pw2');
    await auth.userDelete('alice');
    assert.equal(await kindOf(() => auth.identify(t3, undefined)), 'InvalidAuthToken');
    const root = await auth.authenticate('root', 'rootpw');
    await auth.disable();
    assert.equal(await kindOf(() => auth.identify(root, undefined)), 'InvalidAuthToken', 'as etcd: tokens die with AuthDisable');
  });

  it('5 failed logins in 5 minutes lock the user for 15 minutes, even with the right password', async () => {
    const { auth, clock } = build();
    await enableLikeEtcdctl(auth);
    for (let i = 0; i < 5; i++) assert.equal(await kindOf(() => auth.authenticate('root', 'nope')), 'AuthFailed');
    assert.equal(await kindOf(() => auth.authenticate('root', 'rootpw')), 'AuthFailed');
    clock.advance(15 * 60_000);
    assert.equal(await kindOf(() => auth.authenticate('root', 'rootpw')), 'ok');
  });

  it('checks: disabled passes all; enabled: no user, unknown user, root bypass, range coverage, admin', async () => {
    const { auth } = build();
    auth.check(undefined, 'write', b('a'));
    auth.checkAdmin(undefined);
    await enableLikeEtcdctl(auth);
    await auth.userAdd('alice', 'pw', false);
    await auth.roleAdd('r1');
    await auth.roleAdd('r2');
    await auth.roleGrantPermission('r1', { key: b('/a/'), rangeEnd: b('/a/m'), permType: 'read' });
    await auth.roleGrantPermission('r2', { key: b('/a/m'), rangeEnd: prefixEnd(b('/a/')), permType: 'readwrite' });
    await auth.userGrantRole('alice', 'r1');
    await auth.userGrantRole('alice', 'r2');
    assert.equal(await kindOf(() => auth.check(undefined, 'read', b('/a/x'))), 'UserEmpty');
    assert.equal(await kindOf(() => auth.check('ghost', 'read', b('/a/x'))), 'PermissionDenied');
    assert.equal(await kindOf(() => auth.check('alice', 'read', b('/a/'), prefixEnd(b('/a/')))), 'ok', 'two roles cover the prefix together');
    assert.equal(await kindOf(() => auth.check('alice', 'write', b('/a/'), prefixEnd(b('/a/')))), 'PermissionDenied');
    assert.equal(await kindOf(() => auth.check('alice', 'read', b('/a/'), OPEN)), 'PermissionDenied');
    assert.equal(await kindOf(() => auth.check('root', 'write', b('anything'), OPEN)), 'ok');
    assert.equal(await kindOf(() => auth.checkAdmin('alice')), 'PermissionDenied');
    assert.equal(await kindOf(() => auth.checkAdmin('ghost')), 'UserNotFound');
    assert.equal(await kindOf(() => auth.checkAdmin(undefined)), 'UserEmpty');
    // A revoked role takes effect at once.
    await auth.userRevokeRole('alice', 'r2');
    assert.equal(await kindOf(() => auth.check('alice', 'read', b('/a/'), prefixEnd(b('/a/')))), 'PermissionDenied');
  });

  it("Txn: etcd's rule: read for compares and ranges, write for puts and deletes, in both branches", async () => {
    const { auth } = build();
    await enableLikeEtcdctl(auth);
    await auth.userAdd('u', 'pw', false);
    await auth.roleAdd('r');
    await auth.userGrantRole('u', 'r');
    await auth.roleGrantPermission('r', { key: b('ro'), rangeEnd: NONE, permType: 'read' });
    await auth.roleGrantPermission('r', { key: b('wo'), rangeEnd: NONE, permType: 'write' });
    const cmp = (key: string) => ({ key: b(key), target: 'version' as const, result: 'equal' as const, operand: { case: 'version' as const, value: 0n } });
    assert.equal(await kindOf(() => auth.checkTxn('u', txn([cmp('ro')], [putOp('wo', 'v')], [rangeOp('ro')]))), 'ok', 'a read-only key may be compared');
    assert.equal(await kindOf(() => auth.checkTxn('u', txn([cmp('wo')], [], []))), 'PermissionDenied');
    assert.equal(await kindOf(() => auth.checkTxn('u', txn([], [], [putOp('ro', 'v')]))), 'PermissionDenied', 'failure branch is checked too');
    assert.equal(await kindOf(() => auth.checkTxn('u', txn([], [deleteOp('wo')], []))), 'ok');
    assert.equal(await kindOf(() => auth.checkTxn('u', txn([], [deleteOp('wo', undefined, true)], []))), 'PermissionDenied', 'prev_kv needs read');
    assert.equal(await kindOf(() => auth.checkTxn('u', txn([], [txnOp(txn([], [rangeOp('wo')]))], []))), 'PermissionDenied', 'nested txn');
  });

  it('leases: a put attaching a lease, or a revoke, needs write on the keys already on it', async () => {
    const { auth, kv, leases } = build();
    leases.ids.add(7n);
    await kv.put({ key: b('mine'), value: b('1'), lease: 7n });
    await kv.put({ key: b('theirs'), value: b('1'), lease: 7n });
    await enableLikeEtcdctl(auth);
    await auth.userAdd('u', 'pw', false);
    await auth.roleAdd('r');
    await auth.userGrantRole('u', 'r');
    await auth.roleGrantPermission('r', { key: b('mine'), rangeEnd: NONE, permType: 'readwrite' });
    assert.equal(await kindOf(() => auth.checkLeaseKeys('u', 7n)), 'PermissionDenied');
    assert.equal(await kindOf(() => auth.checkLeaseKeys('u', 8n)), 'ok', 'no keys on it');
    assert.equal(await kindOf(() => auth.checkReadKeys('u', [b('mine')])), 'ok');
    assert.equal(await kindOf(() => auth.checkReadKeys('u', [b('mine'), b('theirs')])), 'PermissionDenied');
  });

  it('requests in one batch see the auth changes queued ahead of them', async () => {
    const { auth, batches } = build();
    await Promise.all([auth.roleAdd('a'), auth.roleAdd('b'), auth.userAdd('u', 'pw', false)]);
    const [dup] = await Promise.allSettled([auth.roleAdd('a')]);
    assert.equal(dup.status, 'rejected');
    assert.deepEqual(auth.roleList(), ['a', 'b']);
    assert.deepEqual(auth.userList(), ['u']);
    assert.equal(auth.status().revision, 4);
    assert.ok(batches.length <= 3);
  });
});

describe('auth state through the WAL and restarts', () => {
  it('the AUTH_STATE entry round-trips through the frame codec', () => {
    const batch: CommittedBatch = {
      fromRevision: 3,
      toRevision: 3,
      changes: [],
      compactRevision: undefined,
      authState: {
        enabled: true,
        revision: 9,
        users: [{ name: 'root', passwordHash: 'plain$x', roles: ['root'] }, { name: 'n', passwordHash: undefined, roles: [] }],
        roles: [{ name: 'r', permissions: [{ key: new Uint8Array([0, 255]), rangeEnd: OPEN, permType: 'write' }] }, { name: 'root', permissions: [] }],
      },
    };
    const frame = encodeBatchFrame(batch, 1n, checksum);
    const read = readFrame(frame, 0, checksum);
    assert.ok(read.ok);
    assert.deepEqual(read.batch, batch);
  });

  it('an auth workload written through the WalLog replays into an empty store, twice idempotently', async () => {
    const files = new FaultInjectingWalFiles();
    const source = new InMemoryMvccBackend();
    const empty = await recoverWal(files, checksum, silent);
    const wal = await WalLog.start(files, checksum, { segmentBytesMax: 4096, term: 1n }, silent, empty, source.currentRevision(), async () => source.durableCheckpoint());
    const { auth, kv } = build({ backend: source, stages: [wal] });
    await kv.put({ key: b('k'), value: b('v') });
    await enableLikeEtcdctl(auth);
    await auth.roleAdd('r');
    await kv.put({ key: b('k'), value: b('w') });
    await auth.roleGrantPermission('r', { key: b('k'), rangeEnd: NONE, permType: 'read' });
    await wal.close();
    const recovered = await recoverWal(files, checksum, silent);
    const target = new InMemoryMvccBackend();
    replayWal(recovered.batches, target, silent);
    assert.deepEqual(target.authState(), source.authState());
    assert.equal(target.currentRevision(), source.currentRevision());
    replayWal(recovered.batches, target, silent);
    assert.deepEqual(target.authState(), source.authState());
    assert.equal(target.authState()?.enabled, true);
  });

  it('a SQLite store keeps users, roles and the enabled flag across a restart; logins work after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 't4-auth-'));
    try {
      const path = join(dir, 't4.sqlite');
      const first = new SqliteMvccBackend({ path, synchronous: 'normal' });
      const hasher = new ScryptPasswordHasher({ logN: 4, r: 8, p: 1 });
      const a = build({ backend: first, hasher });
      await enableLikeEtcdctl(a.auth);
      await a.pipeline.close();
      first.close();
      const second = new SqliteMvccBackend({ path, synchronous: 'normal' });
      const after = build({ backend: second, hasher });
      assert.deepEqual(after.auth.status(), { enabled: true, revision: 4 });
      assert.match(second.authState()?.users[0]?.passwordHash ?? '', /^scrypt\$4\$8\$1\$/, 'only a salted hash is stored');
      assert.equal(await kindOf(() => after.auth.authenticate('root', 'rootpw')), 'ok');
      assert.equal(await kindOf(() => after.auth.authenticate('root', 'nope')), 'AuthFailed');
      await after.pipeline.close();
      second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
