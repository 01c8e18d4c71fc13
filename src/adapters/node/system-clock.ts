import type { CancelTimer, Clock, Timers } from '../../ports/clock.js';

/** setTimeout's longest delay; longer ones fire after 1 ms (with a TimeoutOverflowWarning). */
const TIMEOUT_MS_MAX = 2 ** 31 - 1;

/**
 * The process clock: performance.now() for elapsed time, Date.now() for wall time, setTimeout.
 * Timers do not keep the process alive (leases, progress notifications) unless `keepAlive`: work
 * a caller waits for (an upload retried until the object store is back) must hold the process.
 */
export class SystemClock implements Clock, Timers {
  constructor(private readonly options: { readonly keepAlive?: boolean } = {}) {}

  monotonicMs(): number {
    return performance.now();
  }
  wallIso(): string {
    return new Date().toISOString();
  }
  /** Delays beyond setTimeout's ~24.8 days (a lease of 9,000,000,000 s) are chained timeouts. */
  after(delayMs: number, callback: () => void): CancelTimer {
    const due = performance.now() + Math.max(0, delayMs);
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      const left = due - performance.now();
      timer = setTimeout(left > TIMEOUT_MS_MAX ? arm : callback, Math.min(Math.max(0, left), TIMEOUT_MS_MAX));
      if (this.options.keepAlive !== true) timer.unref();
    };
    arm();
    return () => clearTimeout(timer);
  }
}
