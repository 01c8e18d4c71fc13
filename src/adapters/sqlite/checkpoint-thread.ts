/**
 * Worker thread body for SqliteCheckpointer: its own connection to the database file, running
 * `PRAGMA wal_checkpoint(...)` on request, so the page copying and fsyncs of SQLite checkpoints
 * never block the event loop that serves requests.
 *
 * The connection opens at the first checkpoint request, never at start-up: a thread that starts
 * late must not open a file its owner has already closed (and a restore may have replaced). A
 * `close` message closes it and then sets `closed` in the shared state, which the owner waits for.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { sqliteErrorText } from './sqlite-error-text.js';

type Request = { readonly id: number; readonly mode: 'PASSIVE' | 'TRUNCATE' } | { readonly close: true };

const { path, state } = workerData as { path: string; state: SharedArrayBuffer };
const closed = new Int32Array(state);
let db: Database.Database | undefined;

function connection(): Database.Database {
  if (db === undefined) {
    const opened = new Database(path, { timeout: 1000, fileMustExist: true });
    try {
      opened.pragma('journal_mode = WAL');
      opened.pragma('synchronous = NORMAL');
      opened.pragma('wal_autocheckpoint = 0');
    } catch (error) {
      opened.close();
      throw error;
    }
    db = opened;
  }
  return db;
}

parentPort?.on('message', (req: Request) => {
  if ('close' in req) {
    try {
      db?.close();
    } finally {
      db = undefined;
      Atomics.store(closed, 0, 1);
      Atomics.notify(closed, 0);
      parentPort?.close();
    }
    return;
  }
  try {
    const [row] = connection().pragma(`wal_checkpoint(${req.mode})`) as { busy: number; log: number; checkpointed: number }[];
    parentPort?.postMessage({ id: req.id, ok: true, busy: row?.busy ?? 1, log: row?.log ?? -1, checkpointed: row?.checkpointed ?? -1 });
  } catch (error) {
    parentPort?.postMessage({ id: req.id, ok: false, error: sqliteErrorText(error) });
  }
});
