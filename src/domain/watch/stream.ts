import { rangeIsEmpty } from '../mvcc/key-range.js';
import type { Revision } from '../mvcc/types.js';
import type { CancelTimer, Timers } from '../../ports/clock.js';
import { Outbox } from './outbox.js';
import { dueForProgress, isCaughtUp } from './progress.js';
import { AUTO_WATCH_ID, CANCEL_REASONS, INVALID_WATCH_ID, type WatchCreate, type WatchEvent, type WatchId, type WatchOutput } from './types.js';
import { Watcher, type WatcherOwner } from './watcher.js';

/** The hub as a stream sees it (the hub implements it; kept here so the modules import one way). */
export interface StreamHost {
  /** The revision every synced watcher has been handed. */
  revision(): Revision;
  /** Adds a new watcher: synced into the key index, or unsynced for catch-up. */
  register(watcher: Watcher): void;
  /** Removes a watcher from wherever it is. */
  unregister(watcher: Watcher): void;
  /** A stream has room again, or a watcher needs history: run catch-up soon. */
  kick(): void;
  /** The stream has a RequestProgress it cannot answer yet: re-check it as revisions advance. */
  progressWaiting(stream: WatchStream): void;
  streamClosed(stream: WatchStream): void;
}

export interface WatchStreamOptions {
  /** Queued events at which live events stop being queued (the watcher goes unsynced). */
  readonly eventsQueuedMax: number;
  /** Queued control responses at which the transport should stop reading requests. */
  readonly controlQueuedMax: number;
  readonly watchersMax: number;
  /** Periodic progress for `progress_notify` watchers; 0 disables. */
  readonly progressNotifyIntervalMs: number;
}

/**
 * One client stream of watchers (a gRPC Watch call, or one embedded watch): ids, request order,
 * and the one ordered outbox every response of the stream goes through.
 *
 * Invariants:
 *  - responses leave in the order they were produced: a created response precedes its watcher's
 *    events; a progress response follows every event it vouches for;
 *  - the header revision never decreases (a history page after a created response is stamped
 *    with at least the created response's revision), except the compaction cancel, which etcd
 *    sends with header revision 0;
 *  - RequestProgress is answered (watch id -1, the hub's revision) only when every watcher of the
 *    stream is caught up; until then it stays pending and is answered as soon as they are.
 */
export class WatchStream implements WatcherOwner {
  readonly streamId: number;
  private readonly outbox = new Outbox();
  private readonly watchers = new Map<WatchId, Watcher>();
  /**
   * Ids of watchers cancelled by compaction. etcd keeps such an id registered until the client
   * cancels it: a create reusing it is refused as a duplicate, and a cancel of it is answered.
   */
  private readonly compactedIds = new Set<WatchId>();
  private nextAutoId: WatchId = 0n;
  private headerRevision: Revision = 0;
  private progressPending = false;
  private ticker: CancelTimer | undefined;
  private controlWaiter: (() => void) | undefined;

  constructor(
    streamId: number,
    private readonly host: StreamHost,
    private readonly timers: Timers,
    private readonly options: WatchStreamOptions,
  ) {
    this.streamId = streamId;
  }

  get closed(): boolean {
    return this.outbox.closed;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Handles a create request: a created (or refused) response now, then the watcher's events. */
  create(request: WatchCreate): WatchId {
    const current = this.host.revision();
    const refusal = this.refusalOf(request);
    if (refusal !== undefined) {
      this.emit({ kind: 'refused', revision: current, reason: refusal });
      return INVALID_WATCH_ID;
    }
    const id = request.watchId === AUTO_WATCH_ID ? this.freeId() : request.watchId;
    const start = request.startRevision;
    const watcher = new Watcher(id, this, request, start <= 0 ? current + 1 : start);
    // A start at or below the current revision needs history first (etcd: "unsynced").
    watcher.state = start > 0 && start <= current ? 'unsynced' : 'synced';
    this.watchers.set(id, watcher);
    this.emit({ kind: 'created', watchId: id, revision: current });
    this.host.register(watcher);
    if (request.progressNotify) this.startTicker();
    return id;
  }

  /** Refuses a create request the adapter rejected (etcd: permission denied), as a refused create. */
  refuse(reason: string): void {
    this.emit({ kind: 'refused', revision: this.host.revision(), reason });
  }

  /** Cancels a watcher; etcd answers only when it existed. */
  cancel(id: WatchId): void {
    const watcher = this.watchers.get(id);
    if (watcher === undefined) {
      if (this.compactedIds.delete(id)) this.emit({ kind: 'canceled', watchId: id, revision: this.host.revision() });
      return;
    }
    this.remove(watcher);
    this.emit({ kind: 'canceled', watchId: id, revision: this.host.revision() });
    this.answerPendingProgress();
  }

  /** A progress request (etcd RequestProgress): answered once every watcher is caught up. */
  requestProgress(): void {
    this.progressPending = true;
    this.answerPendingProgress();
  }

  /** The next response to send; undefined once the stream is closed. */
  async next(): Promise<WatchOutput | undefined> {
    for (;;) {
      if (this.outbox.closed) return undefined;
      const output = this.poll();
      if (output !== undefined) return output;
      await this.outbox.whenReadable();
    }
  }

  /** The next response if one is queued (never waits). */
  poll(): WatchOutput | undefined {
    const output = this.outbox.take();
    if (output !== undefined) this.afterTake();
    return output;
  }

  /** Resolves when the transport may read the next request (control responses below their limit). */
  controlRoom(): Promise<void> {
    if (this.outbox.controlQueued < this.options.controlQueuedMax || this.outbox.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.controlWaiter;
      this.controlWaiter = () => {
        previous?.();
        resolve();
      };
    });
  }

