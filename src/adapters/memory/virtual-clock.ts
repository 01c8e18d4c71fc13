import type { CancelTimer, Clock, Timers } from '../../ports/clock.js';

/**
 * A clock that moves only when told (`advance`), firing due timers in time order. Unit tests and
 * the simulator use it so lease expiry and progress notifications run without sleeping.
 */
export class VirtualClock implements Clock, Timers {
  private now = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();

  constructor(private readonly wallOffsetMs = 1_800_000_000_000) {}

  monotonicMs(): number {
    return this.now;
  }

  wallIso(): string {
    return new Date(this.wallOffsetMs + this.now).toISOString();
  }

  after(delayMs: number, callback: () => void): CancelTimer {
    const id = this.seq++;
    this.timers.set(id, { at: this.now + Math.max(0, delayMs), callback });
    return () => this.timers.delete(id);
  }

  /** Moves time forward by `ms`, running every timer due on the way, in order. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let nextId: number | undefined;
      let nextAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.at <= target && (t.at < nextAt || (t.at === nextAt && id < (nextId ?? Infinity)))) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId === undefined) break;
      const timer = this.timers.get(nextId);
      this.timers.delete(nextId);
      this.now = Math.max(this.now, nextAt);
      timer?.callback();
    }
    this.now = target;
  }

  pendingTimers(): number {
    return this.timers.size;
  }
}
