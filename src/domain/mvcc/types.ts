/**
 * MVCC values, as etcd defines them.
 *
 * A revision is `(main, sub)`: every request that changes something takes the next `main`, and
 * each change inside it takes `sub = 0, 1, 2, ...`. `mod_revision` on the wire is `main`.
 * Revisions are JavaScript numbers (safe integers, asserted): 2^53 writes is beyond any lifetime.
 * Lease ids are int64 chosen at random by clients and servers, so they are bigints.
 *
 * Worked example: put(a)@2, put(a)@3, delete(a)@4, compact(3)
 *   get a            -> nothing, header 4
 *   get a --rev=3    -> a {create 2, mod 3, version 2}
 *   get a --rev=2    -> OutOfRange "required revision has been compacted"
 *   put(a)@5         -> a {create 5, mod 5, version 1} (re-created: version restarts)
 */
import type { AuthState } from '../auth/types.js';

export type Revision = number;
export type LeaseId = bigint;

export const NO_LEASE: LeaseId = 0n;

/** The store's revision before any write (etcd starts at 1, so the first write is 2). */
export const INITIAL_REVISION: Revision = 1;

export interface KeyValue {
  readonly key: Uint8Array;
  readonly createRevision: Revision;
  readonly modRevision: Revision;
  /** Per-key version: 1 at creation, +1 per put; a deleted key's next create restarts at 1. */
  readonly version: number;
  readonly value: Uint8Array;
  readonly lease: LeaseId;
}

/** One change in a committed request: a new value of a key, or its deletion (tombstone). */
export interface Change {
  readonly kind: 'put' | 'delete';
  readonly main: Revision;
  readonly sub: number;
  /** For a put: the new value. For a delete: the key with `modRevision = main`, empty value. */
  readonly kv: KeyValue;
  /** The key's value before this change, if any (feeds prev_kv for watchers later). */
  readonly prev: KeyValue | undefined;
}

/**
 * A change to the lease table. Leases are not keys: a grant takes no revision, and a revoke takes
 * one only through the deletions of its keys (as etcd). Both are logged and replicated.
 */
export type LeaseChange =
  | { readonly kind: 'grant'; readonly id: LeaseId; readonly ttlSeconds: number }
  | { readonly kind: 'revoke'; readonly id: LeaseId };

/** Everything one committed batch changes, in revision order. */
export interface CommittedBatch {
  /** Revision of the store before this batch. */
  readonly fromRevision: Revision;
  /** Revision of the store after this batch (equal to fromRevision when nothing changed). */
  readonly toRevision: Revision;
  readonly changes: readonly Change[];
  /** A compaction requested in this batch (takes no revision). */
  readonly compactRevision: Revision | undefined;
  /** Lease grants and revokes, in request order (absent: none). */
  readonly leaseChanges?: readonly LeaseChange[];
  /**
   * The whole auth state after this batch, when a request in it changed users, roles or the
   * enabled flag (absent: unchanged). Takes no KV revision (etcd's auth revision is separate);
   * applying it again is harmless, so replay is idempotent.
   */
  readonly authState?: AuthState;
}

/** The compaction revision of a store never compacted (etcd: -1, so even `compact 0` is accepted once). */
export const NEVER_COMPACTED: Revision = -1;
