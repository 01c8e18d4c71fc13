import { LeaseExistsError, LeaseNotFoundError, LeaseTtlTooLargeError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { CommittedBatch, LeaseId, Revision } from '../mvcc/types.js';
import type { WriteTxn } from '../mvcc/write-txn.js';
import type { WritePipeline } from '../write/write-pipeline.js';
import type { Clock, Timers } from '../../ports/clock.js';
import type { LeaseLookup, PendingLeases } from '../../ports/lease-lookup.js';
import type { Logger } from '../../ports/logger.js';
import type { StoredLease } from '../../ports/mvcc-backend.js';
import type { Random } from '../../ports/random.js';
import { LeaseExpiry } from './lease-expiry.js';
import { LeaseTable } from './lease-table.js';
import { revokeInTxn, type AttachedKeys } from './revoke.js';

/** What the lease service reads from the store (MvccBackend implements it). */
export interface LeaseStore extends AttachedKeys {
  currentRevision(): Revision;
  /** Every lease granted and not revoked, as committed. */
  leases(): StoredLease[];
}

export type LeaseLimits = Pick<Limits, 'leaseTtlSecondsMin' | 'leaseTtlSecondsMax' | 'leaseRevokeRetryMs'>;

export interface Granted {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  readonly revision: Revision;
}

export interface TimeToLive {
  /** Seconds left (truncated, as etcd); -1 for an unknown lease. */
  readonly ttlSeconds: number;
  /** The granted TTL; 0 for an unknown lease. */
  readonly grantedTtlSeconds: number;
  /** The attached keys, in key order (when asked for). */
  readonly keys: readonly Uint8Array[];
  readonly revision: Revision;
}

const INT63_MASK = (1n << 63n) - 1n;

/**
 * etcd's Lease service in domain terms: Grant, Revoke, KeepAlive, TimeToLive, Leases, and expiry.
 *
 * Grants and revokes are write requests through the one WritePipeline: a grant takes no revision;
 * a revoke deletes every attached key at one revision (DELETE events for watchers) and takes none
 * when no key is attached. The table is changed only from committed batches (`onCommitted`), so it
 * always matches the WAL; requests in a batch see grants and revokes ahead of them through the
 * batch's overlay (`PendingLeases`). Keepalives renew in memory only (etcd does not log them).
 *
 * Time: expiry is measured on the monotonic clock. Across a restart every stored lease gets its
 * full TTL back, as etcd does by default (no checkpointed remaining TTL).
 *
 * Worked example (store at 5): grant(ttl 1)@t0 -> id 7, TTL 2 (clamped), header 5;
 * put(a, lease 7) -> 6; timeToLive(7)@t0+0.5s -> TTL 1, keys [a]; at t0+2s the lease expires:
 * revoke deletes a at 7; timeToLive(7) -> TTL -1; keepAlive(7) -> TTL 0.
 */
export class LeaseService implements LeaseLookup {
  private readonly table = new LeaseTable();
  private readonly expiry: LeaseExpiry;

  constructor(
    private readonly store: LeaseStore,
    private readonly pipeline: WritePipeline,
    private readonly clock: Clock,
    timers: Timers,
    private readonly random: Random,
    private readonly limits: LeaseLimits,
    logger: Logger,
  ) {
    const now = clock.monotonicMs();
    for (const lease of store.leases()) this.table.grant(lease.id, lease.ttlSeconds, now);
    this.expiry = new LeaseExpiry(this.table, clock, timers, (id) => this.revokeExpired(id), limits.leaseRevokeRetryMs, logger);
    pipeline.onCommitted((batch) => this.applyCommitted(batch));
  }

  /** Starts expiring leases (call once the node serves; restored leases count from construction). */
  start(): void {
    this.expiry.start();
  }

  stop(): void {
    this.expiry.stop();
  }

  /** LeaseLookup: does the lease exist for a request evaluated now, counting its batch so far? */
  leaseExists(id: LeaseId, pending: PendingLeases): boolean {
    return pending.pendingLease(id) ?? this.table.has(id);
  }

  /**
   * Grants a lease. `id` 0 lets the server choose a random positive int63; a client-chosen id
   * that exists fails with LeaseExistsError. TTLs below the minimum are raised to it; above the
   * maximum fail with LeaseTtlTooLargeError (checked first, as etcd's lessor.Grant).
   */
  grant(ttlSeconds: number, id: LeaseId = 0n, signal?: AbortSignal): Promise<Granted> {
    if (ttlSeconds > this.limits.leaseTtlSecondsMax) return Promise.reject(new LeaseTtlTooLargeError());
    const ttl = Math.max(Math.trunc(ttlSeconds), this.limits.leaseTtlSecondsMin);
    return this.pipeline.submit((tx) => {
      let chosen = id;
      if (chosen === 0n) {
        while (chosen === 0n || this.leaseExists(chosen, tx.view)) chosen = this.random.u64() & INT63_MASK;
      } else if (this.leaseExists(chosen, tx.view)) {
        throw new LeaseExistsError();
      }
      tx.grantLease(chosen, ttl);
      return { id: chosen, ttlSeconds: ttl, revision: tx.currentRevision() };
    }, signal);
  }

  /** Revokes a lease, deleting its keys at one revision; the header is that revision (or the current one). */
  revoke(id: LeaseId, signal?: AbortSignal): Promise<{ revision: Revision }> {
    return this.pipeline.submit((tx) => {
      if (!this.leaseExists(id, tx.view)) throw new LeaseNotFoundError();
      revokeInTxn(tx, this.store, id);
      return { revision: writeHeader(tx) };
    }, signal);
  }

  /**
   * Renews the lease's full TTL and answers it; 0 for an unknown lease (not an error, as etcd).
   * A lease already expired is not renewed: the keepalive waits for its revoke and answers 0.
   * The header revision is read before the renewal, as etcd's.
   */
  async keepAlive(id: LeaseId): Promise<{ ttlSeconds: number; revision: Revision }> {
    const revision = this.store.currentRevision();
    const now = this.clock.monotonicMs();
    const remaining = this.table.remainingMs(id, now);
    if (remaining === undefined) return { ttlSeconds: 0, revision };
    if (remaining <= 0) {
      await this.expiry.expire(id);
      return { ttlSeconds: 0, revision };
    }
    return { ttlSeconds: this.table.renew(id, now) ?? 0, revision };
  }

  /** Remaining and granted TTL (remaining -1 for an unknown lease, not an error) and, if asked, the keys. */
  timeToLive(id: LeaseId, withKeys: boolean): TimeToLive {
    const revision = this.store.currentRevision();
    const lease = this.table.get(id);
    if (lease === undefined) return { ttlSeconds: -1, grantedTtlSeconds: 0, keys: [], revision };
    // etcd: int64(Remaining().Seconds()), truncated; an expired lease awaiting its revoke shows 0.
    const ttlSeconds = Math.max(0, Math.trunc((lease.expiryMs - this.clock.monotonicMs()) / 1000));
    return { ttlSeconds, grantedTtlSeconds: lease.ttlSeconds, keys: withKeys ? this.store.keysWithLease(id) : [], revision };
  }

  /** Every lease id, soonest expiry first (etcd's order). */
  leases(): { ids: LeaseId[]; revision: Revision } {
    return { ids: this.table.list().map((l) => l.id), revision: this.store.currentRevision() };
  }

  /** An expired lease's revoke: a no-op if it is gone (revoked meanwhile) or was renewed. */
  private revokeExpired(id: LeaseId): Promise<unknown> {
    return this.pipeline.submit((tx) => {
      if (tx.view.pendingLease(id) !== undefined) return; // revoked (or revoked and granted again) ahead in this batch
      const remaining = this.table.remainingMs(id, this.clock.monotonicMs());
      if (remaining === undefined || remaining > 0) return;
      revokeInTxn(tx, this.store, id);
    });
  }

  private applyCommitted(batch: CommittedBatch): void {
    const changes = batch.leaseChanges;
    if (changes === undefined) return;
    const now = this.clock.monotonicMs();
    let granted = false;
    for (const change of changes) {
      if (change.kind === 'grant') {
        this.table.grant(change.id, change.ttlSeconds, now);
        granted = true;
      } else {
        this.table.revoke(change.id);
      }
    }
    if (granted) this.expiry.reschedule();
  }
}

function writeHeader(tx: WriteTxn): Revision {
  return tx.hasChanges() ? tx.writeRevision : tx.beginRevision;
}
