import { assert } from '../assert.js';
import { ClosedError } from '../errors.js';
import type { KeyRange } from '../mvcc/key-range.js';
import type { AuthState } from '../auth/types.js';
import type { Change, CommittedBatch, KeyValue, LeaseId, Revision } from '../mvcc/types.js';
import type { MvccBackend, StorageSize, StoredLease } from '../../ports/mvcc-backend.js';
import type { Logger } from '../../ports/logger.js';
import type { Scheduler } from '../../ports/scheduler.js';

/**
 * Applies committed batches to the store after their callers have been answered, and before
 * anything reads the store again.
 *
 * A batch is durable once its stages (the WAL's fdatasync, the object store) accepted it; the
 * store (SQLite) is a projection of the WAL that replay rebuilds. So the write pipeline hands a
 * durable batch over here (`apply` only queues it), resolves its callers, and the store's
 * transaction runs after the responses have left: on the next scheduler turn, or earlier,
 * synchronously, at the first read of any kind. Every read, of every caller (KV, watch catch-up,
 * leases, auth, the next batch's evaluation, checkpoints), goes through this object and applies
 * what is queued first, so nothing ever reads a state older than an acknowledged write: reads
 * stay linearizable, and the ~80 µs SQLite transaction leaves a lone writer's round trip.
 *
 * Invariants: a batch handed over starts where the last one ended (checked then, as the store
 * would); batches reach the store in the order they were handed over, each exactly once. A
 * store that fails to apply a batch has an acknowledged write missing, so from then on every read
 * and write fails (`ClosedError`) until a restart replays the WAL; the failure is logged once.
 *
 * Readers outside this process (serving processes reading the database file) do not pass through
 * here: whoever feeds them calls `settle()` before telling them about a batch.
 */
export class DeferredApplyBackend implements MvccBackend {
  private readonly queued: CommittedBatch[] = [];
  private scheduled = false;
  private failure: Error | undefined;

  constructor(
    private readonly store: MvccBackend,
    private readonly scheduler: Scheduler,
    private readonly logger: Logger,
  ) {}

  /** Queues a durable batch; the store applies it on the next turn or at the next read. */
  apply(batch: CommittedBatch): void {
    this.throwIfFailed();
    // The store's own checks, at hand-over, so a broken batch fails its writer and not a later reader.
    const last = this.queued[this.queued.length - 1];
    const revision = last === undefined ? this.store.currentRevision() : last.toRevision;
    assert(batch.fromRevision === revision, `batch starts at ${batch.fromRevision}, store is at ${revision}`);
    if (batch.compactRevision !== undefined) {
      const compacted = this.queued.findLast((queued) => queued.compactRevision !== undefined)?.compactRevision ?? this.store.compactRevision();
      assert(batch.compactRevision > compacted, 'compaction revision must advance');
    }
    this.queued.push(batch);
    if (this.scheduled) return;
    this.scheduled = true;
    void this.scheduler.yield().then(() => {
      this.scheduled = false;
      try {
        this.settle();
      } catch {
        // Recorded and logged by settle; the next read or write reports it.
      }
    });
  }

  /** Applies every queued batch now. Throws once applying one has failed. */
  settle(): void {
    this.throwIfFailed();
    while (this.queued.length > 0) {
      const batch = this.queued[0] as CommittedBatch;
      try {
        this.store.apply(batch);
      } catch (error) {
        this.failure = error instanceof Error ? error : new Error(String(error));
        this.logger.error(
          { err: this.failure, fromRevision: batch.fromRevision, toRevision: batch.toRevision },
          'applying a durable batch to the store failed; refusing reads and writes until a restart replays the WAL',
        );
        throw this.closedError();
      }
      this.queued.shift();
    }
  }

  /** Batches handed over and not yet applied (tests, metrics). */
  queuedBatches(): number {
    return this.queued.length;
  }

  currentRevision(): Revision {
    this.settle();
    return this.store.currentRevision();
  }

  compactRevision(): Revision {
    this.settle();
    return this.store.compactRevision();
  }

  range(range: KeyRange, revision: Revision, limit: number): KeyValue[] {
    this.settle();
    return this.store.range(range, revision, limit);
  }

  count(range: KeyRange, revision: Revision): number {
    this.settle();
    return this.store.count(range, revision);
  }

  get(key: Uint8Array): KeyValue | undefined {
    this.settle();
    return this.store.get(key);
  }

  currentRecords(range: KeyRange, limit: number): { readonly records: Uint8Array; readonly n: number } | undefined {
    this.settle();
    return this.store.currentRecords?.(range, limit);
  }

  changesBetween(afterRevision: Revision, toRevision: Revision, limit: number): Change[] {
    this.settle();
    return this.store.changesBetween(afterRevision, toRevision, limit);
  }

  authState(): AuthState | undefined {
    this.settle();
    return this.store.authState();
  }

  leases(): StoredLease[] {
    this.settle();
    return this.store.leases();
  }

  keysWithLease(id: LeaseId): Uint8Array[] {
    this.settle();
    return this.store.keysWithLease(id);
  }

  purgeStep(rowsMax: number): boolean {
    this.settle();
    return this.store.purgeStep(rowsMax);
  }

  durableCheckpoint(): Promise<Revision> {
    try {
      this.settle();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.store.durableCheckpoint();
  }

  size(): StorageSize {
    this.settle();
    return this.store.size();
  }

  defragment(): void {
    this.settle();
    this.store.defragment();
  }

  /** Applies what is queued (unless applying already failed) and closes the store. */
  close(): void {
    try {
      if (this.failure === undefined) this.settle();
    } catch {
      // Logged by settle; the batch is in the WAL and the next start replays it.
    } finally {
      this.store.close();
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.closedError();
  }

  private closedError(): ClosedError {
    return new ClosedError(`t4: applying a written batch failed (${this.failure?.message ?? 'unknown'}); restart to replay the WAL`);
  }
}
