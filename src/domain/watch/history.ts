import { rangeContains } from '../mvcc/key-range.js';
import type { Change, Revision } from '../mvcc/types.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import { rangeId } from './key-index.js';
import { toEvent, type Watcher } from './watcher.js';
import type { WatchEvent } from './types.js';

/** The part of the store the hub reads (the consumer's narrow port; MvccBackend provides it). */
export type WatchHistory = Pick<MvccBackend, 'currentRevision' | 'compactRevision' | 'changesBetween'>;

export interface HistoryPage {
  /** Every change with `after < main <= end`, complete revisions only. */
  readonly changes: readonly Change[];
  readonly end: Revision;
}

/**
 * One page of history after `after`, up to `to`, of about `changesMax` changes, cut at a revision
 * boundary so a revision is never split: a full page drops its last (maybe partial) revision; a
 * page holding a single revision is re-read whole (a revision is never split, however large).
 */
export function readPage(history: WatchHistory, after: Revision, to: Revision, changesMax: number): HistoryPage {
  const changes = history.changesBetween(after, to, changesMax);
  if (changes.length < changesMax) return { changes, end: to };
  const first = (changes[0] as Change).main;
  const last = (changes[changes.length - 1] as Change).main;
  if (first === last) return { changes: history.changesBetween(last - 1, last, 0), end: last };
  let cut = changes.length;
  while (cut > 0 && (changes[cut - 1] as Change).main === last) cut--;
  return { changes: changes.slice(0, cut), end: last - 1 };
}

/**
 * The events of a page for each watcher that needs it. Watchers with the same key range share the
 * range filtering, so many catching-up watchers on one prefix cost one pass over the page.
 */
export function eventsOfPage(page: HistoryPage, watchers: readonly Watcher[]): Map<Watcher, WatchEvent[]> {
  const inRange = new Map<string, Change[]>();
  const out = new Map<Watcher, WatchEvent[]>();
  for (const watcher of watchers) {
    const id = rangeId(watcher.range);
    let changes = inRange.get(id);
    if (changes === undefined) {
      changes = page.changes.filter((c) => rangeContains(watcher.range, c.kv.key));
      inRange.set(id, changes);
    }
    const events: WatchEvent[] = [];
    for (const change of changes) {
      if (change.main >= watcher.nextRevision && watcher.wants(change)) events.push(toEvent(change, watcher.request.prevKv));
    }
    out.set(watcher, events);
  }
  return out;
}
