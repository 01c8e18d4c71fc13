import { CompactedError } from '../errors.js';
import type { KeyRange } from '../mvcc/key-range.js';
import type { KeyValue, Revision } from '../mvcc/types.js';

/**
 * The watch vocabulary, as etcd defines it (api/etcdserverpb WatchCreateRequest / WatchResponse),
 * without wire types.
 *
 * A watcher watches a key range from a start revision: it receives every change in the range with
 * `main >= start`, in revision order, each revision's changes together and in `sub` order.
 *
 * Worked example: put(a)@2, put(b)@3, delete(a)@4; a watch on prefix "" from revision 3 receives
 *   created (header 4), then events [PUT b@3, DELETE a@4] (one response per history page, or one
 *   per revision once the watcher is synced), and with prev_kv the delete carries a@2.
 */

/** int64 on the wire; client-chosen or assigned from 0 per stream. -1 is "no watcher" (etcd InvalidWatchID). */
export type WatchId = bigint;
export const INVALID_WATCH_ID: WatchId = -1n;
/** A create request with this id asks the server to pick one (etcd AutoWatchID). */
export const AUTO_WATCH_ID: WatchId = 0n;

export interface WatchEvent {
  readonly kind: 'put' | 'delete';
  /** A put: the new value. A delete: the key with `modRevision` = the delete's revision (as etcd). */
  readonly kv: KeyValue;
  /** The key's value before this event; only when the watcher asked for prev_kv and the key existed. */
  readonly prevKv?: KeyValue;
}

export interface WatchCreate {
  readonly range: KeyRange;
  /** <= 0: from the next revision. Otherwise inclusive (history replay when <= current). */
  readonly startRevision: Revision;
  /** AUTO_WATCH_ID (0) lets the stream pick the next free id. */
  readonly watchId: WatchId;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
  /** The client accepts a revision's events split across responses (adapter concern: size). */
  readonly fragment: boolean;
}

/**
 * What a stream sends, in order. Every kind but `compacted` carries the stream's header revision,
 * which never decreases on a stream (etcd sends the compaction cancel with header revision 0).
 */
export type WatchOutput =
  | { readonly kind: 'created'; readonly watchId: WatchId; readonly revision: Revision }
  /** A create that was refused: etcd answers created + canceled with watch id -1 and a reason. */
  | { readonly kind: 'refused'; readonly revision: Revision; readonly reason: string }
  | {
      readonly kind: 'events';
      readonly watchId: WatchId;
      readonly revision: Revision;
      readonly events: readonly WatchEvent[];
      /** The watcher asked for fragments: the adapter may split a large response. */
      readonly fragment: boolean;
    }
  /** A progress notification: every event up to `revision` was sent (watchId -1: for every watcher). */
  | { readonly kind: 'progress'; readonly watchId: WatchId; readonly revision: Revision }
  /** The client cancelled the watcher. */
  | { readonly kind: 'canceled'; readonly watchId: WatchId; readonly revision: Revision }
  /** The history the watcher needs was compacted away; the watcher is gone. */
  | { readonly kind: 'compacted'; readonly watchId: WatchId; readonly compactRevision: Revision };

/** etcd's texts (mvcc/watcher.go, rpctypes): clients compare cancel reasons as strings. */
export const CANCEL_REASONS = {
  emptyRange: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  tooManyWatchers: 't4: too many watchers on this stream',
} as const;

/** Thrown by the embedded API when a watcher's history was compacted away. */
export class WatchCompactedError extends CompactedError {
  constructor(readonly compactRevision: Revision) {
    super(`required revision has been compacted (compact revision ${compactRevision})`);
  }
}
