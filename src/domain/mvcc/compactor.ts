import type { Logger } from '../../ports/logger.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import type { Scheduler } from '../../ports/scheduler.js';

/**
 * Removes the history rows a compaction made unreadable, in bounded steps with the event loop
 * free in between so writes keep flowing. One purge runs at a time; asking again while one runs
 * joins it (it continues up to the newest compaction revision). Progress is persisted by the
 * backend, so a purge cut short by a crash resumes at start-up.
 */
export class Compactor {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly backend: MvccBackend,
    private readonly scheduler: Scheduler,
    private readonly rowsPerStep: number,
    private readonly logger: Logger,
  ) {}

  /** Ends a running purge after its current step (before the backend closes); it resumes on restart. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  purge(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop()
      .catch((err: unknown) => {
        this.logger.error({ err }, 'compaction purge failed; it resumes at the next compaction or restart');
        throw err;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async loop(): Promise<void> {
    let steps = 0;
    do {
      this.again = false;
      while (!this.stopped && !this.backend.purgeStep(this.rowsPerStep)) {
        steps++;
        if (steps % 100 === 0) this.logger.info({ steps, compactRevision: this.backend.compactRevision() }, 'compaction purge in progress');
        await this.scheduler.yield();
      }
    } while (this.again && !this.stopped);
    if (steps > 0) this.logger.debug({ steps, compactRevision: this.backend.compactRevision() }, 'compaction purge done');
  }
}
