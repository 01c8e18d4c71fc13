import type { CancelTimer, Timers } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { Revision } from '../mvcc/types.js';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from '../wal/wal-codec.js';
import type { SealedSegment, WalLog } from '../wal/wal-log.js';
import type { Checksum } from '../../ports/checksum.js';
import type { WalUploadStage } from './wal-upload-stage.js';

/**
 * Asynchronous WAL upload (`--wal-sync-upload=false`): writes are acknowledged after the local
 * fdatasync; sealed segments go to `wal/<term>/<first revision>` in the background, in order, each
 * retried until it is in. A segment is sealed when it reaches `--segment-max-size-mb` or, every
 * `--segment-max-age-sec`, when it holds a batch that took a revision; an active segment of
 * revision-less batches only is uploaded as it is (its object grows later). On close the active
 * segment is uploaded too. If the disk is lost, at most the writes of the last
 * `--segment-max-age-sec` are lost (docs/object-storage.md).
 *
 * Local segments are deleted once uploaded and covered by synced SQLite state (WalLog gates on
 * `uploadedRevision`).
 */
export interface SegmentUploaderOptions {
  readonly term: bigint;
  readonly segmentAgeMaxMs: number;
}

export class SegmentUploader {
  private readonly queue: SealedSegment[] = [];
  private uploaded: Revision;
  private draining: Promise<void> | undefined;
  private cancelTick: CancelTimer | undefined;
  private ticking: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly wal: () => WalLog,
    private readonly stage: WalUploadStage,
    private readonly checksum: Checksum,
    private readonly timers: Timers,
    private readonly logger: Logger,
    private readonly options: SegmentUploaderOptions,
    /** Frames already in the object under the first new segment's key (the run `resume` left open). */
    private readonly carry: { firstRevision: Revision; frames: readonly Uint8Array[] } | undefined,
    uploadedRevision: Revision,
  ) {
    this.uploaded = uploadedRevision;
  }

  /** The revision up to which sealed segments are uploaded. */
  uploadedRevision(): Revision {
    return this.uploaded;
  }

  start(): void {
    this.schedule();
  }

  /** WalLog's onSealed: a segment rotated by size. */
  sealed(segment: SealedSegment): void {
    this.queue.push(segment);
    this.kick();
  }

  /** Seals or uploads the active segment now, then waits until everything queued is uploaded. */
  async flush(): Promise<void> {
    const result = await this.wal().sealActive();
    if ('sealed' in result) {
      this.queue.push(result.sealed);
    } else if (result.active.lastRevision !== undefined) {
      await this.stage.uploadSegment(result.active.firstRevision, this.withCarry(result.active.firstRevision, result.active.bytes));
    }
    this.kick();
    await this.draining;
    if (this.queue.length > 0) throw new Error(`${this.queue.length} sealed WAL segment(s) not uploaded yet`);
  }

  /** Uploads what is left (the active segment included) and stops. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelTick?.();
    await this.ticking;
    await this.flush();
  }

  private schedule(): void {
    if (this.closed) return;
    this.cancelTick = this.timers.after(this.options.segmentAgeMaxMs, () => {
      this.ticking = this.flush()
        .catch((err: unknown) => {
          if (!this.closed) this.logger.error({ err }, 'periodic WAL segment upload failed');
        })
        .finally(() => this.schedule());
    });
  }

  /** Starts draining the queue unless a drain runs; a drain that fails (closed) waits for the next flush. */
  private kick(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().then(
      () => {
        this.draining = undefined;
        if (this.queue.length > 0) this.kick();
      },
      (err: unknown) => {
        this.draining = undefined;
        if (!this.closed) this.logger.error({ err }, 'WAL segment upload stopped; the next flush tries again');
      },
    );
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const segment = this.queue[0] as SealedSegment;
      const bytes = await this.wal().readSegment(segment.name);
      await this.stage.uploadSegment(segment.firstRevision, this.withCarry(segment.firstRevision, bytes));
      this.queue.shift();
      this.uploaded = Math.max(this.uploaded, segment.lastRevision);
      this.logger.debug({ segment: segment.name, lastRevision: segment.lastRevision }, 'WAL segment uploaded');
      await this.wal().release();
    }
  }

  /** A segment whose key holds frames from before the restart keeps them first. */
  private withCarry(firstRevision: Revision, segment: Uint8Array): Uint8Array {
    if (this.carry === undefined || this.carry.firstRevision !== firstRevision || this.carry.frames.length === 0) return segment;
    const header = encodeSegmentHeader({ term: this.options.term, firstRevision }, this.checksum);
    const rest = segment.subarray(SEGMENT_HEADER_BYTES);
    let size = header.length + rest.length;
    for (const f of this.carry.frames) size += f.length;
    const body = new Uint8Array(size);
    body.set(header, 0);
    let o = header.length;
    for (const f of this.carry.frames) {
      body.set(f, o);
      o += f.length;
    }
    body.set(rest, o);
    return body;
  }
}
