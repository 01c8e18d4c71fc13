import type { Revision } from '../mvcc/types.js';
import type { Watcher } from './watcher.js';

/**
 * When a progress notification may be sent for a watcher (DESIGN-NOTES 4; etcd
 * watchable_store.go progressIfSync, after etcd-io/etcd#15220 and #17557).
 *
 * A progress response at revision R tells the client "every event up to R was sent". That holds
 * for a watcher only when it is synced (the hub hands it every revision as it commits, through
 * the same ordered outbox), so an unsynced watcher blocks progress for its whole stream. A watcher
 * starting beyond `R + 1` (a future start revision) is not caught up either: etcd withholds
 * progress until the store reaches its start, and so do we. Starting exactly at `R + 1` (the
 * Kubernetes "watch from list revision + 1") is caught up.
 */
export function isCaughtUp(watcher: Watcher, current: Revision): boolean {
  return watcher.state === 'synced' && watcher.minRevision <= current + 1;
}

/** etcd's periodic progress: sent when no events went out since the last tick and the watcher is caught up. */
export function dueForProgress(watcher: Watcher, current: Revision): boolean {
  return watcher.progressDue && isCaughtUp(watcher, current);
}
