import type { Revision } from '../domain/mvcc/types.js';

/**
 * Consistent copies of the local store's database file, for checkpoints to the object store, and
 * the way back (restoring a file from a checkpoint before the store is opened).
 *
 * A snapshot is a byte-for-byte copy of the database pages at one applied revision, taken while
 * writes keep flowing. Pages that did not change between two snapshots are byte-identical at the
 * same offsets, so a checkpoint split into fixed-size chunks uploads only the chunks that changed.
 */
export interface DatabaseSnapshot {
  /** The applied revision recorded inside the copy (the store's revision when the copy completed). */
  readonly revision: Revision;
  /** The compaction revision recorded inside the copy. */
  readonly compactRevision: Revision;
  readonly sizeBytes: number;
  readonly pageBytes: number;
  /** The longest time one copy step held the event loop, in ms (writes wait at most this long). */
  readonly longestPauseMs: number;
  /** Bytes [offset, offset + length) of the copy; shorter only at the end of the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Deletes the copy. Idempotent. */
  release(): Promise<void>;
}

export interface SnapshotProgress {
  readonly copiedPages: number;
  readonly totalPages: number;
}

export interface DatabaseSnapshots {
  /** Copies the open store's database while writes continue. */
  take(onProgress?: (progress: SnapshotProgress) => void): Promise<DatabaseSnapshot>;
}

/**
 * Writes a database file from a checkpoint's bytes, in order, before the store is opened. Nothing
 * replaces the store's file until `commit` (write to a temporary file, fsync, rename, fsync dir);
 * `abort` leaves the data dir as it was.
 */
export interface DatabaseRestoreWriter {
  write(bytes: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface DatabaseRestorer {
  /** Whether the data dir holds a database file (a node with a disk, as opposed to an empty one). */
  exists(): boolean;
  /** Starts writing a new database file that will replace the current one (and its SQLite -wal/-shm files) on commit. */
  begin(): Promise<DatabaseRestoreWriter>;
  /** Removes the database file and its -wal/-shm files (a disk behind the object store with a gap is re-restored). */
  remove(): Promise<void>;
}
