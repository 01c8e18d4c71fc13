import { RemoteStateError, WalCorruptError } from '../errors.js';
import type { Checksum } from '../../ports/checksum.js';
import type { Logger } from '../../ports/logger.js';
import { listAll, type ObjectStore } from '../../ports/object-store.js';
import type { CommittedBatch, Revision } from '../mvcc/types.js';
import { readFrame, SEGMENT_HEADER_BYTES } from '../wal/wal-codec.js';
import { scanSegment } from '../wal/segment-scan.js';
import { parseWalKey, WAL_PREFIX } from './remote-keys.js';

/**
 * The WAL in the object store: `wal/<term>/<first revision>` objects, each a segment (header +
 * frames) as on disk. Objects are written so that, in key order, their batches are contiguous;
 * two objects may overlap (a batch in both), never leave a gap. An object is only ever replaced by
 * a longer one holding the same batches first (an open run growing, see WalUploadStage).
 */
export interface RemoteWalObject {
  readonly key: string;
  readonly firstRevision: Revision;
  readonly sizeBytes: number;
}

/** The newest object, as the uploader needs it to continue without losing anything. */
export interface RemoteWalTail {
  readonly key: string;
  /** The revision its last batch reached. */
  readonly lastRevision: Revision;
  /** Whether it holds a batch that took a revision (else it is an open run of revision-less batches). */
  readonly takesRevision: boolean;
  /** Its frames as stored, to be rewritten first when the run grows. */
  readonly frames: readonly Uint8Array[];
}

export interface RemoteWalRead {
  /** Batches after `afterRevision`, contiguous from it (revision-less batches at it included). */
  readonly batches: readonly CommittedBatch[];
  readonly tail: RemoteWalTail | undefined;
  readonly objects: readonly RemoteWalObject[];
}

/** The remote WAL does not reach back to the revision a replay must start from. */
export class RemoteWalGapError extends RemoteStateError {
  constructor(
    readonly fromRevision: Revision,
    readonly nextAvailable: Revision | undefined,
  ) {
    super(
      nextAvailable === undefined
        ? `t4: the object store's WAL ends before revision ${fromRevision + 1}`
        : `t4: the object store's WAL is missing revisions ${fromRevision + 1}..${nextAvailable} (garbage-collected or never uploaded)`,
    );
  }
}

export async function listRemoteWal(store: ObjectStore, signal?: AbortSignal): Promise<RemoteWalObject[]> {
  const out: RemoteWalObject[] = [];
  for await (const o of listAll(store, WAL_PREFIX, signal === undefined ? {} : { signal })) {
    const parsed = parseWalKey(o.key);
    if (parsed === undefined) continue;
    out.push({ key: o.key, firstRevision: parsed.firstRevision, sizeBytes: o.sizeBytes });
  }
  return out;
}

/**
 * Reads the batches the store has after `afterRevision` (every object from the last one that can
 * hold revision afterRevision + 1), checking that they continue exactly from it. Throws
 * RemoteWalGapError when they do not, WalCorruptError when an object does not decode.
 */
export async function readRemoteWal(
  store: ObjectStore,
  checksum: Checksum,
  afterRevision: Revision,
  logger: Logger,
  signal?: AbortSignal,
): Promise<RemoteWalRead> {
  const objects = await listRemoteWal(store, signal);
  if (objects.length === 0) return { batches: [], tail: undefined, objects };
  let start = 0;
  for (let i = 0; i < objects.length; i++) if ((objects[i] as RemoteWalObject).firstRevision <= afterRevision + 1) start = i;
  const batches: CommittedBatch[] = [];
  let revision = afterRevision;
  let tail: RemoteWalTail | undefined;
  for (let i = start; i < objects.length; i++) {
    const object = objects[i] as RemoteWalObject;
    const bytes = await store.get(object.key, signal === undefined ? {} : { signal });
    if (bytes === undefined) throw new RemoteStateError(`t4: WAL object ${object.key} vanished while reading (is another node collecting garbage?)`);
    const scanned = scanSegment(object.key, bytes, false, checksum);
    const header = scanned.header;
    if (header === undefined || header.firstRevision !== object.firstRevision) {
      throw new WalCorruptError(object.key, 0, `header says first revision ${header?.firstRevision}, key says ${object.firstRevision}`);
    }
    for (const batch of scanned.batches) {
      if (batch.toRevision < revision || (batch.toRevision === revision && batch.fromRevision < batch.toRevision)) continue;
      if (batch.fromRevision > revision) throw new RemoteWalGapError(revision, batch.fromRevision);
      if (batch.fromRevision < revision) {
        throw new WalCorruptError(object.key, 0, `batch ${batch.fromRevision}..${batch.toRevision} overlaps revision ${revision} partly`);
      }
      batches.push(batch);
      revision = batch.toRevision;
    }
    if (i === objects.length - 1) {
      const last = scanned.batches[scanned.batches.length - 1];
      tail = {
        key: object.key,
        lastRevision: last?.toRevision ?? object.firstRevision - 1,
        takesRevision: scanned.batches.some((b) => b.toRevision > b.fromRevision),
        frames: frameBytes(bytes, scanned.validEnd, checksum),
      };
    }
  }
  if (batches.length > 0) logger.info({ batches: batches.length, fromRevision: afterRevision, toRevision: revision }, 'read WAL batches from the object store');
  return { batches, tail, objects };
}

function frameBytes(bytes: Uint8Array, end: number, checksum: Checksum): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < end) {
    const frame = readFrame(bytes, offset, checksum);
    if (!frame.ok) break;
    frames.push(bytes.slice(offset, frame.end));
    offset = frame.end;
  }
  return frames;
}
