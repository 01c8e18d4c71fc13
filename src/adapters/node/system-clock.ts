import type { CancelTimer, Clock, Timers } from '../../ports/clock.js';

/** The process clock: performance.now() for elapsed time, Date.now() for wall time, setTimeout. */
export class SystemClock implements Clock, Timers {
  monotonicMs(): number {
    return performance.now();
  }
  wallMs(): number {
    return Date.now();
  }
  after(delayMs: number, callback: () => void): CancelTimer {
    const t = setTimeout(callback, Math.max(0, delayMs));
    t.unref();
    return () => clearTimeout(t);
  }
}
