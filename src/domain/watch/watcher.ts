import type { KeyRange } from '../mvcc/key-range.js';
import { rangeContains } from '../mvcc/key-range.js';
import type { Change, Revision } from '../mvcc/types.js';
import type { WatchCreate, WatchEvent, WatchId } from './types.js';

/**
 * One watcher: what it watches and how far it has been served.
 *
 *  - `synced`: in the hub's key index; every committed revision reaches it as it commits.
 *  - `unsynced`: not in the index; `nextRevision` is the first revision it has not been sent; the
 *    hub catches it up from history and puts it back in the index at a batch boundary.
 *  - `gone`: cancelled, compacted away or its stream closed.
 *
 * Invariant: every event with `minRevision <= main < nextRevision` (synced: `<= hub revision`) that
 * matches the watcher was handed to its stream, in order, exactly once.
 */
export type WatcherState = 'synced' | 'unsynced' | 'gone';

/** The stream a watcher belongs to, as the hub sees it (implemented by WatchStream). */
export interface WatcherOwner {
  /** Queues a synced watcher's events of one revision; false when its outbox is full. */
  deliverLive(watcher: Watcher, revision: Revision, events: readonly WatchEvent[]): boolean;
  /** Queues an unsynced watcher's events from one history page ending at `revision`. */
  deliverHistory(watcher: Watcher, revision: Revision, events: readonly WatchEvent[]): void;
  /** Cancels a watcher whose history is compacted away. */
  compacted(watcher: Watcher, compactRevision: Revision): void;
  /** The outbox has room for history. */
  readyForHistory(): boolean;
  /** Re-checks a pending RequestProgress; true while it is still pending. */
  recheckProgress(): boolean;
}

export class Watcher {
  state: WatcherState = 'synced';
  /** First revision not yet handed to the stream (meaningful while unsynced). */
  nextRevision: Revision;
  /** Periodic progress is due at the next tick: no events were sent since the last one (etcd). */
  progressDue = true;

  constructor(
    readonly id: WatchId,
    readonly owner: WatcherOwner,
    readonly request: WatchCreate,
    /** Events below this revision are never sent (the start revision, or current + 1). */
    readonly minRevision: Revision,
  ) {
    this.nextRevision = minRevision;
  }

  get range(): KeyRange {
    return this.request.range;
  }

  /** True when this watcher wants `change` (range, start and NOPUT/NODELETE filters). */
  wants(change: Change): boolean {
    if (change.main < this.minRevision) return false;
    if (change.kind === 'put' ? this.request.noPut : this.request.noDelete) return false;
    return rangeContains(this.request.range, change.kv.key);
  }
}

/** The event a change becomes for a watcher (prev_kv only when asked and the key existed). */
export function toEvent(change: Change, prevKv: boolean): WatchEvent {
  return prevKv && change.prev !== undefined ? { kind: change.kind, kv: change.kv, prevKv: change.prev } : { kind: change.kind, kv: change.kv };
}

/** Consecutive runs of changes with the same `main` (changes arrive in revision order). */
export function byRevision(changes: readonly Change[]): { revision: Revision; changes: Change[] }[] {
  const out: { revision: Revision; changes: Change[] }[] = [];
  for (const change of changes) {
    const last = out[out.length - 1];
    if (last !== undefined && last.revision === change.main) last.changes.push(change);
    else out.push({ revision: change.main, changes: [change] });
  }
  return out;
}
