import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../../domain/assert.js';
import { INITIAL_REVISION, NEVER_COMPACTED, type Revision } from '../../domain/mvcc/types.js';
import type { DatabaseSnapshot, DatabaseSnapshots, SnapshotProgress } from '../../ports/database-snapshots.js';
import type { SqliteMvccBackend } from './sqlite-mvcc-backend.js';

export interface SqliteDatabaseSnapshotsOptions {
  /**
   * Pages copied per backup step; one step holds the event loop (and so every write) while it
   * runs. Default 256 (1 MiB at SQLite's 4 KiB pages, about a millisecond of copying).
   */
  readonly pagesPerStep?: number;
}

const DEFAULT_PAGES_PER_STEP = 256;
/** What SQLite leaves beside a database file; a self-contained copy has none of them. */
const SIDECAR_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/**
 * Snapshots of a SqliteMvccBackend's database by SQLite's online backup on the writer's own
 * connection (never VACUUM INTO, which rewrites the file in a new page order): page N of the copy
 * is page N of the store, so pages unchanged between two snapshots sit at the same offsets with the
 * same bytes. Batches applied while the copy runs reach the copy too; it is consistent at the
 * revision the store had when the last step ran.
 *
 * Each copy is a new file in `tempDir`, left in rollback-journal mode with no -wal/-shm beside it,
 * so its bytes alone are the whole database. Page 1 differs from the store's in header fields only
 * (journal mode bytes 18-19, change counter, schema cookie); every other page is verbatim, free
 * pages included.
 */
export class SqliteDatabaseSnapshots implements DatabaseSnapshots {
  private readonly pagesPerStep: number;
  private seq = 0;

  constructor(
    private readonly backend: SqliteMvccBackend,
    private readonly tempDir: string,
    options: SqliteDatabaseSnapshotsOptions = {},
  ) {
    this.pagesPerStep = options.pagesPerStep ?? DEFAULT_PAGES_PER_STEP;
    assert(Number.isInteger(this.pagesPerStep) && this.pagesPerStep > 0, 'pagesPerStep must be a positive integer');
  }

  async take(onProgress?: (progress: SnapshotProgress) => void): Promise<DatabaseSnapshot> {
    await mkdir(this.tempDir, { recursive: true });
    this.seq += 1;
    const path = join(this.tempDir, `t4-snapshot-${process.pid}-${this.seq}-${randomBytes(4).toString('hex')}.sqlite`);
    const revisionBefore = this.backend.currentRevision();
    try {
      const longestPauseMs = await this.copy(path, onProgress);
      const revisionAfter = this.backend.currentRevision();
      const copy = inspectCopy(path);
      assert(
        copy.revision >= revisionBefore && copy.revision <= revisionAfter,
        `snapshot revision ${copy.revision} outside the store's ${revisionBefore}..${revisionAfter} during the copy`,
      );
      const sizeBytes = (await stat(path)).size;
      assert(sizeBytes === copy.pageBytes * copy.pages, `snapshot file is ${sizeBytes} bytes, its header says ${copy.pages} pages of ${copy.pageBytes}`);
      return new SqliteDatabaseSnapshot(path, copy.revision, copy.compactRevision, sizeBytes, copy.pageBytes, longestPauseMs);
    } catch (error) {
      await removeWithSidecars(path);
      throw error;
    }
  }

  /**
   * Runs the backup and returns the longest step in ms. A step is timed from an immediate queued
   * just before it (immediates run in order, with nothing between the two) to the next progress
   * call, or to the copy's completion for the last step. That one is the longest by far: it
   * commits the copy, and the backup's own connection to it (which better-sqlite3 does not expose)
   * writes its cached pages and fsyncs the whole file there (about 250 ms for a 74 MiB store on the
   * test VM; other steps of 256 pages take about 3 ms).
   */
  private async copy(path: string, onProgress: ((progress: SnapshotProgress) => void) | undefined): Promise<number> {
    let longestPauseMs = 0;
    let stepStartMs: number | undefined;
    const stepEnded = (): void => {
      if (stepStartMs !== undefined) longestPauseMs = Math.max(longestPauseMs, performance.now() - stepStartMs);
      stepStartMs = undefined;
    };
    await this.backend.backupTo(path, ({ totalPages, remainingPages }) => {
      stepEnded();
      onProgress?.({ copiedPages: totalPages - remainingPages, totalPages });
      setImmediate(() => {
        stepStartMs = performance.now();
      });
      return this.pagesPerStep;
    });
    stepEnded();
    return longestPauseMs;
  }
}

class SqliteDatabaseSnapshot implements DatabaseSnapshot {
  private file: Promise<FileHandle> | undefined;
  private released = false;

  constructor(
    private readonly path: string,
    readonly revision: Revision,
    readonly compactRevision: Revision,
    readonly sizeBytes: number,
    readonly pageBytes: number,
    readonly longestPauseMs: number,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    assert(!this.released, 'read of a released snapshot');
    assert(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0, `bad read range ${offset}+${length}`);
    const wanted = Math.max(0, Math.min(length, this.sizeBytes - offset));
    const out = new Uint8Array(wanted);
    this.file ??= open(this.path, 'r');
    const file = await this.file;
    let done = 0;
    while (done < wanted) {
      const { bytesRead } = await file.read(out, done, wanted - done, offset + done);
      assert(bytesRead > 0, `snapshot file ${this.path} ended at ${offset + done}, expected ${this.sizeBytes} bytes`);
      done += bytesRead;
    }
    return out;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const file = this.file;
    this.file = undefined;
    if (file !== undefined) await (await file.catch(() => undefined))?.close();
    await removeWithSidecars(this.path);
  }
}

interface CopyFacts {
  readonly revision: Revision;
  readonly compactRevision: Revision;
  readonly pageBytes: number;
  readonly pages: number;
}

/**
 * Puts the finished copy in rollback-journal mode (the backup copies the store's page 1, which
 * says WAL; opening it so would create -wal/-shm files) and reads what it holds. The backup wrote
 * the copy through a rollback journal, so no frames are pending anywhere: the check after closing
 * asserts that nothing but the file itself is left.
 */
function inspectCopy(path: string): CopyFacts {
  const db = new Database(path, { fileMustExist: true });
  let facts: CopyFacts;
  try {
    const mode = db.pragma('journal_mode = DELETE', { simple: true });
    assert(mode === 'delete', `snapshot copy stayed in journal mode ${String(mode)}`);
    const meta = new Map(
      (db.prepare("SELECT name, value FROM meta WHERE name IN ('current_revision', 'compact_revision')").all() as { name: string; value: number }[]).map(
        (r) => [r.name, Number(r.value)],
      ),
    );
    facts = {
      revision: meta.get('current_revision') ?? INITIAL_REVISION,
      compactRevision: meta.get('compact_revision') ?? NEVER_COMPACTED,
      pageBytes: Number(db.pragma('page_size', { simple: true })),
      pages: Number(db.pragma('page_count', { simple: true })),
    };
  } finally {
    db.close();
  }
  for (const suffix of SIDECAR_SUFFIXES) assert(!existsSync(path + suffix), `snapshot copy left ${path}${suffix} behind`);
  return facts;
}

async function removeWithSidecars(path: string): Promise<void> {
  await Promise.all([path, ...SIDECAR_SUFFIXES.map((s) => path + s)].map((p) => rm(p, { force: true })));
}
