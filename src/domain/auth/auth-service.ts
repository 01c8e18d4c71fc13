import { AuthFailedError, AuthNotEnabledError, InvalidAuthTokenError, PermissionDeniedError, UserEmptyError, UserNotFoundError } from '../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import type { PasswordHasher } from '../../ports/password-hasher.js';
import type { Random } from '../../ports/random.js';
import type { WritePipeline } from '../write/write-pipeline.js';
import type { TxnRequest, RequestOp } from '../mvcc/requests.js';
import type { LeaseId } from '../mvcc/types.js';
import * as ops from './auth-state.js';
import { LoginLimiter, DEFAULT_LOGIN_LIMITS, type LoginLimiterOptions } from './login-limiter.js';
import { PermissionSet } from './permissions.js';
import { TokenTable } from './tokens.js';
import { hasRootRole, INITIAL_AUTH_STATE, type AuthState, type Permission } from './types.js';

/**
 * etcd's auth store and its checks (server/auth/store.go, etcdserver/apply_auth.go), over T4's
 * write path: every change of users, roles or the enabled flag is one write request carrying the
 * whole new auth state, so it is in the WAL, survives restarts and replays idempotently. Tokens and
 * login failures are memory only (etcd's simple tokens are too).
 *
 * Checks take the caller's user name (from a token or a client certificate; undefined when the
 * caller gave neither). With auth disabled every check passes. With it enabled, as etcd:
 *  - no user: `user name is empty`;
 *  - an unknown user: `permission denied` (key checks) or `user name not found` (admin checks);
 *  - a user with the root role passes every check; others need a role covering the range.
 *
 * Example: userAdd(root), roleAdd(root), userGrantRole(root, root), enable(); authenticate(root, pw)
 * -> token; identify(token) -> 'root'; checkRead(undefined, a) -> UserEmpty.
 */
export interface AuthServiceOptions {
  /** Simple-token lifetime after its last use (etcd --auth-token-ttl; T4 --token-ttl). */
  readonly tokenTtlMs: number;
  readonly tokensMax: number;
  readonly loginLimits?: LoginLimiterOptions;
}

export type AccessKind = 'read' | 'write';

export class AuthService {
  private readonly tokens: TokenTable;
  private readonly limiter: LoginLimiter;
  private permissionCache: { state: AuthState; byUser: Map<string, PermissionSet> } | undefined;
  /** A hash of no password, verified when the user does not exist so a miss costs as much as a hit. */
  private decoy: Promise<string> | undefined;

  constructor(
    private readonly backend: MvccBackend,
    private readonly pipeline: WritePipeline,
    private readonly hasher: PasswordHasher,
    clock: Clock,
    random: Random,
    options: AuthServiceOptions,
    private readonly logger: Logger,
  ) {
    this.tokens = new TokenTable(clock, random, { ttlMs: options.tokenTtlMs, tokensMax: options.tokensMax });
    this.limiter = new LoginLimiter(clock, options.loginLimits ?? DEFAULT_LOGIN_LIMITS);
  }

  state(): AuthState {
    return this.backend.authState() ?? INITIAL_AUTH_STATE;
  }

  status(): { enabled: boolean; revision: number } {
    const s = this.state();
    return { enabled: s.enabled, revision: s.revision };
  }

  /** Checks the password (off the event loop) and issues a simple token. */
  async authenticate(name: string, password: string): Promise<string> {
    if (!this.state().enabled) throw new AuthNotEnabledError();
    if (this.limiter.isLocked(name)) {
      this.logger.warn({ user: name }, 'authentication refused: user locked after repeated failures');
      throw new AuthFailedError();
    }
    const user = ops.findUser(this.state(), name);
    const hash = user?.passwordHash ?? (await this.decoyHash());
    const matches = await this.hasher.verify(password, hash);
    // The state may have changed while hashing: decide on the current one.
    const now = ops.findUser(this.state(), name);
    if (!matches || user === undefined || user.passwordHash === undefined || now?.passwordHash !== user.passwordHash) {
      this.limiter.failed(name);
      this.logger.info({ user: name }, 'authentication failed');
      throw new AuthFailedError();
    }
    if (!this.state().enabled) throw new AuthNotEnabledError();
    this.limiter.succeeded(name);
    return this.tokens.issue(name);
  }

  // ---- administration (etcd's needAdminPermission requests; the caller checks checkAdmin first) ----

