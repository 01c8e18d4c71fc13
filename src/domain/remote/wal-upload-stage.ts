import { assert } from '../assert.js';
import { DurableStoreUnavailableError } from '../errors.js';
import type { BatchLog } from '../../ports/batch-log.js';
import type { Checksum } from '../../ports/checksum.js';
import type { Timers } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { ObjectStore } from '../../ports/object-store.js';
import type { CommittedBatch, Revision } from '../mvcc/types.js';
import { encodeBatchFrame, encodeSegmentHeader } from '../wal/wal-codec.js';
import { walKey } from './remote-keys.js';
import type { RemoteWalTail } from './remote-wal.js';
import { retryUntilDone, type BackoffPolicy } from './retry.js';

/**
 * Synchronous WAL upload (`--wal-sync-upload`, the default): the pipeline stage after the local
 * WAL. A batch is acknowledged only once an object holding it is in the object store: one PUT per
 * batch of concurrent writes.
 *
 * Objects are runs: a run starts with the batch that takes its first revision R (key
 * `wal/<term>/<R>`) and takes the revision-less batches (compactions, lease grants) that follow it
 * until the next batch that takes a revision starts the next run. A revision-less batch therefore
 * rewrites its run's object with one more frame: the object only ever grows, and a PUT replaces it
 * atomically, so readers see the old run or the longer one. (Revision-less batches before any
 * revision-taking one open a run keyed by the revision after them, which the next write joins.)
 *
 * When the store fails, the upload is retried with backoff until it succeeds: the batch is already
 * in the local WAL, so it will be applied either way (now, or by replay after a crash) and must not
 * be reported as failed. Its callers get etcd's indeterminate `request timed out` from the
 * pipeline's watchdog; new requests are refused at once (`unavailable()`) until the store is back.
 * Nothing needs a restart. A response lost after a successful PUT is harmless: the retry writes
 * the same bytes to the same key.
 */
export interface WalUploadStageOptions {
  readonly term: bigint;
  readonly backoff?: BackoffPolicy;
}

interface Run {
  readonly firstRevision: Revision;
  readonly frames: Uint8Array[];
  takesRevision: boolean;
}

export class WalUploadStage implements BatchLog {
  private run: Run | undefined;
  private failure: unknown;
  private readonly closer = new AbortController();
  private uploads = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly checksum: Checksum,
    private readonly timers: Timers,
    private readonly logger: Logger,
    private readonly options: WalUploadStageOptions,
  ) {}

  /**
   * Continues after recovery: `tail` is the store's newest WAL object (its open run is continued
   * when it has no revision-taking batch yet), `missing` the local batches the store may not have
   * (from the store's last revision on). Uploads them as one object before any new batch.
   */
  async resume(tail: RemoteWalTail | undefined, missing: readonly CommittedBatch[]): Promise<void> {
    if (tail !== undefined && !tail.takesRevision) {
      this.run = { firstRevision: tail.lastRevision + 1, frames: [...tail.frames], takesRevision: false };
    }
    if (missing.length === 0) return;
    const first = missing[0] as CommittedBatch;
    if (this.run === undefined || this.run.firstRevision !== first.fromRevision + 1) {
      this.run = { firstRevision: first.fromRevision + 1, frames: [], takesRevision: false };
    }
    for (const batch of missing) {
      this.run.frames.push(encodeBatchFrame(batch, this.options.term, this.checksum));
      if (batch.toRevision > batch.fromRevision) this.run.takesRevision = true;
    }
    await this.upload(this.run);
    this.logger.info({ batches: missing.length, fromRevision: first.fromRevision, key: walKey(this.options.term, this.run.firstRevision) }, 'uploaded local WAL batches the object store did not have');
  }

  async append(batch: CommittedBatch): Promise<void> {
    const takes = batch.toRevision > batch.fromRevision;
    if (this.run === undefined || (takes && this.run.takesRevision)) {
      assert(this.run === undefined || batch.fromRevision + 1 > this.run.firstRevision, 'WAL runs start at increasing revisions');
      this.run = { firstRevision: batch.fromRevision + 1, frames: [], takesRevision: false };
    }
    this.run.frames.push(encodeBatchFrame(batch, this.options.term, this.checksum));
    if (takes) this.run.takesRevision = true;
    await this.upload(this.run);
  }

  unavailable(): Error | undefined {
    if (this.failure === undefined) return undefined;
    // The cause (endpoint, object names) goes to the log, not to clients.
    return new DurableStoreUnavailableError('t4: object store unavailable, writes are refused until it is back');
  }

  /** The open run (key and frames) after `resume`, so the background uploader can continue it. */
  openRun(): { firstRevision: Revision; frames: readonly Uint8Array[] } | undefined {
    return this.run === undefined ? undefined : { firstRevision: this.run.firstRevision, frames: [...this.run.frames] };
  }

  /** Uploads a whole segment body (header included) to its key, retrying like a batch upload. */
  async uploadSegment(firstRevision: Revision, body: Uint8Array): Promise<void> {
    await this.put(walKey(this.options.term, firstRevision), body);
  }

  /** Ends a retry in progress (its append rejects with ClosedError). */
  close(): void {
    this.closer.abort();
  }

  /** PUTs so far, for tests and metrics. */
  uploadCount(): number {
    return this.uploads;
  }

  private async upload(run: Run): Promise<void> {
    const key = walKey(this.options.term, run.firstRevision);
    const header = encodeSegmentHeader({ term: this.options.term, firstRevision: run.firstRevision }, this.checksum);
    let size = header.length;
    for (const f of run.frames) size += f.length;
    const body = new Uint8Array(size);
    body.set(header, 0);
    let offset = header.length;
    for (const f of run.frames) {
      body.set(f, offset);
      offset += f.length;
    }
    await this.put(key, body);
  }

  private async put(key: string, body: Uint8Array): Promise<void> {
    await retryUntilDone(() => this.store.put(key, body), {
      timers: this.timers,
      ...(this.options.backoff === undefined ? {} : { policy: this.options.backoff }),
      signal: this.closer.signal,
      onFailure: (error, attempts) => {
        if (this.failure === undefined) this.logger.warn({ err: error, key }, 'WAL upload failed; retrying until the object store is back (new writes are refused meanwhile)');
        else if (attempts % 20 === 0) this.logger.warn({ err: error, key, attempts }, 'WAL upload still failing');
        this.failure = error;
      },
    });
    this.uploads++;
    if (this.failure !== undefined) {
      this.logger.info({ key }, 'object store is back; WAL uploads resumed');
      this.failure = undefined;
    }
  }
}
