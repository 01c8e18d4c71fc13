/**
 * Time, as the domain sees it. `monotonicMs` measures elapsed time (lease expiry, progress notify)
 * and never goes back; `wallMs` is only for values written out as hints, never for decisions.
 * Tests and the simulator use a virtual clock (adapters/memory/virtual-clock.ts).
 */
export interface Clock {
  monotonicMs(): number;
  wallMs(): number;
}

export type CancelTimer = () => void;

/** Schedules callbacks on the same clock. */
export interface Timers {
  after(delayMs: number, callback: () => void): CancelTimer;
}
