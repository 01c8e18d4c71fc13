import { assert } from '../assert.js';
import { AbortedError, ClosedError, RequestTimedOutError, T4Error, TooManyRequestsError } from '../errors.js';
import type { Timers } from '../../ports/clock.js';
import type { BatchLog } from '../../ports/batch-log.js';
import type { Logger } from '../../ports/logger.js';
import type { Scheduler } from '../../ports/scheduler.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import { OverlayView } from '../mvcc/overlay-view.js';
import { WriteTxn } from '../mvcc/write-txn.js';
import type { Change, CommittedBatch, LeaseChange, Revision } from '../mvcc/types.js';
import type { AuthState } from '../auth/types.js';

/**
 * The one write path (DESIGN-NOTES 2). Requests queue here; the pipeline takes every queued
 * request as one batch, evaluates each in order against the committed state plus the batch so far
 * (so compares never see a stale state), gives each request that changes something the next
 * revision, passes the batch through the durability stages (`BatchLog`s: the WAL, later the object
 * store and followers), hands it to the backend (one transaction; `DeferredApplyBackend` runs it
 * after the callers are answered and before any read), tells subscribers, and resolves the callers.
 *
 * Invariants: revisions assigned are contiguous from the backend's current revision; a batch is
 * applied only after every stage accepted it; a request that fails its checks changes nothing.
 * A bug while evaluating (an invariant broken) fails that batch only: nothing reached a stage.
 * A stage or apply failure fails every request of that batch and closes the pipeline: the
 * durable record may now be ahead of memory, so only a restart (replay) can continue safely.
 *
 * A stage that waits (the object store is down and its upload retries) holds the batch, which will
 * still be applied when the stage lets it through. After `requestTimeoutMs` the batch's callers and
 * every queued request get etcd's indeterminate `request timed out` (the write may still happen),
 * and while a stage reports itself unavailable new requests are refused at once.
 */
export interface WritePipelineOptions {
  readonly queueRequestsMax: number;
  readonly batchRequestsMax: number;
  /** How long a caller waits for a batch held by a stage before `request timed out` (etcd: 7 s by default). */
  readonly requestTimeoutMs: number;
}

type CommittedListener = (batch: CommittedBatch) => void;

/**
 * Whether the caller has gone (client cancel, deadline, connection lost). An AbortSignal is one;
 * a transport can pass something cheaper (an AbortController costs ~2.4 µs per call here).
 */
export interface Cancellation {
  readonly aborted: boolean;
}

