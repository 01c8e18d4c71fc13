import { fdatasync, fdatasyncSync, mkdirSync, writeSync } from 'node:fs';
import { open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { WalFile, WalFiles } from '../../ports/wal-files.js';

/** WAL files in a directory on the local file system; `sync` is fdatasync, `syncDir` fsyncs the directory. */
export class NodeWalFiles implements WalFiles {
  private readonly syncs = new SyncLatency();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  async list(): Promise<string[]> {
    return readdir(this.dir);
  }

  async read(name: string): Promise<Uint8Array> {
    return readFile(join(this.dir, name));
  }

  async create(name: string): Promise<WalFile> {
    const handle = await open(join(this.dir, name), 'wx', 0o600);
    return new NodeWalFile(name, handle, 0, this.syncs);
  }

  async openAppend(name: string): Promise<WalFile> {
    const handle = await open(join(this.dir, name), 'a');
    const { size } = await handle.stat();
    return new NodeWalFile(name, handle, size, this.syncs);
  }

  async remove(name: string): Promise<void> {
    await unlink(join(this.dir, name));
  }

  async syncDir(): Promise<void> {
    const handle = await open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** Appends up to this size are written synchronously (a page-cache copy); larger ones on the thread pool. */
const SYNC_WRITE_BYTES_MAX = 256 * 1024;

/** A sync held on the event loop must be short: inline syncs only while they average at most this. */
const INLINE_SYNC_MS_MAX = 0.5;

/**
 * How long fdatasync takes on this directory's disk (moving average). A slow disk (network block
 * storage: milliseconds per sync) must not hold the event loop, and with it every read and watch,
 * for a sync; there every sync waits on the thread pool.
 */
export class SyncLatency {
  private averageMs = 0;

  record(ms: number): void {
    this.averageMs = this.averageMs === 0 ? ms : this.averageMs * 0.9 + ms * 0.1;
  }

  inlineAllowed(): boolean {
    return this.averageMs <= INLINE_SYNC_MS_MAX;
  }
}

class NodeWalFile implements WalFile {
  constructor(
    readonly name: string,
    private readonly handle: FileHandle,
    private bytes: number,
    private readonly syncs: SyncLatency,
  ) {}

  size(): number {
    return this.bytes;
  }

  async append(data: Uint8Array): Promise<void> {
    let written = 0;
    if (data.length <= SYNC_WRITE_BYTES_MAX) {
      // A small append only copies into the page cache (microseconds): done on the event loop, it
      // saves a thread-pool round trip on every write's latency; the fdatasync stays asynchronous.
      while (written < data.length) written += writeSync(this.handle.fd, data, written, data.length - written);
    } else {
      while (written < data.length) {
        const { bytesWritten } = await this.handle.write(data, written, data.length - written);
        written += bytesWritten;
      }
    }
    this.bytes += data.length;
  }

  async truncate(length: number): Promise<void> {
    await this.handle.truncate(length);
    this.bytes = length;
  }

  async sync(inline = false): Promise<void> {
    const started = performance.now();
    if (inline && this.syncs.inlineAllowed()) {
      // A lone write on a fast disk: fdatasync on the event loop saves the thread-pool round trip
      // (~40-80 µs here) and nothing else is waiting for the loop meanwhile.
      fdatasyncSync(this.handle.fd);
    } else {
      await new Promise<void>((resolve, reject) => fdatasync(this.handle.fd, (error) => (error === null ? resolve() : reject(error))));
    }
    this.syncs.record(performance.now() - started);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
