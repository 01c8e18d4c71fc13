import type { CancelTimer, Timers } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { CommittedBatch } from '../mvcc/types.js';
import type { CheckpointResult, CheckpointWriter } from './checkpoint-writer.js';

/**
 * When checkpoints happen: every `intervalMs` if anything was written since the last one, after
 * `entries` revisions (0: off), and once at start when the store is ahead of the newest
 * checkpoint. Each checkpoint is followed by garbage collection (keep 2). One runs at a time; a
 * failure is logged and the next trigger tries again.
 */
export interface CheckpointSchedulerOptions {
  readonly intervalMs: number;
  readonly entries: number;
}

export class CheckpointScheduler {
  private cancel: CancelTimer | undefined;
  private written = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly writer: CheckpointWriter,
    private readonly afterCheckpoint: (result: CheckpointResult) => Promise<void>,
    private readonly timers: Timers,
    private readonly logger: Logger,
    private readonly options: CheckpointSchedulerOptions,
  ) {}

  /** Starts the timer; `now` also writes one right away. */
  start(now: boolean): void {
    this.arm();
    if (now) this.trigger('start');
  }

  /** Pipeline listener: counts revisions towards `entries`. */
  committed(batch: CommittedBatch): void {
    this.written += Math.max(1, batch.toRevision - batch.fromRevision);
    if (this.options.entries > 0 && this.written >= this.options.entries) this.trigger('entries');
  }

  /** Runs a checkpoint now (or right after the one in progress); resolves when it is done. */
  trigger(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.written = 0;
    this.running = (async () => {
      try {
        const result = await this.writer.write();
        if (result !== undefined) await this.afterCheckpoint(result);
      } catch (error) {
        this.logger.warn({ err: error, reason }, 'checkpoint failed; the next one will try again');
      }
    })().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.trigger('queued');
      }
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    await this.running;
  }

  private arm(): void {
    if (this.stopped) return;
    this.cancel = this.timers.after(this.options.intervalMs, () => {
      if (this.written > 0) void this.trigger('interval');
      this.arm();
    });
  }
}
