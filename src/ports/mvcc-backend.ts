import type { KeyRange } from '../domain/mvcc/key-range.js';
import type { AuthState } from '../domain/auth/types.js';
import type { Change, CommittedBatch, KeyValue, LeaseId, Revision } from '../domain/mvcc/types.js';

/**
 * Reads of the MVCC keyspace at a revision. Reads are synchronous: they run against a local
 * database connection on the caller's thread.
 *
 * Contract (every implementation passes test/contract/mvcc-backend.contract.ts):
 *  - `range(r, rev, limit)` returns the live keys of `r` at `rev` in ascending key order: for each
 *    key, its newest version with `modRevision <= rev`, unless that version is a deletion. At most
 *    `limit` keys when `limit > 0`. The caller has checked `compactRevision() <= rev <= currentRevision()`.
 *  - `count(r, rev)` is the number of keys `range(r, rev, 0)` would return.
 *  - `get(key)` is the key's current value.
 */
export interface MvccReader {
  currentRevision(): Revision;
  compactRevision(): Revision;
  range(range: KeyRange, revision: Revision, limit: number): KeyValue[];
  count(range: KeyRange, revision: Revision): number;
  get(key: Uint8Array): KeyValue | undefined;
  /**
   * Optional: what `range(r, currentRevision(), limit)` returns, as the concatenation of the keys'
   * framed records (domain/mvcc/key-value-record.ts) and their number. Undefined when the store
   * cannot answer it this way this time (the caller then uses `range`).
   */
  currentRecords?(range: KeyRange, limit: number): { readonly records: Uint8Array; readonly n: number } | undefined;
}

/** A lease as stored: its id and granted TTL (expiry times are not stored: a restart grants the full TTL again, as etcd). */
export interface StoredLease {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
}

export interface StorageSize {
  /** Bytes the database occupies on disk. */
  readonly dbSizeBytes: number;
  /** Bytes holding live data (on disk size less free pages). */
  readonly dbSizeInUseBytes: number;
}

/**
 * The MVCC store's persistence. One writer: `apply` is called by the write pipeline only, in
 * revision order.
 *
 *  - `apply(batch)` records every change of the batch, the new current revision and, when the batch
 *    carries one, the new compaction revision, in one atomic transaction. It asserts
 *    `batch.fromRevision === currentRevision()`.
 *  - After a compaction at C is applied, reads below C are refused by the caller; the rows that
 *    only served them are removed by `purgeStep` calls, each bounded by `rowsMax` so writes can run
 *    in between. `purgeStep` returns true when no purge is pending (also after a restart in the
 *    middle of one: progress is persisted).
 *  - `currentRevision()` is the revision of the last applied batch (the WAL replays from there).
 *  - a batch's `authState` replaces the stored auth state in the same transaction (idempotent);
 *    `authState()` returns the last one applied, or undefined if none ever was. It is never
 *    visible through the KV reads.
 *  - lease grants and revokes in a batch are applied idempotently (a grant of a known id replaces
 *    its TTL; a revoke of an unknown id does nothing), so replay may apply them again.
 */
export interface MvccBackend extends MvccReader {
  apply(batch: CommittedBatch): void;
  /**
   * History in revision order: every change with `afterRevision < main <= toRevision`, each with
   * `prev` (the key's value before it, undefined if it did not exist), at most `limit` changes.
   * Serves watch catch-up; the caller has checked `afterRevision + 1 >= compactRevision()`.
   */
  changesBetween(afterRevision: Revision, toRevision: Revision, limit: number): Change[];
  /** The auth state last applied (undefined: never set, i.e. the initial state). */
  authState(): AuthState | undefined;
  /** Every lease granted and not revoked. */
  leases(): StoredLease[];
  /** Keys currently attached to the lease, in key order. */
  keysWithLease(id: LeaseId): Uint8Array[];
  purgeStep(rowsMax: number): boolean;
  /**
   * Forces everything applied so far to stable storage and returns the revision now durable
   * (the WAL deletes segments only at or below it).
   */
  durableCheckpoint(): Promise<Revision>;
  size(): StorageSize;
  /** Rewrites the database to reclaim free space (SQLite VACUUM). */
  defragment(): void;
  close(): void;
}
