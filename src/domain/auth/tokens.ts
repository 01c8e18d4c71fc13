import type { Clock } from '../../ports/clock.js';
import type { Random } from '../../ports/random.js';

/**
 * etcd's simple tokens: random, opaque, held in memory only (a restart logs everyone out, as
 * etcd), valid for `ttlMs` after their last use (sliding, as etcd's simple token TTL keeper).
 *
 * Bounded: at most `tokensMax` tokens; issuing one more drops expired tokens, then the least
 * recently used one. Time is the monotonic clock.
 */
export interface TokenTableOptions {
  readonly ttlMs: number;
  readonly tokensMax: number;
}

interface Entry {
  readonly user: string;
  expiresAtMs: number;
}

export class TokenTable {
  /** In least-recently-used order (a use moves a token to the end). */
  private readonly tokens = new Map<string, Entry>();
  private sequence = 0;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly options: TokenTableOptions,
  ) {}

  issue(user: string): string {
    const now = this.clock.monotonicMs();
    this.dropExpired(now);
    while (this.tokens.size >= this.options.tokensMax) {
      const oldest = this.tokens.keys().next().value as string;
      this.tokens.delete(oldest);
    }
    const random = [this.random.u64(), this.random.u64()].map((x) => x.toString(16).padStart(16, '0')).join('');
    // etcd's simple token shape: random part, '.', a sequence number.
    const token = `${random}.${++this.sequence}`;
    this.tokens.set(token, { user, expiresAtMs: now + this.options.ttlMs });
    return token;
  }

  /** The token's user, extending its life; undefined when unknown or expired. */
  use(token: string): string | undefined {
    const entry = this.tokens.get(token);
    if (entry === undefined) return undefined;
    const now = this.clock.monotonicMs();
    this.tokens.delete(token);
    if (entry.expiresAtMs <= now) return undefined;
    entry.expiresAtMs = now + this.options.ttlMs;
    this.tokens.set(token, entry);
    return entry.user;
  }

  /** Logs a user out everywhere (deleted, or its password changed). */
  revokeUser(user: string): void {
    for (const [token, entry] of this.tokens) if (entry.user === user) this.tokens.delete(token);
  }

  clear(): void {
    this.tokens.clear();
  }

  size(): number {
    return this.tokens.size;
  }

  private dropExpired(now: number): void {
    for (const [token, entry] of this.tokens) if (entry.expiresAtMs <= now) this.tokens.delete(token);
  }
}
