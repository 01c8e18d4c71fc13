/**
 * Worker thread body for SqliteCheckpointer: its own connection to the database file, running
 * `PRAGMA wal_checkpoint(...)` on request, so the page copying and fsyncs of SQLite checkpoints
 * never block the event loop that serves requests.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

interface Request {
  readonly id: number;
  readonly mode: 'PASSIVE' | 'TRUNCATE';
}

const db = new Database((workerData as { path: string }).path, { timeout: 1000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');

parentPort?.on('message', (req: Request) => {
  try {
    const [row] = db.pragma(`wal_checkpoint(${req.mode})`) as { busy: number; log: number; checkpointed: number }[];
    parentPort?.postMessage({ id: req.id, ok: true, busy: row?.busy ?? 1, log: row?.log ?? -1, checkpointed: row?.checkpointed ?? -1 });
  } catch (error) {
    parentPort?.postMessage({ id: req.id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
