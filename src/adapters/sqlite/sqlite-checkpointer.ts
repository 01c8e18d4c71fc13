import { Worker } from 'node:worker_threads';
import { sqliteErrorText } from './sqlite-error-text.js';

export interface CheckpointResult {
  /** True when SQLite could not finish (a reader or writer was in the way). */
  readonly busy: boolean;
  /** Frames in the SQLite WAL when the checkpoint ran, and how many of them it copied. */
  readonly logFrames: number;
  readonly checkpointedFrames: number;
}

/** How long close() waits for the thread to close its connection (a checkpoint in progress finishes first). */
const CLOSE_WAIT_MS = 30_000;

/**
 * Runs SQLite checkpoints on a worker thread with its own connection (SQLite allows a checkpoint
 * from any connection). A PASSIVE checkpoint never blocks the writer; when it copies every frame
 * it also syncs the database file, so everything committed before it started is durable.
 *
 * `close()` returns once the thread's connection is closed (it waits, blocking, for the thread to
 * say so), so the owner can close its own connection last and whoever comes next (a restore
 * replacing the file, a new store on it) never shares the file with a connection left behind.
 */
export class SqliteCheckpointer {
  private readonly worker: Worker;
  /** Set to 1 by the thread once its connection is closed. */
  private readonly threadClosed = new Int32Array(new SharedArrayBuffer(4));
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(path: string) {
    this.worker = new Worker(new URL('./checkpoint-thread.js', import.meta.url), { workerData: { path, state: this.threadClosed.buffer } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; ok: boolean; busy?: number; log?: number; checkpointed?: number; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve({ busy: m.busy !== 0, logFrames: m.log ?? -1, checkpointedFrames: m.checkpointed ?? -1 });
      else w.reject(new Error(`SQLite checkpoint failed: ${m.error}`));
    });
    // An error thrown on the thread arrives cloned (a SqliteError as a bare { code }): name it.
    this.worker.on('error', (error: unknown) => this.failAll(new Error(`SQLite checkpoint thread failed: ${sqliteErrorText(error)}`)));
    this.worker.on('exit', (code) => this.failAll(new Error(`checkpoint worker exited with code ${code}`)));
  }

  checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): Promise<CheckpointResult> {
    if (this.closed) return Promise.reject(new Error('checkpointer is closed'));
    const id = this.seq++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, mode });
    });
  }

  /**
   * Closes the thread's connection, waiting (blocking) until it is closed: at once when no
   * checkpoint was ever requested (the thread opens its connection at the first one), otherwise
   * after the checkpoint in progress, if any. Then ends the thread.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.seq > 0) {
      this.worker.postMessage({ close: true });
      Atomics.wait(this.threadClosed, 0, 0, CLOSE_WAIT_MS);
    }
    void this.worker.terminate();
    this.failAll(new Error('checkpointer is closed'));
  }

  private failAll(error: Error): void {
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
  }
}
