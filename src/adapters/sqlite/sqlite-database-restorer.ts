import { existsSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { assert } from '../../domain/assert.js';
import type { DatabaseRestorer, DatabaseRestoreWriter } from '../../ports/database-snapshots.js';

/**
 * SQLite's files beside a database. A stale -wal (or hot -journal) left next to a new database file
 * would be replayed into it as if it belonged to it (SQLite does not tie them to the file), so
 * they go with the file they belong to.
 */
const SIDECAR_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/** The first 16 bytes of every SQLite database file. */
const SQLITE_MAGIC = new TextEncoder().encode('SQLite format 3\0');

/**
 * The SQLite database file of a data dir (`<data-dir>/db/t4.sqlite`), replaced from a checkpoint's
 * bytes before the store opens it. The new file is written as `<file>.restoring` in the same
 * directory and takes the database's name only on commit.
 *
 * Commit removes the old database before the rename, and the old file before its -wal: a crash at
 * any point leaves either the old database with its -wal, no database (the node restores again), or
 * the new database with nothing stale beside it; never an old file without the WAL frames it needs,
 * nor a new file beside an old WAL.
 */
export class SqliteDatabaseRestorer implements DatabaseRestorer {
  private writing = false;

  constructor(private readonly dbPath: string) {}

  exists(): boolean {
    return existsSync(this.dbPath) && statSync(this.dbPath).isFile();
  }

  async begin(): Promise<DatabaseRestoreWriter> {
    assert(!this.writing, `a restore of ${this.dbPath} is already in progress`);
    this.writing = true;
    try {
      await mkdir(dirname(this.dbPath), { recursive: true, mode: 0o700 });
      const handle = await open(this.tempPath(), 'w', 0o600);
      return new SqliteRestoreWriter(handle, this.tempPath(), () => this.replaceWith(this.tempPath()), () => {
        this.writing = false;
      });
    } catch (error) {
      this.writing = false;
      throw error;
    }
  }

  async remove(): Promise<void> {
    // The database first: without it, SQLite deletes a -wal it finds beside the empty file it creates.
    await rm(this.dbPath, { force: true });
    await syncDir(dirname(this.dbPath));
    await Promise.all(SIDECAR_SUFFIXES.map((s) => rm(this.dbPath + s, { force: true })));
    await rm(this.tempPath(), { force: true });
    await syncDir(dirname(this.dbPath));
  }

  private tempPath(): string {
    return `${this.dbPath}.restoring`;
  }

  private async replaceWith(synced: string): Promise<void> {
    await rm(this.dbPath, { force: true });
    await syncDir(dirname(this.dbPath));
    await Promise.all(SIDECAR_SUFFIXES.map((s) => rm(this.dbPath + s, { force: true })));
    await syncDir(dirname(this.dbPath));
    await rename(synced, this.dbPath);
    await syncDir(dirname(this.dbPath));
  }
}

class SqliteRestoreWriter implements DatabaseRestoreWriter {
  private state: 'writing' | 'committed' | 'aborted' = 'writing';
  /** The first bytes written, to refuse installing something that is not a SQLite database. */
  private readonly head = new Uint8Array(SQLITE_MAGIC.length);
  private headBytes = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly install: () => Promise<void>,
    private readonly finished: () => void,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    assert(this.state === 'writing', `write to a ${this.state} restore of ${basename(this.path)}`);
    if (this.headBytes < this.head.length) {
      const take = bytes.subarray(0, this.head.length - this.headBytes);
      this.head.set(take, this.headBytes);
      this.headBytes += take.length;
    }
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    assert(this.state === 'writing', `commit of a ${this.state} restore of ${basename(this.path)}`);
    this.state = 'committed';
    try {
      if (!this.head.every((byte, i) => byte === SQLITE_MAGIC[i])) {
        throw new Error(`restored bytes for ${basename(this.path)} are not a SQLite database (header ${Buffer.from(this.head).toString('hex')})`);
      }
      await this.handle.sync();
      await this.handle.close();
      await this.install();
    } catch (error) {
      await this.handle.close().catch(() => undefined);
      await rm(this.path, { force: true });
      throw error;
    } finally {
      this.finished();
    }
  }

  async abort(): Promise<void> {
    if (this.state !== 'writing') return;
    this.state = 'aborted';
    try {
      await this.handle.close();
      await rm(this.path, { force: true });
    } finally {
      this.finished();
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
