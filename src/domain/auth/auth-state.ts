import { bytesEqual, compareBytes } from '../bytes.js';
import {
  InvalidAuthMgmtError,
  PermissionNotGivenError,
  PermissionNotGrantedError,
  RoleAlreadyExistsError,
  RoleEmptyError,
  RoleNotFoundError,
  RoleNotGrantedError,
  RootRoleNotExistError,
  RootUserNotExistError,
  UserAlreadyExistsError,
  UserEmptyError,
  UserNotFoundError,
} from '../errors.js';
import { hasRootRole, ROOT_ROLE, ROOT_USER, type AuthState, type Permission, type Role, type User } from './types.js';

/**
 * The auth store's operations as pure functions from one state to the next, with etcd's checks,
 * order of checks and errors (server/auth/store.go). Each throws a typed error before changing
 * anything, and returns the same state object when nothing changes (etcd's ignored requests).
 *
 * Example: userAdd(s, 'root', h) -> roleAdd('root') -> userGrantRole('root', 'root') -> enable():
 * enabled, revision 4 (three changes after the initial 1; enable takes none).
 */

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function findUser(state: AuthState, name: string): User | undefined {
  return state.users.find((u) => u.name === name);
}

export function findRole(state: AuthState, name: string): Role | undefined {
  return state.roles.find((r) => r.name === name);
}

function withUsers(state: AuthState, users: User[]): AuthState {
  return { ...state, revision: state.revision + 1, users: users.sort(byName) };
}

function withRoles(state: AuthState, roles: Role[], users: readonly User[] = state.users): AuthState {
  return { ...state, revision: state.revision + 1, roles: roles.sort(byName), users: [...users] };
}

function replaceUser(state: AuthState, user: User): AuthState {
  return withUsers(state, [...state.users.filter((u) => u.name !== user.name), user]);
}

export function enable(state: AuthState): AuthState {
  if (state.enabled) return state;
  const root = findUser(state, ROOT_USER);
  if (root === undefined) throw new RootUserNotExistError();
  if (!hasRootRole(root)) throw new RootRoleNotExistError();
  return { ...state, enabled: true };
}

export function disable(state: AuthState): AuthState {
  return state.enabled ? { ...state, enabled: false } : state;
}

export function userAdd(state: AuthState, name: string, passwordHash: string | undefined): AuthState {
  if (name.length === 0) throw new UserEmptyError();
  if (findUser(state, name) !== undefined) throw new UserAlreadyExistsError();
  return withUsers(state, [...state.users, { name, passwordHash, roles: [] }]);
}

export function userDelete(state: AuthState, name: string): AuthState {
  if (state.enabled && name === ROOT_USER) throw new InvalidAuthMgmtError();
  if (findUser(state, name) === undefined) throw new UserNotFoundError();
  return withUsers(state, state.users.filter((u) => u.name !== name));
}

export function userChangePassword(state: AuthState, name: string, passwordHash: string | undefined): AuthState {
  const user = findUser(state, name);
  if (user === undefined) throw new UserNotFoundError();
  return replaceUser(state, { ...user, passwordHash });
}

export function userGrantRole(state: AuthState, name: string, role: string): AuthState {
  const user = findUser(state, name);
  if (user === undefined) throw new UserNotFoundError();
  // As etcd: the root role may be granted before it exists (etcdctl's `auth enable` relies on the order role add, grant).
  if (role !== ROOT_ROLE && findRole(state, role) === undefined) throw new RoleNotFoundError();
  if (user.roles.includes(role)) return state;
  return replaceUser(state, { ...user, roles: [...user.roles, role].sort() });
}

export function userRevokeRole(state: AuthState, name: string, role: string): AuthState {
  if (state.enabled && name === ROOT_USER && role === ROOT_ROLE) throw new InvalidAuthMgmtError();
  const user = findUser(state, name);
  if (user === undefined) throw new UserNotFoundError();
  if (!user.roles.includes(role)) throw new RoleNotGrantedError();
  return replaceUser(state, { ...user, roles: user.roles.filter((r) => r !== role) });
}

export function roleAdd(state: AuthState, name: string): AuthState {
  if (name.length === 0) throw new RoleEmptyError();
  if (findRole(state, name) !== undefined) throw new RoleAlreadyExistsError();
  return withRoles(state, [...state.roles, { name, permissions: [] }]);
}

/** Deletes the role and revokes it from every user that holds it, as etcd. */
export function roleDelete(state: AuthState, name: string): AuthState {
  if (state.enabled && name === ROOT_ROLE) throw new InvalidAuthMgmtError();
  if (findRole(state, name) === undefined) throw new RoleNotFoundError();
  const users = state.users.map((u) => (u.roles.includes(name) ? { ...u, roles: u.roles.filter((r) => r !== name) } : u));
  return withRoles(state, state.roles.filter((r) => r.name !== name), users);
}

const byRange = (a: Permission, b: Permission): number => compareBytes(a.key, b.key) || compareBytes(a.rangeEnd, b.rangeEnd);

/** A grant on a (key, rangeEnd) the role already has replaces its type; otherwise it is added. */
export function roleGrantPermission(state: AuthState, name: string, perm: Permission | undefined): AuthState {
  if (perm === undefined) throw new PermissionNotGivenError();
  const role = findRole(state, name);
  if (role === undefined) throw new RoleNotFoundError();
  const others = role.permissions.filter((p) => !(bytesEqual(p.key, perm.key) && bytesEqual(p.rangeEnd, perm.rangeEnd)));
  const permissions = [...others, { key: perm.key, rangeEnd: perm.rangeEnd, permType: perm.permType }].sort(byRange);
  return withRoles(state, [...state.roles.filter((r) => r.name !== name), { name, permissions }]);
}

export function roleRevokePermission(state: AuthState, name: string, key: Uint8Array, rangeEnd: Uint8Array): AuthState {
  const role = findRole(state, name);
  if (role === undefined) throw new RoleNotFoundError();
  const permissions = role.permissions.filter((p) => !(bytesEqual(p.key, key) && bytesEqual(p.rangeEnd, rangeEnd)));
  if (permissions.length === role.permissions.length) throw new PermissionNotGrantedError();
  return withRoles(state, [...state.roles.filter((r) => r.name !== name), { name, permissions }]);
}

export function userGet(state: AuthState, name: string): readonly string[] {
  const user = findUser(state, name);
  if (user === undefined) throw new UserNotFoundError();
  return user.roles;
}

/** The role's stored permissions (the root role's are unused: it covers everything; etcd 3.4 lists none for it). */
export function roleGet(state: AuthState, name: string): readonly Permission[] {
  const role = findRole(state, name);
  if (role === undefined) throw new RoleNotFoundError();
  return role.permissions;
}
