import { Worker } from 'node:worker_threads';

export interface CheckpointResult {
  /** True when SQLite could not finish (a reader or writer was in the way). */
  readonly busy: boolean;
  /** Frames in the SQLite WAL when the checkpoint ran, and how many of them it copied. */
  readonly logFrames: number;
  readonly checkpointedFrames: number;
}

/**
 * Runs SQLite checkpoints on a worker thread with its own connection (SQLite allows a checkpoint
 * from any connection). A PASSIVE checkpoint never blocks the writer; when it copies every frame
 * it also syncs the database file, so everything committed before it started is durable.
 */
export class SqliteCheckpointer {
  private readonly worker: Worker;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(path: string) {
    this.worker = new Worker(new URL('./checkpoint-thread.js', import.meta.url), { workerData: { path } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; ok: boolean; busy?: number; log?: number; checkpointed?: number; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve({ busy: m.busy !== 0, logFrames: m.log ?? -1, checkpointedFrames: m.checkpointed ?? -1 });
      else w.reject(new Error(`SQLite checkpoint failed: ${m.error}`));
    });
    this.worker.on('error', (error) => this.failAll(error));
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
    this.failAll(new Error('checkpointer is closed'));
  }

  private failAll(error: Error): void {
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
  }
}
