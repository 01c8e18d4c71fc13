import { assert } from '../assert.js';
import { WalCorruptError } from '../errors.js';
import type { AppendHints, BatchLog } from '../../ports/batch-log.js';
import type { Checksum } from '../../ports/checksum.js';
import type { Logger } from '../../ports/logger.js';
import type { WalFile, WalFiles } from '../../ports/wal-files.js';
import type { CommittedBatch, Revision } from '../mvcc/types.js';
import { scanSegment } from './segment-scan.js';
import { encodeBatchFrame, encodeSegmentHeader } from './wal-codec.js';

/**
 * The local write-ahead log: the pipeline's first durability stage. `append(batch)` writes the
 * batch as one frame and fdatasyncs it; the batch is acknowledged only after that resolved.
 *
 * Segments are named `<term:10>-<first revision:20>.wal` and rotate once they reach
 * `segmentBytesMax` (at a batch boundary). A sealed segment is deleted once the store's durable
 * state covers its last revision (`durableRevision()`: SQLite checkpointed to disk).
 *
 * Recovery (`recover`): segments are read in order, the newest one's torn tail is truncated (see
 * segment-scan.ts), batches are checked to be contiguous, and returned for replay.
 */
export interface WalLogOptions {
  readonly segmentBytesMax: number;
  readonly term: bigint;
  /** Start a new segment even when the newest one has room (with an object store: new batches go to a segment of their own). */
  readonly forceNewSegment?: boolean;
  /** Called with every segment sealed by rotation, in order (the background uploader queues it). */
  readonly onSealed?: (segment: SealedSegment) => void;
  /** The revision up to which sealed segments are in the object store (default: all). Segments past it are kept. */
  readonly uploadedRevision?: () => Revision;
}

export interface SealedSegment {
  readonly name: string;
  readonly firstRevision: Revision;
  readonly lastRevision: Revision;
}

interface Sealed {
  readonly name: string;
  readonly lastRevision: Revision;
}

export interface RecoveredWal {
  readonly batches: readonly CommittedBatch[];
  /** Segments left on disk, oldest first, with the revision their last batch reached. */
  readonly segments: readonly { name: string; firstRevision: Revision; lastRevision: Revision | undefined }[];
}

export function segmentName(term: bigint, firstRevision: Revision): string {
  return `${term.toString().padStart(10, '0')}-${String(firstRevision).padStart(20, '0')}.wal`;
}

const SEGMENT_NAME = /^\d{10}-\d{20}\.wal$/;

export async function recoverWal(files: WalFiles, checksum: Checksum, logger: Logger): Promise<RecoveredWal> {
  const names = (await files.list()).filter((n) => SEGMENT_NAME.test(n)).sort();
  const batches: CommittedBatch[] = [];
  const segments: { name: string; firstRevision: Revision; lastRevision: Revision | undefined }[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const newest = i === names.length - 1;
    const bytes = await files.read(name);
    const scanned = scanSegment(name, bytes, newest, checksum);
    if (scanned.header === undefined) {
      logger.warn({ segment: name, bytes: bytes.length }, 'removing a WAL segment whose header was torn at creation');
      await files.remove(name);
      await files.syncDir();
      continue;
    }
    const first = scanned.batches[0];
    if (first !== undefined && first.fromRevision !== scanned.header.firstRevision - 1) {
      throw new WalCorruptError(name, 24, `first batch starts at ${first.fromRevision}, header says ${scanned.header.firstRevision - 1}`);
    }
    for (const batch of scanned.batches) {
      const prev = batches[batches.length - 1];
      if (prev !== undefined && batch.fromRevision !== prev.toRevision) {
        throw new WalCorruptError(name, 0, `revision gap: a batch ends at ${prev.toRevision}, the next starts at ${batch.fromRevision}`);
      }
      batches.push(batch);
    }
    if (scanned.tornBytes > 0) {
      // Zeros only: the space the file layer writes ahead of the end (a stop without close), not damage.
      if (bytes.subarray(scanned.validEnd).every((byte) => byte === 0)) {
        logger.info({ segment: name, offset: scanned.validEnd, bytes: scanned.tornBytes }, 'cutting the zeroed space after the end of the WAL');
      } else {
        logger.warn({ segment: name, offset: scanned.validEnd, bytes: scanned.tornBytes }, 'truncating the torn tail of the WAL (never acknowledged)');
      }
      const file = await files.openAppend(name);
      await file.truncate(scanned.validEnd);
      await file.sync();
      await file.close();
    }
    segments.push({ name, firstRevision: scanned.header.firstRevision, lastRevision: scanned.batches[scanned.batches.length - 1]?.toRevision });
  }
  return { batches, segments };
}

export class WalLog implements BatchLog {
  private closed = false;

  private constructor(
    private readonly files: WalFiles,
    private readonly checksum: Checksum,
    private readonly options: WalLogOptions,
    private readonly logger: Logger,
    private readonly durableRevision: () => Promise<Revision>,
    private active: WalFile,
    private activeFirst: Revision,
    private activeLast: Revision | undefined,
    private readonly sealed: Sealed[],
  ) {}

