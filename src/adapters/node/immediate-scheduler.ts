import type { Scheduler } from '../../ports/scheduler.js';

/** Yields with setImmediate, so pending I/O callbacks (requests) run before the next step. */
export class ImmediateScheduler implements Scheduler {
  yield(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }
}
