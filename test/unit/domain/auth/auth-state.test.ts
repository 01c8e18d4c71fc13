import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ops from '../../../../src/domain/auth/auth-state.js';
import { INITIAL_AUTH_STATE, type AuthState } from '../../../../src/domain/auth/types.js';
import { utf8 } from '../../../../src/domain/bytes.js';

const b = utf8;
const NONE = new Uint8Array(0);

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as { kind: string }).kind;
  }
  return 'ok';
}

describe('auth store operations (etcd server/auth/store.go)', () => {
  it('AuthEnable: root user must exist and hold the root role; the root role may be granted before it exists', () => {
    let s: AuthState = INITIAL_AUTH_STATE;
    assert.equal(kindOf(() => ops.enable(s)), 'RootUserNotExist');
    s = ops.userAdd(s, 'root', 'h');
    assert.equal(kindOf(() => ops.enable(s)), 'RootRoleNotExist');
    // etcdctl auth enable: on RootRoleNotExist it adds role root, grants it to root, retries.
    s = ops.roleAdd(s, 'root');
    s = ops.userGrantRole(s, 'root', 'root');
    const enabled = ops.enable(s);
    assert.equal(enabled.enabled, true);
    assert.equal(enabled.revision, s.revision, 'enable takes no auth revision');
    assert.equal(ops.enable(enabled), enabled, 'enable again: ignored');
    assert.equal(s.revision, 4, 'three changes after the initial revision 1');
  });

  it('users: empty, duplicate, missing; grant idempotent; revoke of a role not held', () => {
    let s = ops.userAdd(INITIAL_AUTH_STATE, 'alice', 'h');
    assert.equal(kindOf(() => ops.userAdd(s, '', 'h')), 'UserEmpty');
    assert.equal(kindOf(() => ops.userAdd(s, 'alice', 'h')), 'UserAlreadyExists');
    assert.equal(kindOf(() => ops.userDelete(s, 'bob')), 'UserNotFound');
    assert.equal(kindOf(() => ops.userGrantRole(s, 'alice', 'nope')), 'RoleNotFound');
    assert.equal(kindOf(() => ops.userGrantRole(s, 'bob', 'r')), 'UserNotFound');
    s = ops.roleAdd(s, 'r');
    s = ops.userGrantRole(s, 'alice', 'r');
    assert.equal(ops.userGrantRole(s, 'alice', 'r'), s, 'granting again changes nothing');
    assert.deepEqual(ops.userGet(s, 'alice'), ['r']);
    assert.equal(kindOf(() => ops.userRevokeRole(s, 'alice', 'other')), 'RoleNotGranted');
    s = ops.userRevokeRole(s, 'alice', 'r');
    assert.deepEqual(ops.userGet(s, 'alice'), []);
    assert.equal(kindOf(() => ops.userGet(s, 'zed')), 'UserNotFound');
  });

  it('while enabled, root cannot be deleted, lose the root role, and the root role cannot be deleted', () => {
    let s = ops.userAdd(INITIAL_AUTH_STATE, 'root', 'h');
    s = ops.userGrantRole(s, 'root', 'root');
    s = ops.roleAdd(s, 'root');
    s = ops.enable(s);
    assert.equal(kindOf(() => ops.userDelete(s, 'root')), 'InvalidAuthMgmt');
    assert.equal(kindOf(() => ops.userRevokeRole(s, 'root', 'root')), 'InvalidAuthMgmt');
    assert.equal(kindOf(() => ops.roleDelete(s, 'root')), 'InvalidAuthMgmt');
    const off = ops.disable(s);
    assert.equal(kindOf(() => ops.userRevokeRole(off, 'root', 'root')), 'ok');
  });

  it('roles: empty, duplicate, missing; deleting a role revokes it from its users', () => {
    let s = ops.roleAdd(INITIAL_AUTH_STATE, 'r');
    assert.equal(kindOf(() => ops.roleAdd(s, '')), 'RoleEmpty');
    assert.equal(kindOf(() => ops.roleAdd(s, 'r')), 'RoleAlreadyExists');
    assert.equal(kindOf(() => ops.roleDelete(s, 'x')), 'RoleNotFound');
    assert.equal(kindOf(() => ops.roleGet(s, 'x')), 'RoleNotFound');
    s = ops.userAdd(s, 'u', undefined);
    s = ops.userGrantRole(s, 'u', 'r');
    s = ops.roleDelete(s, 'r');
    assert.deepEqual(ops.userGet(s, 'u'), []);
    assert.deepEqual(s.roles, []);
  });

  it('permissions: nil perm, grant on the same range replaces its type, revoke needs an exact match; lists sorted', () => {
    let s = ops.roleAdd(INITIAL_AUTH_STATE, 'r');
    assert.equal(kindOf(() => ops.roleGrantPermission(s, 'r', undefined)), 'PermissionNotGiven');
    assert.equal(kindOf(() => ops.roleGrantPermission(s, 'x', { key: b('a'), rangeEnd: NONE, permType: 'read' })), 'RoleNotFound');
    s = ops.roleGrantPermission(s, 'r', { key: b('b'), rangeEnd: b('c'), permType: 'read' });
    s = ops.roleGrantPermission(s, 'r', { key: b('a'), rangeEnd: NONE, permType: 'read' });
    s = ops.roleGrantPermission(s, 'r', { key: b('b'), rangeEnd: b('c'), permType: 'readwrite' });
    assert.deepEqual(
      ops.roleGet(s, 'r').map((p) => [new TextDecoder().decode(p.key), p.permType]),
      [['a', 'read'], ['b', 'readwrite']],
    );
    assert.equal(kindOf(() => ops.roleRevokePermission(s, 'r', b('b'), NONE)), 'PermissionNotGranted');
    s = ops.roleRevokePermission(s, 'r', b('b'), b('c'));
    assert.equal(ops.roleGet(s, 'r').length, 1);
    s = ops.roleAdd(ops.roleAdd(s, 'b'), 'a');
    assert.deepEqual(s.roles.map((r) => r.name), ['a', 'b', 'r']);
  });

  it('RoleGet of root lists its stored permissions (none), as etcd 3.4', () => {
    const s = ops.roleAdd(INITIAL_AUTH_STATE, 'root');
    assert.deepEqual(ops.roleGet(s, 'root'), []);
  });
});