interface Job {
  readonly run: (tx: WriteTxn) => unknown;
  readonly signal: Cancellation | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export class WritePipeline {
  private readonly queue: Job[] = [];
  private readonly listeners: CommittedListener[] = [];
  /** Set synchronously when a drain starts and cleared in the same turn as it sees an empty queue. */
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;

  constructor(
    private readonly backend: MvccBackend,
    private readonly stages: readonly BatchLog[],
    private readonly options: WritePipelineOptions,
    private readonly timers: Timers,
    private readonly logger: Logger,
    /**
     * Where a drain waits before its first batch. With a scheduler that yields to pending I/O
     * (ImmediateScheduler), requests that arrived on other connections in the same event-loop
     * turn join the batch, so concurrent writers share one sync; without one, a microtask.
     */
    private readonly scheduler?: Scheduler,
  ) {}

  /** Called with every committed batch, in revision order, before its callers are resolved. */
  onCommitted(listener: CommittedListener): void {
    this.listeners.push(listener);
  }

  /**
   * Runs `run` as one write request. `run` must do its checks (throwing a typed error) before its
   * first change; it runs synchronously inside the batch, so it sees every request queued ahead.
   */
  submit<T>(run: (tx: WriteTxn) => T, signal?: Cancellation): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(new ClosedError(`t4: write path failed: ${this.failure.message}`));
    if (this.closed) return Promise.reject(new ClosedError());
    if (signal?.aborted) return Promise.reject(new AbortedError());
    for (const stage of this.stages) {
      const unavailable = stage.unavailable?.();
      if (unavailable !== undefined) return Promise.reject(unavailable);
    }
    if (this.queue.length >= this.options.queueRequestsMax) return Promise.reject(new TooManyRequestsError());
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, signal, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        this.drained = this.drain();
      }
    });
  }

  /** Refuses new requests, fails queued ones and waits for the batch in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new ClosedError());
    await this.drained;
  }

  private async drain(): Promise<void> {
    try {
      // Let requests that arrive in the same turn join the first batch.
      await (this.scheduler?.yield() ?? Promise.resolve());
      while (this.queue.length > 0 && this.failure === undefined) {
        const jobs = this.queue.splice(0, this.options.batchRequestsMax);
        await this.runBatch(jobs);
      }
    } finally {
      // No await between the empty-queue check and this: a submit in between would be stranded.
      this.draining = false;
    }
  }

  private async runBatch(jobs: Job[]): Promise<void> {
    let fromRevision: Revision;
    try {
      fromRevision = this.backend.currentRevision();
    } catch (error) {
      // The backend could not apply an earlier (acknowledged) batch: nothing can be evaluated.
      this.fail(error, jobs);
      return;
    }
    const view = new OverlayView(this.backend);
    const changes: Change[] = [];
    let compactRevision: Revision | undefined;
    const leaseChanges: LeaseChange[] = [];
    let authState: AuthState | undefined;
    const accepted: { job: Job; value: unknown }[] = [];

    for (const job of jobs) {
      if (job.signal?.aborted) {
        job.reject(new AbortedError());
        continue;
      }
      const tx = new WriteTxn(view);
      try {
        const value = job.run(tx);
        changes.push(...tx.changes);
        if (tx.compactRevision !== undefined) compactRevision = tx.compactRevision;
        leaseChanges.push(...tx.leaseChanges);
        if (tx.authState !== undefined) authState = tx.authState;
        accepted.push({ job, value });
      } catch (error) {
        if (!(error instanceof T4Error)) {
          // A bug while evaluating: nothing of this batch reached a stage, so failing the batch
          // (loudly) is enough; the write path stays open for the next one.
          this.rejectBatch(error, [...accepted.map((a) => a.job), job, ...jobs.slice(jobs.indexOf(job) + 1)]);
          return;
        }
        assert(
          !tx.hasChanges() && tx.compactRevision === undefined && tx.leaseChanges.length === 0 && tx.authState === undefined,
          'a failed request must not have changed anything',
        );
        job.reject(error);
      }
    }

    const batch: CommittedBatch = {
      fromRevision,
      toRevision: view.currentRevision(),
      changes,
      compactRevision,
      ...(leaseChanges.length > 0 ? { leaseChanges } : {}),
      ...(authState !== undefined ? { authState } : {}),
    };
    if (changes.length > 0 || compactRevision !== undefined || leaseChanges.length > 0 || authState !== undefined) {
      assert(
        batch.toRevision === fromRevision + new Set(changes.map((c) => c.main)).size,
        'revisions in a batch are contiguous',
      );
      const cancelWatchdog = this.watchdog(accepted.map((a) => a.job));
      const hints = { alone: jobs.length === 1 && this.queue.length === 0 };
      try {
        for (const stage of this.stages) await stage.append(batch, hints);
        this.backend.apply(batch);
        for (const listener of this.listeners) listener(batch);
      } catch (error) {
        cancelWatchdog();
        this.fail(error, accepted.map((a) => a.job));
        return;
      }
      cancelWatchdog();
    }
    for (const { job, value } of accepted) job.resolve(value);
  }

  /**
   * While a batch is held by a stage: after each `requestTimeoutMs`, its callers and the requests
   * queued behind it get `request timed out`. Rejecting a settled promise again does nothing.
   */
  private watchdog(jobs: readonly Job[]): () => void {
    let cancel = (): void => {};
    const arm = (): void => {
      cancel = this.timers.after(this.options.requestTimeoutMs, () => {
        const queued = this.queue.splice(0);
        this.logger.warn({ batchRequests: jobs.length, queuedRequests: queued.length }, 'a write batch is waiting for a durability stage; its requests timed out');
        for (const job of jobs) job.reject(new RequestTimedOutError('etcdserver: request timed out'));
        for (const job of queued) job.reject(new RequestTimedOutError('etcdserver: request timed out'));
        arm();
      });
    };
    arm();
    return () => cancel();
  }

  private rejectBatch(error: unknown, jobs: readonly Job[]): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.logger.error({ err }, 'a write request broke an invariant; its batch was not written');
    for (const job of jobs) job.reject(err);
  }

  private fail(error: unknown, jobs: readonly Job[]): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.failure = err;
    this.logger.error({ err }, 'write pipeline failed; refusing writes until restart');
    const closed = new ClosedError(`t4: write path failed: ${err.message}`);
    for (const job of jobs) job.reject(closed);
    for (const job of this.queue.splice(0)) job.reject(closed);
  }
}