  close(): void {
    if (this.outbox.closed) return;
    for (const watcher of this.watchers.values()) this.host.unregister(watcher);
    for (const watcher of this.watchers.values()) watcher.state = 'gone';
    this.watchers.clear();
    this.compactedIds.clear();
    this.ticker?.();
    this.ticker = undefined;
    this.outbox.close();
    this.releaseControlWaiter();
    this.host.streamClosed(this);
  }

  // ---- called by the hub

  /** Queues a synced watcher's events of one revision; false when the outbox is full (go unsynced). */
  deliverLive(watcher: Watcher, revision: Revision, events: readonly WatchEvent[]): boolean {
    const queued = this.outbox.eventsQueued;
    if (queued > 0 && queued + events.length > this.options.eventsQueuedMax) return false;
    this.emitEvents(watcher, revision, events);
    return true;
  }

  /** Queues a history page's events for an unsynced watcher (`revision`: the page's end). */
  deliverHistory(watcher: Watcher, revision: Revision, events: readonly WatchEvent[]): void {
    if (events.length > 0) this.emitEvents(watcher, revision, events);
  }

  /** The watcher's history is gone: etcd cancels it with compact_revision and header revision 0. */
  compacted(watcher: Watcher, compactRevision: Revision): void {
    this.remove(watcher);
    this.compactedIds.add(watcher.id);
    this.emit({ kind: 'compacted', watchId: watcher.id, compactRevision });
    this.answerPendingProgress();
  }

  /** An unsynced watcher may be served from history now (its outbox has room). */
  readyForHistory(): boolean {
    return !this.outbox.closed && this.outbox.eventsQueued < this.options.eventsQueuedMax;
  }

  /** Re-checks a pending RequestProgress (a watcher rejoined, or the revision moved); true while pending. */
  recheckProgress(): boolean {
    this.answerPendingProgress();
    return this.progressPending && !this.outbox.closed;
  }

  // ---- internals

  private refusalOf(request: WatchCreate): string | undefined {
    if (request.startRevision < 0) return CANCEL_REASONS.compacted;
    if (rangeIsEmpty(request.range)) return CANCEL_REASONS.emptyRange;
    if (request.watchId !== AUTO_WATCH_ID && this.idInUse(request.watchId)) return CANCEL_REASONS.duplicateId;
    if (this.watchers.size >= this.options.watchersMax) return CANCEL_REASONS.tooManyWatchers;
    return undefined;
  }

  /** etcd: the next id from 0 not in use on this stream. */
  private freeId(): WatchId {
    while (this.idInUse(this.nextAutoId)) this.nextAutoId++;
    return this.nextAutoId++;
  }

  private idInUse(id: WatchId): boolean {
    return this.watchers.has(id) || this.compactedIds.has(id);
  }

  private remove(watcher: Watcher): void {
    this.host.unregister(watcher);
    watcher.state = 'gone';
    this.watchers.delete(watcher.id);
  }

  private emitEvents(watcher: Watcher, revision: Revision, events: readonly WatchEvent[]): void {
    watcher.progressDue = false;
    this.emit({ kind: 'events', watchId: watcher.id, revision, events, fragment: watcher.request.fragment });
  }

  /** Every response goes through here: stamps the non-decreasing header revision. */
  private emit(output: WatchOutput): void {
    if (output.kind === 'compacted') {
      this.outbox.push(output);
      return;
    }
    const revision = Math.max(this.headerRevision, output.revision);
    this.headerRevision = revision;
    this.outbox.push(revision === output.revision ? output : { ...output, revision });
  }

  private answerPendingProgress(): void {
    if (!this.progressPending || this.outbox.closed) return;
    const current = this.host.revision();
    for (const watcher of this.watchers.values()) {
      if (!isCaughtUp(watcher, current)) {
        this.host.progressWaiting(this);
        return;
      }
    }
    this.progressPending = false;
    this.emit({ kind: 'progress', watchId: INVALID_WATCH_ID, revision: current });
  }

  private startTicker(): void {
    const interval = this.options.progressNotifyIntervalMs;
    if (this.ticker !== undefined || interval <= 0) return;
    const tick = (): void => {
      this.ticker = this.timers.after(interval, tick);
      this.progressTick();
    };
    this.ticker = this.timers.after(interval, tick);
  }

  /** etcd's periodic progress: to each progress_notify watcher that got no events since the last tick. */
  private progressTick(): void {
    const current = this.host.revision();
    for (const watcher of this.watchers.values()) {
      if (!watcher.request.progressNotify) continue;
      if (dueForProgress(watcher, current)) this.emit({ kind: 'progress', watchId: watcher.id, revision: current });
      watcher.progressDue = true;
    }
  }

  private afterTake(): void {
    if (this.outbox.controlQueued < this.options.controlQueuedMax) this.releaseControlWaiter();
    if (this.readyForHistory()) {
      for (const watcher of this.watchers.values()) {
        if (watcher.state === 'unsynced') {
          this.host.kick();
          break;
        }
      }
    }
  }

  private releaseControlWaiter(): void {
    const w = this.controlWaiter;
    this.controlWaiter = undefined;
    w?.();
  }
}