  /**
   * Opens the log for appending after recovery and replay: continues the newest segment if it has
   * room, else starts one at `storeRevision + 1`.
   */
  static async start(
    files: WalFiles,
    checksum: Checksum,
    options: WalLogOptions,
    logger: Logger,
    recovered: RecoveredWal,
    storeRevision: Revision,
    durableRevision: () => Promise<Revision>,
  ): Promise<WalLog> {
    const sealed: Sealed[] = [];
    const segments = [...recovered.segments];
    const newest = segments[segments.length - 1];
    for (const s of segments.slice(0, -1)) sealed.push({ name: s.name, lastRevision: s.lastRevision ?? s.firstRevision - 1 });
    let active: WalFile | undefined;
    let activeFirst = storeRevision + 1;
    let activeLast: Revision | undefined;
    if (newest !== undefined) {
      const newestLast = newest.lastRevision ?? newest.firstRevision - 1;
      if (newestLast < storeRevision) {
        // The store holds batches the WAL does not: it only applies synced batches, so the disk
        // lost synced WAL bytes. Nothing is missing from the store; the log restarts after it.
        logger.error({ segment: newest.name, walRevision: newestLast, storeRevision }, 'the WAL is behind the database: synced WAL data was lost');
      }
      // forceNewSegment: new batches get a segment of their own, unless the newest one holds no
      // batch that took a revision (its name is the one a new segment would get).
      const continuable = options.forceNewSegment !== true || newest.firstRevision === storeRevision + 1;
      const file = newestLast === storeRevision && continuable ? await files.openAppend(newest.name) : undefined;
      if (file !== undefined && file.size() < options.segmentBytesMax) {
        active = file;
        activeFirst = newest.firstRevision;
        activeLast = newest.lastRevision;
      } else {
        await file?.close();
        sealed.push({ name: newest.name, lastRevision: newestLast });
      }
    }
    active ??= await createSegment(files, checksum, options.term, activeFirst);
    const wal = new WalLog(files, checksum, options, logger, durableRevision, active, activeFirst, activeLast, sealed);
    await wal.releaseCovered();
    return wal;
  }

  /** Appends and rotations run one at a time, in call order. */
  private tail: Promise<unknown> = Promise.resolve();

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op);
    this.tail = result.catch(() => undefined);
    return result;
  }

  append(batch: CommittedBatch, hints?: AppendHints): Promise<void> {
    return this.serial(() => this.appendNow(batch, hints?.alone === true));
  }

  /**
   * For the background uploader (async mode): seals the active segment when it holds a batch that
   * took a revision (the next segment then starts after it) and returns it; otherwise returns the
   * active segment's name and bytes so far (revision-less batches only, or nothing), unsealed.
   */
  sealActive(): Promise<{ sealed: SealedSegment } | { active: { firstRevision: Revision; lastRevision: Revision | undefined; bytes: Uint8Array } }> {
    return this.serial(async () => {
      const last = this.activeLast;
      if (last !== undefined && last + 1 > this.activeFirst) {
        const sealed = { name: this.active.name, firstRevision: this.activeFirst, lastRevision: last };
        await this.rotate(last + 1, false);
        return { sealed };
      }
      const bytes = last === undefined ? new Uint8Array(0) : await this.files.read(this.active.name);
      return { active: { firstRevision: this.activeFirst, lastRevision: last, bytes } };
    });
  }

  /** The bytes of a segment on disk (header and frames). */
  readSegment(name: string): Promise<Uint8Array> {
    return this.files.read(name);
  }

  /** Deletes sealed segments now covered by durable and uploaded state. */
  release(): Promise<void> {
    return this.serial(() => this.releaseCovered());
  }

  private async appendNow(batch: CommittedBatch, alone: boolean): Promise<void> {
    assert(!this.closed, 'append on a closed WAL');
    assert(this.activeLast === undefined || batch.fromRevision === this.activeLast, 'WAL batches are contiguous');
    const frame = encodeBatchFrame(batch, this.options.term, this.checksum);
    await this.active.append(frame);
    await this.active.sync(alone);
    this.activeLast = batch.toRevision;
    if (this.active.size() >= this.options.segmentBytesMax && batch.toRevision + 1 > this.activeFirst) {
      await this.rotate(batch.toRevision + 1);
    }
  }

  /** Segments on disk (for tests and status). */
  segmentNames(): string[] {
    return [...this.sealed.map((s) => s.name), this.active.name];
  }

  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.active.close();
    });
  }

  private async rotate(firstRevision: Revision, notify = true): Promise<void> {
    const sealed = { name: this.active.name, firstRevision: this.activeFirst, lastRevision: this.activeLast ?? this.activeFirst - 1 };
    this.sealed.push(sealed);
    if (notify) this.options.onSealed?.(sealed);
    await this.active.close();
    this.active = await createSegment(this.files, this.checksum, this.options.term, firstRevision);
    this.activeFirst = firstRevision;
    this.activeLast = undefined;
    this.logger.debug({ segment: this.active.name }, 'WAL segment rotated');
    await this.releaseCovered();
  }

  /** Deletes sealed segments whose every batch the store holds durably. */
  private async releaseCovered(): Promise<void> {
    if (this.sealed.length === 0) return;
    const durable = Math.min(await this.durableRevision(), this.options.uploadedRevision?.() ?? Number.POSITIVE_INFINITY);
    let removed = 0;
    while (this.sealed.length > 0 && (this.sealed[0] as Sealed).lastRevision <= durable) {
      const s = this.sealed.shift() as Sealed;
      await this.files.remove(s.name);
      removed++;
    }
    if (removed > 0) {
      await this.files.syncDir();
      this.logger.debug({ removed, durableRevision: durable }, 'WAL segments released');
    }
  }
}

async function createSegment(files: WalFiles, checksum: Checksum, term: bigint, firstRevision: Revision): Promise<WalFile> {
  const file = await files.create(segmentName(term, firstRevision));
  await file.append(encodeSegmentHeader({ term, firstRevision }, checksum));
  await file.sync();
  await files.syncDir();
  return file;
}
