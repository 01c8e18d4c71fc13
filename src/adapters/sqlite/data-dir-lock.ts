import Database from 'better-sqlite3';
import { join } from 'node:path';

/**
 * Keeps a second T4 process (or a second open in this process) off a data dir. The lock is an
 * exclusive SQLite transaction held on `<data-dir>/LOCK` for the life of the process: an OS file
 * lock, so it is released when the process dies, even by SIGKILL, and never goes stale.
 */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
}

export class DataDirLock {
  private constructor(private readonly db: Database.Database) {}

  static acquire(dataDir: string): DataDirLock {
    const path = join(dataDir, 'LOCK');
    const db = new Database(path, { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER NOT NULL, since TEXT NOT NULL)');
      db.exec('BEGIN EXCLUSIVE');
      db.prepare('DELETE FROM owner').run();
      db.prepare('INSERT INTO owner (pid, since) VALUES (?, ?)').run(process.pid, new Date().toISOString());
    } catch (error) {
      db.close();
      const code = (error as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new DataDirLockedError(`data dir ${dataDir} is in use by another T4 process (lock file ${path})`);
      }
      throw error;
    }
    return new DataDirLock(db);
  }

  release(): void {
    if (!this.db.open) return;
    try {
      this.db.exec('ROLLBACK');
    } finally {
      this.db.close();
    }
  }
}