  async enable(signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.enable(s), signal);
  }

  async disable(signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.disable(s), signal);
    this.tokens.clear();
  }

  async userAdd(name: string, password: string, noPassword: boolean, signal?: AbortSignal): Promise<void> {
    // Checked before the slow hash, and again (in order with other writes) when applied.
    ops.userAdd(this.state(), name, undefined);
    const hash = noPassword ? undefined : await this.hasher.hash(password);
    await this.change((s) => ops.userAdd(s, name, hash), signal);
  }

  async userDelete(name: string, signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.userDelete(s, name), signal);
    this.tokens.revokeUser(name);
  }

  async userChangePassword(name: string, password: string, signal?: AbortSignal): Promise<void> {
    ops.userChangePassword(this.state(), name, undefined);
    const hash = await this.hasher.hash(password);
    await this.change((s) => ops.userChangePassword(s, name, hash), signal);
    this.tokens.revokeUser(name);
  }

  async userGrantRole(name: string, role: string, signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.userGrantRole(s, name, role), signal);
  }

  async userRevokeRole(name: string, role: string, signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.userRevokeRole(s, name, role), signal);
  }

  async roleAdd(name: string, signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.roleAdd(s, name), signal);
  }

  async roleDelete(name: string, signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.roleDelete(s, name), signal);
  }

  async roleGrantPermission(name: string, perm: Permission | undefined, signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.roleGrantPermission(s, name, perm), signal);
  }

  async roleRevokePermission(name: string, key: Uint8Array, rangeEnd: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.change((s) => ops.roleRevokePermission(s, name, key, rangeEnd), signal);
  }

  userGet(name: string): readonly string[] {
    return ops.userGet(this.state(), name);
  }

  userList(): string[] {
    return this.state().users.map((u) => u.name);
  }

  roleGet(name: string): readonly Permission[] {
    return ops.roleGet(this.state(), name);
  }

  roleList(): string[] {
    return this.state().roles.map((r) => r.name);
  }

  // ---- enforcement ----

  /**
   * The caller's user name. A token, when given, must be valid (even with auth disabled, as etcd:
   * tokens die with AuthDisable); without one, the client certificate's common name is the user.
   */
  identify(token: string | undefined, commonName: string | undefined): string | undefined {
    if (token !== undefined && token !== '') {
      const user = this.tokens.use(token);
      if (user === undefined) throw new InvalidAuthTokenError();
      return user;
    }
    return commonName === undefined || commonName === '' ? undefined : commonName;
  }

  /** etcd's isOpPermitted for [key, rangeEnd) (rangeEnd empty or undefined: the key alone). */
  check(user: string | undefined, kind: AccessKind, key: Uint8Array, rangeEnd?: Uint8Array): void {
    const state = this.state();
    if (!state.enabled) return;
    if (user === undefined) throw new UserEmptyError();
    const u = ops.findUser(state, user);
    if (u === undefined || (!hasRootRole(u) && !this.permissionsOf(state, user).allows(kind, key, rangeEnd))) {
      throw new PermissionDeniedError();
    }
  }

  /** etcd's UserGet rule: an admin, or the user asking about themselves. */
  checkUserGet(user: string | undefined, name: string): void {
    if (user !== undefined && user === name && ops.findUser(this.state(), user) !== undefined) return;
    this.checkAdmin(user);
  }

  /** etcd's RoleGet rule: an admin, or a user holding the role. */
  checkRoleGet(user: string | undefined, role: string): void {
    if (user !== undefined && (ops.findUser(this.state(), user)?.roles.includes(role) ?? false)) return;
    this.checkAdmin(user);
  }

  /** etcd's IsAdminPermitted: the user must hold the root role. */
  checkAdmin(user: string | undefined): void {
    const state = this.state();
    if (!state.enabled) return;
    if (user === undefined) throw new UserEmptyError();
    const u = ops.findUser(state, user);
    if (u === undefined) throw new UserNotFoundError();
    if (!hasRootRole(u)) throw new PermissionDeniedError();
  }

  /**
   * etcd's CheckTxnAuth: read on every compare's range; in both branches, read for ranges, write for
   * puts, write (and read with prev_kv) for deletes; nested txns are checked the same way. Puts
   * with a lease also need write on the keys already attached to it (checkLeasePuts).
   */
  checkTxn(user: string | undefined, txn: TxnRequest): void {
    if (!this.state().enabled) return;
    for (const c of txn.compare) this.check(user, 'read', c.key, c.rangeEnd);
    for (const op of [...txn.success, ...txn.failure]) this.checkOp(user, op);
  }

  /** A put attaching `lease` (or revoking it) needs write on every key the lease holds now. */
  checkLeaseKeys(user: string | undefined, lease: LeaseId | undefined): void {
    if (lease === undefined || lease === 0n || !this.state().enabled) return;
    for (const key of this.backend.keysWithLease(lease)) this.check(user, 'write', key);
  }

  /** LeaseTimeToLive with keys: read on each key. */
  checkReadKeys(user: string | undefined, keys: readonly Uint8Array[]): void {
    for (const key of keys) this.check(user, 'read', key);
  }

  private checkOp(user: string | undefined, op: RequestOp): void {
    switch (op.kind) {
      case 'range':
        this.check(user, 'read', op.request.key, op.request.rangeEnd);
        return;
      case 'put':
        this.check(user, 'write', op.request.key);
        this.checkLeaseKeys(user, op.request.lease);
        return;
      case 'deleteRange':
        if (op.request.prevKv === true) this.check(user, 'read', op.request.key, op.request.rangeEnd);
        this.check(user, 'write', op.request.key, op.request.rangeEnd);
        return;
      case 'txn':
        this.checkTxn(user, op.request);
        return;
      case 'empty':
        return;
    }
  }

  private permissionsOf(state: AuthState, user: string): PermissionSet {
    if (this.permissionCache?.state !== state) this.permissionCache = { state, byUser: new Map() };
    let set = this.permissionCache.byUser.get(user);
    if (set === undefined) {
      const roles = ops.findUser(state, user)?.roles ?? [];
      set = new PermissionSet(roles.flatMap((r) => ops.findRole(state, r)?.permissions ?? []));
      this.permissionCache.byUser.set(user, set);
    }
    return set;
  }

  private decoyHash(): Promise<string> {
    this.decoy ??= this.hasher.hash('');
    return this.decoy;
  }

  /** One write request: the next state from the latest one (this batch included), logged and applied. */
  private async change(next: (state: AuthState) => AuthState, signal?: AbortSignal): Promise<void> {
    await this.pipeline.submit((tx) => {
      const current = tx.currentAuthState(this.state());
      const updated = next(current);
      if (updated !== current) tx.setAuthState(updated);
    }, signal);
  }
}
