import { ClosedError } from '../errors.js';
import type { Timers } from '../../ports/clock.js';

export interface BackoffPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 100, maxDelayMs: 1_000 };

/**
 * Runs `attempt` until it resolves, waiting between failures (doubling up to maxDelayMs), for as
 * long as it takes: the object store coming back is the only way forward for a durable write.
 * `onFailure` sees every failure (for logs and health); `signal` ends the loop with ClosedError.
 */
export async function retryUntilDone<T>(
  attempt: () => Promise<T>,
  options: {
    readonly timers: Timers;
    readonly policy?: BackoffPolicy;
    readonly signal: AbortSignal;
    readonly onFailure: (error: unknown, attempts: number) => void;
    /** Errors that retrying cannot fix end the loop: return true to rethrow. */
    readonly isFatal?: (error: unknown) => boolean;
  },
): Promise<T> {
  const policy = options.policy ?? DEFAULT_BACKOFF;
  let delay = policy.initialDelayMs;
  for (let attempts = 1; ; attempts++) {
    if (options.signal.aborted) throw new ClosedError();
    try {
      return await attempt();
    } catch (error) {
      if (options.signal.aborted) throw new ClosedError();
      if (options.isFatal?.(error) === true) throw error;
      options.onFailure(error, attempts);
    }
    await sleep(options.timers, delay, options.signal);
    delay = Math.min(delay * 2, policy.maxDelayMs);
  }
}

/** Resolves after `ms`, or at once when `signal` fires. */
export function sleep(timers: Timers, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      cancel();
      resolve();
    };
    const cancel = timers.after(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
