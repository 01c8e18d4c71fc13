import type { Clock } from '../../ports/clock.js';

/**
 * Brute-force protection for Authenticate (the Go T4's rule; etcd has none): `failuresMax` failed
 * logins of one user name within `windowMs` lock that name for `lockMs`. A success clears the
 * name's failures. Names that do not exist count too, so probing for users is locked the same way.
 * Bounded: at most `namesMax` names are tracked; beyond it the oldest record is dropped.
 */
export interface LoginLimiterOptions {
  readonly failuresMax: number;
  readonly windowMs: number;
  readonly lockMs: number;
  readonly namesMax: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimiterOptions = { failuresMax: 5, windowMs: 5 * 60_000, lockMs: 15 * 60_000, namesMax: 10_000 };

interface Record {
  failuresAtMs: number[];
  lockedUntilMs: number;
}

export class LoginLimiter {
  private readonly records = new Map<string, Record>();

  constructor(
    private readonly clock: Clock,
    private readonly options: LoginLimiterOptions = DEFAULT_LOGIN_LIMITS,
  ) {}

  isLocked(name: string): boolean {
    const r = this.records.get(name);
    return r !== undefined && r.lockedUntilMs > this.clock.monotonicMs();
  }

  failed(name: string): void {
    const now = this.clock.monotonicMs();
    let r = this.records.get(name);
    if (r === undefined) {
      if (this.records.size >= this.options.namesMax) this.records.delete(this.records.keys().next().value as string);
      r = { failuresAtMs: [], lockedUntilMs: 0 };
      this.records.set(name, r);
    }
    r.failuresAtMs = r.failuresAtMs.filter((t) => t > now - this.options.windowMs);
    r.failuresAtMs.push(now);
    if (r.failuresAtMs.length >= this.options.failuresMax) {
      r.lockedUntilMs = now + this.options.lockMs;
      r.failuresAtMs = [];
    }
  }

  succeeded(name: string): void {
    this.records.delete(name);
  }
}
