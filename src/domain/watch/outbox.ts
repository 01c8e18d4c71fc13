import type { WatchOutput } from './types.js';

/**
 * A stream's responses waiting to be sent, in send order, with the counts its limits are checked
 * against. The consumer (a transport adapter) takes with `next()`; a consumer that does not take
 * (a slow client) makes the queue fill, and the stream then stops handing it live events (its
 * watchers go unsynced and catch up from history later) — nothing is dropped and writers never wait.
 *
 * Bounds: events are admitted while fewer than the stream's event limit are queued (a single
 * revision or history page may overshoot by itself once); control responses (created, canceled,
 * progress) are bounded by the transport reading no further requests while `controlQueued` is at
 * its limit (see WatchStream.controlRoom).
 */
export class Outbox {
  private readonly items: WatchOutput[] = [];
  private head = 0;
  private eventCount = 0;
  private controlCount = 0;
  private waiter: (() => void) | undefined;
  private closedFlag = false;

  get eventsQueued(): number {
    return this.eventCount;
  }

  get controlQueued(): number {
    return this.controlCount;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  push(output: WatchOutput): void {
    if (this.closedFlag) return;
    this.items.push(output);
    if (output.kind === 'events') this.eventCount += output.events.length;
    else this.controlCount++;
    this.wake();
  }

  /** The next response, or undefined when nothing is queued. */
  take(): WatchOutput | undefined {
    if (this.head >= this.items.length) return undefined;
    const output = this.items[this.head] as WatchOutput;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    if (output.kind === 'events') this.eventCount -= output.events.length;
    else this.controlCount--;
    return output;
  }

  /** Resolves when something is queued or the outbox is closed. */
  whenReadable(): Promise<void> {
    if (this.head < this.items.length || this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.waiter;
      this.waiter = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Drops what is queued and wakes the consumer, which then sees `closed`. */
  close(): void {
    this.closedFlag = true;
    this.items.length = 0;
    this.head = 0;
    this.eventCount = 0;
    this.controlCount = 0;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
