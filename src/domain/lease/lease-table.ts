import type { LeaseId } from '../mvcc/types.js';
import { ExpiryQueue } from './expiry-queue.js';

/** A lease as the table holds it. Expiry is on the monotonic clock (Clock.monotonicMs). */
export interface Lease {
  readonly id: LeaseId;
  /** The granted TTL (after clamping to the minimum). */
  readonly ttlSeconds: number;
  readonly expiryMs: number;
}

interface Entry {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  expiryMs: number;
  /** Bumped on every (re)schedule; queue items of older generations are stale. */
  generation: number;
}

/**
 * The leases that exist, with their expiry times. Pure state: it never reads a clock (callers
 * pass `nowMs`) and never writes; the lease service changes it only from committed batches
 * (grants, revokes) and keepalives (renewals), so it always matches the WAL.
 *
 * Invariants: every lease has exactly one current item in the expiry queue until `expired`
 * reports it (then none until `retryAt` or a renewal); a lease is reported by `expired` once per
 * expiry.
 *
 * Worked example (now in ms): grant(7, ttl 10)@0 -> remaining 10,000; renew(7)@4,000 -> expiry
 * 14,000; expired(13,999) -> []; expired(14,000) -> [7]; expired(15,000) -> [] (reported once).
 */
export class LeaseTable {
  private readonly byId = new Map<LeaseId, Entry>();
  private readonly queue = new ExpiryQueue();
  private generations = 0;

  get size(): number {
    return this.byId.size;
  }

  has(id: LeaseId): boolean {
    return this.byId.has(id);
  }

  get(id: LeaseId): Lease | undefined {
    const e = this.byId.get(id);
    return e === undefined ? undefined : { id: e.id, ttlSeconds: e.ttlSeconds, expiryMs: e.expiryMs };
  }

  /** Adds (or, replaying, replaces) a lease expiring a full TTL from now. */
  grant(id: LeaseId, ttlSeconds: number, nowMs: number): void {
    const entry: Entry = { id, ttlSeconds, expiryMs: nowMs + ttlSeconds * 1000, generation: 0 };
    this.byId.set(id, entry);
    this.schedule(entry, entry.expiryMs);
  }

  revoke(id: LeaseId): boolean {
    return this.byId.delete(id);
  }

  /** Restarts the lease's full TTL from now; returns the TTL, or undefined for an unknown lease. */
  renew(id: LeaseId, nowMs: number): number | undefined {
    const entry = this.byId.get(id);
    if (entry === undefined) return undefined;
    entry.expiryMs = nowMs + entry.ttlSeconds * 1000;
    this.schedule(entry, entry.expiryMs);
    return entry.ttlSeconds;
  }

  /** Milliseconds until the lease expires (<= 0: expired), undefined for an unknown lease. */
  remainingMs(id: LeaseId, nowMs: number): number | undefined {
    const entry = this.byId.get(id);
    return entry === undefined ? undefined : entry.expiryMs - nowMs;
  }

  /**
   * The leases that expired at or before `nowMs` and were not reported yet, in expiry order. The
   * caller revokes them; if a revoke fails it calls `retryAt`.
   */
  expired(nowMs: number): LeaseId[] {
    const out: LeaseId[] = [];
    for (let top = this.queue.peek(); top !== undefined && top.atMs <= nowMs; top = this.queue.peek()) {
      this.queue.pop();
      if (this.isCurrent(top.id, top.generation)) out.push(top.id);
    }
    return out;
  }

  /** Reports an expired lease again at `atMs` (its revoke failed and must be retried). */
  retryAt(id: LeaseId, atMs: number): void {
    const entry = this.byId.get(id);
    if (entry !== undefined) this.schedule(entry, atMs);
  }

  /** When `expired` will next report something, if ever. */
  nextCheckMs(): number | undefined {
    for (let top = this.queue.peek(); top !== undefined; top = this.queue.peek()) {
      if (this.isCurrent(top.id, top.generation)) return top.atMs;
      this.queue.pop();
    }
    return undefined;
  }

  /** Every lease, soonest expiry first (etcd's Leases() order), ties by id. */
  list(): Lease[] {
    return [...this.byId.values()]
      .sort((a, b) => a.expiryMs - b.expiryMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((e) => ({ id: e.id, ttlSeconds: e.ttlSeconds, expiryMs: e.expiryMs }));
  }

  private schedule(entry: Entry, atMs: number): void {
    entry.generation = ++this.generations;
    this.queue.push({ atMs, id: entry.id, generation: entry.generation });
  }

  private isCurrent(id: LeaseId, generation: number): boolean {
    return this.byId.get(id)?.generation === generation;
  }
}
