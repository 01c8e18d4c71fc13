import type { CancelTimer, Clock, Timers } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { LeaseId } from '../mvcc/types.js';
import type { LeaseTable } from './lease-table.js';

/**
 * Drives lease expiry on the `Timers` port: one timer, armed for the table's next check. When it
 * fires, every lease the table reports expired is revoked through `revoke` (a normal write through
 * the pipeline, so it is logged and watched). A revoke that fails is retried after `retryMs`.
 * Each expired lease has at most one revoke in flight; `expire` lets a keepalive that finds its
 * lease expired wait for that revoke, as etcd's Renew does.
 */
export class LeaseExpiry {
  private cancel: CancelTimer | undefined;
  private armedAtMs = Infinity;
  private running = false;
  private readonly inFlight = new Map<LeaseId, Promise<void>>();

  constructor(
    private readonly table: LeaseTable,
    private readonly clock: Clock,
    private readonly timers: Timers,
    private readonly revoke: (id: LeaseId) => Promise<unknown>,
    private readonly retryMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running = true;
    this.reschedule();
  }

  /** Stops the timer; revokes in flight finish (or fail) on their own. */
  stop(): void {
    this.running = false;
    this.disarm();
  }

  /** Call after the table gained an earlier check (a grant, a restore). */
  reschedule(): void {
    if (!this.running) return;
    const next = this.table.nextCheckMs();
    if (next === undefined) return this.disarm();
    if (this.cancel !== undefined && this.armedAtMs <= next) return;
    this.disarm();
    this.armedAtMs = next;
    this.cancel = this.timers.after(Math.max(0, next - this.clock.monotonicMs()), () => this.fire());
  }

  /** Revokes an expired lease (joining the revoke already in flight); resolves when it is done. */
  expire(id: LeaseId): Promise<void> {
    const existing = this.inFlight.get(id);
    if (existing !== undefined) return existing;
    const done = this.revoke(id).then(
      () => undefined,
      (err: unknown) => {
        if (!this.running) return; // closing: the lease is restored (full TTL) on the next start
        this.logger.warn({ err, lease: id.toString() }, 'revoking an expired lease failed; retrying');
        this.table.retryAt(id, this.clock.monotonicMs() + this.retryMs);
        this.reschedule();
      },
    );
    const tracked = done.finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, tracked);
    return tracked;
  }

  private fire(): void {
    this.cancel = undefined;
    this.armedAtMs = Infinity;
    if (!this.running) return;
    for (const id of this.table.expired(this.clock.monotonicMs())) void this.expire(id);
    this.reschedule();
  }

  private disarm(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.armedAtMs = Infinity;
  }
}
