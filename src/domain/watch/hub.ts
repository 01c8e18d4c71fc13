import { assert } from '../assert.js';
import { ClosedError } from '../errors.js';
import type { Change, CommittedBatch, Revision } from '../mvcc/types.js';
import type { Timers } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { Scheduler } from '../../ports/scheduler.js';
import { eventsOfPage, readPage, type WatchHistory } from './history.js';
import { KeyIndex } from './key-index.js';
import { WatchStream, type StreamHost } from './stream.js';
import type { WatchEvent } from './types.js';
import { byRevision, type Watcher, type WatcherOwner } from './watcher.js';

export interface WatchHubOptions {
  /** Events queued on one stream before its watchers stop taking live events and go unsynced. */
  readonly streamEventsQueuedMax: number;
  /** Control responses queued on one stream before the transport stops reading its requests. */
  readonly streamControlQueuedMax: number;
  readonly streamWatchersMax: number;
  /** History changes read per catch-up page (shared by every watcher catching up). */
  readonly catchUpPageChangesMax: number;
  /** etcd `--watch-progress-notify-interval`; 0 disables periodic progress. */
  readonly progressNotifyIntervalMs: number;
}

/**
 * The watch fan-out (DESIGN-NOTES 4). Each committed batch arrives once (`publish`, subscribed to
 * WritePipeline.onCommitted) and is matched against the synced watchers through a key index; each
 * matching watcher gets its events of each revision queued on its stream. Nothing here waits:
 * writers are never blocked by watchers.
 *
 * A watcher whose stream's outbox is full, or that starts below the current revision, is unsynced:
 * the catch-up loop reads history pages (`changesBetween`, one read per page shared by every
 * unsynced watcher that is ready) between event-loop turns, hands each watcher its part, and puts
 * it back in the index once it has everything up to the hub's revision. Pages and publish never
 * interleave (both are synchronous), so the hand-over happens at a batch boundary: no gap, no
 * duplicate. A watcher whose next needed revision is below the compaction revision is cancelled
 * with compact_revision; compaction at C keeps C itself watchable.
 *
 * Worked example: watchers A (synced) and B (start 2) on prefix "k"; current revision 5.
 *   B created -> unsynced, nextRevision 2 -> page (1, 5] -> B gets events 2..5 in one response
 *   (header 5) -> B synced. put(k1)@6 -> A and B each get [PUT k1@6] (header 6).
 */
export class WatchHub implements StreamHost {
  private current: Revision;
  private readonly synced = new KeyIndex<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private readonly streams = new Set<WatchStream>();
  private readonly progressWaiters = new Set<WatcherOwner>();
  private nextStreamId = 1;
  private catchingUp = false;
  private closed = false;

  constructor(
    private readonly history: WatchHistory,
    private readonly timers: Timers,
    private readonly scheduler: Scheduler,
    private readonly options: WatchHubOptions,
    private readonly logger: Logger,
  ) {
    this.current = history.currentRevision();
  }

  revision(): Revision {
    return this.current;
  }

  /** A new stream of watchers (one per gRPC Watch call or embedded watch). */
  openStream(): WatchStream {
    if (this.closed) throw new ClosedError();
    const stream = new WatchStream(this.nextStreamId++, this, this.timers, {
      eventsQueuedMax: this.options.streamEventsQueuedMax,
      controlQueuedMax: this.options.streamControlQueuedMax,
      watchersMax: this.options.streamWatchersMax,
      progressNotifyIntervalMs: this.options.progressNotifyIntervalMs,
    });
    this.streams.add(stream);
    return stream;
  }

  /** Fans a committed batch out to the synced watchers, revision by revision. */
  publish(batch: CommittedBatch): void {
    assert(batch.fromRevision === this.current, 'the watch hub sees every committed batch, in order');
    for (const { revision, changes } of byRevision(batch.changes)) {
      const matched = this.match(changes);
      this.current = revision;
      for (const [watcher, events] of matched) {
        if (!watcher.owner.deliverLive(watcher, revision, events)) this.desync(watcher, revision);
      }
    }
    this.current = batch.toRevision;
    if (this.progressWaiters.size > 0) this.recheckProgress();
  }

