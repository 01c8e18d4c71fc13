/**
 * The auth model, as etcd's (authpb): users hold roles, roles hold key-range permissions.
 *
 * Invariants: names are unique; `users` and `roles` are sorted by name, a user's `roles` are
 * sorted and unique, a role's permissions are sorted by (key, rangeEnd) and unique by it (a grant
 * on the same range replaces the type, as etcd). `revision` is etcd's auth revision: it starts at 1
 * and every change of users or roles bumps it; enabling and disabling do not. Auth changes take no
 * KV revision.
 *
 * A permission covers: `rangeEnd` empty: the key alone; `rangeEnd` = "\0": every key >= key;
 * otherwise [key, rangeEnd). The role `root` covers everything (its stored permissions are unused).
 */
export type PermType = 'read' | 'write' | 'readwrite';

export interface Permission {
  readonly key: Uint8Array;
  readonly rangeEnd: Uint8Array;
  readonly permType: PermType;
}

export interface Role {
  readonly name: string;
  readonly permissions: readonly Permission[];
}

export interface User {
  readonly name: string;
  /** A salted hash from the PasswordHasher; undefined for a user added with `no_password` (cannot log in). */
  readonly passwordHash: string | undefined;
  readonly roles: readonly string[];
}

export interface AuthState {
  readonly enabled: boolean;
  readonly revision: number;
  readonly users: readonly User[];
  readonly roles: readonly Role[];
}

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

export const INITIAL_AUTH_STATE: AuthState = { enabled: false, revision: 1, users: [], roles: [] };

export function hasRootRole(user: User): boolean {
  return user.roles.includes(ROOT_ROLE);
}
