/**
 * Time, as the domain sees it. `monotonicMs` measures elapsed time (lease expiry, progress notify)
 * and never goes back; `wallIso` is only for values written out as hints, never for decisions.
 * Tests and the simulator use a virtual clock (adapters/memory/virtual-clock.ts).
 */
export interface Clock {
  monotonicMs(): number;
  /** Wall-clock time as ISO 8601 (UTC), e.g. for `created_at` in a manifest. */
  wallIso(): string;
}

export type CancelTimer = () => void;

/** Schedules callbacks on the same clock. */
export interface Timers {
  after(delayMs: number, callback: () => void): CancelTimer;
}