  /** Closes every stream (their consumers see the end). */
  close(): void {
    this.closed = true;
    for (const stream of [...this.streams]) stream.close();
  }

  /** Counts, for tests and metrics. */
  stats(): { streams: number; synced: number; unsynced: number } {
    return { streams: this.streams.size, synced: this.synced.size, unsynced: this.unsynced.size };
  }

  // ---- StreamHost

  register(watcher: Watcher): void {
    if (watcher.state === 'synced') {
      this.synced.add(watcher);
    } else {
      this.unsynced.add(watcher);
      this.kick();
    }
  }

  unregister(watcher: Watcher): void {
    if (!this.synced.delete(watcher)) this.unsynced.delete(watcher);
  }

  kick(): void {
    if (this.catchingUp || this.closed || this.unsynced.size === 0) return;
    this.catchingUp = true;
    void this.runCatchUp();
  }

  progressWaiting(stream: WatchStream): void {
    this.progressWaiters.add(stream);
  }

  streamClosed(stream: WatchStream): void {
    this.streams.delete(stream);
    this.progressWaiters.delete(stream);
  }

  // ---- internals

  /** Each synced watcher's events of one revision, in sub order (prev_kv objects shared). */
  private match(changes: readonly Change[]): Map<Watcher, WatchEvent[]> {
    const matched = new Map<Watcher, WatchEvent[]>();
    for (const change of changes) {
      const plain: WatchEvent = { kind: change.kind, kv: change.kv };
      const withPrev: WatchEvent = change.prev === undefined ? plain : { kind: change.kind, kv: change.kv, prevKv: change.prev };
      this.synced.forEachMatch(change.kv.key, (watcher) => {
        if (!watcher.wants(change)) return;
        let events = matched.get(watcher);
        if (events === undefined) matched.set(watcher, (events = []));
        events.push(watcher.request.prevKv ? withPrev : plain);
      });
    }
    return matched;
  }

  private desync(watcher: Watcher, nextRevision: Revision): void {
    this.synced.delete(watcher);
    watcher.state = 'unsynced';
    watcher.nextRevision = nextRevision;
    this.unsynced.add(watcher);
    // No kick: its outbox is full; taking from it kicks (WatchStream.afterTake).
  }

  private async runCatchUp(): Promise<void> {
    try {
      do {
        await this.scheduler.yield();
      } while (!this.closed && this.catchUpStep());
    } catch (err) {
      this.logger.error({ err }, 'watch catch-up failed; unsynced watchers stay behind');
    } finally {
      this.catchingUp = false;
    }
  }

  /**
   * One history page for every unsynced watcher whose outbox has room. Synchronous, so no batch
   * is published between reading the page and handing it out. Returns false when there was
   * nothing to do.
   */
  private catchUpStep(): boolean {
    const ready = [...this.unsynced].filter((w) => w.owner.readyForHistory());
    if (ready.length === 0) return false;
    const compactRevision = this.history.compactRevision();
    const live: Watcher[] = [];
    for (const watcher of ready) {
      if (watcher.nextRevision < compactRevision) watcher.owner.compacted(watcher, compactRevision);
      else live.push(watcher);
    }
    let from = Infinity;
    for (const watcher of live) from = Math.min(from, watcher.nextRevision);
    if (from <= this.current) {
      const page = readPage(this.history, from - 1, this.current, this.options.catchUpPageChangesMax);
      const needing = live.filter((w) => w.nextRevision <= page.end);
      for (const [watcher, events] of eventsOfPage(page, needing)) {
        watcher.owner.deliverHistory(watcher, page.end, events);
        watcher.nextRevision = page.end + 1;
      }
    }
    for (const watcher of live) {
      if (watcher.nextRevision > this.current) {
        this.unsynced.delete(watcher);
        watcher.state = 'synced';
        this.synced.add(watcher);
        this.progressWaiters.add(watcher.owner);
      }
    }
    this.recheckProgress();
    return true;
  }

  private recheckProgress(): void {
    for (const owner of [...this.progressWaiters]) {
      if (!owner.recheckProgress()) this.progressWaiters.delete(owner);
    }
  }
}
