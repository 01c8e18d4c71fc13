/**
 * The files of the local write-ahead log, as the WAL needs them. Names are plain file names in one
 * directory. Durability is explicit, as on a real disk:
 *  - bytes appended are durable only once `sync()` (fdatasync) on that file resolved;
 *  - a created or removed file's directory entry is durable only once `syncDir()` resolved;
 *  - a truncation is durable only once `sync()` resolved after it.
 * After a power loss anything not durable may be missing, torn (a prefix), zeroed or garbage.
 */
export interface WalFiles {
  list(): Promise<string[]>;
  read(name: string): Promise<Uint8Array>;
  /** Creates a new, empty file (fails if it exists) open for appending. */
  create(name: string): Promise<WalFile>;
  /** Opens an existing file for appending at its end. */
  openAppend(name: string): Promise<WalFile>;
  remove(name: string): Promise<void>;
  syncDir(): Promise<void>;
}

export interface WalFile {
  readonly name: string;
  /** Bytes in the file (durable or not). */
  size(): number;
  append(data: Uint8Array): Promise<void>;
  /** Cuts the file to `length` bytes (not durable until `sync`). */
  truncate(length: number): Promise<void>;
  /**
   * fdatasync: everything appended or truncated so far is durable when this resolves. With
   * `inline`, the adapter may hold the calling thread for the duration instead of waiting elsewhere
   * (lower latency when the caller has nothing else to do; see AppendHints.alone).
   */
  sync(inline?: boolean): Promise<void>;
  close(): Promise<void>;
}
