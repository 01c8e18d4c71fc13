import { RemoteStateError } from '../errors.js';
import type { Checksum } from '../../ports/checksum.js';
import type { DatabaseRestorer } from '../../ports/database-snapshots.js';
import type { Logger } from '../../ports/logger.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import type { ObjectStore } from '../../ports/object-store.js';
import { INITIAL_REVISION, type CommittedBatch, type Revision } from '../mvcc/types.js';
import { replayWal } from '../wal/replay.js';
import type { CheckpointManifest } from './checkpoint-manifest.js';
import { readLatestPointerKey, readManifest, restoreNewestCheckpoint } from './checkpoint-restore.js';
import { readRemoteWal, RemoteWalGapError, type RemoteWalTail } from './remote-wal.js';

/** The local store after it was opened and its own WAL replayed. */
export interface LocalState {
  readonly backend: MvccBackend;
  /** The batches recovered from the local WAL, in order. */
  readonly localBatches: readonly CommittedBatch[];
}

export interface RecoveryPorts {
  readonly store: ObjectStore;
  readonly restorer: DatabaseRestorer;
  readonly checksum: Checksum;
  readonly logger: Logger;
  /** Opens the local store and replays the local WAL into it. */
  openLocal(): Promise<LocalState>;
  /** Closes the local store and deletes its database and WAL (a disk behind the object store with a gap). */
  wipeLocal(local: LocalState): Promise<void>;
  /**
   * The store now holds batches the local WAL does not (restored or replayed from the object
   * store): make the store durable and drop the local segments, so the local WAL starts afresh
   * after the store's revision.
   */
  resetLocalWal(local: LocalState): Promise<void>;
  /** Uploads local batches the object store lacks, continuing its newest object (WalUploadStage.resume). */
  uploadMissing(tail: RemoteWalTail | undefined, missing: readonly CommittedBatch[]): Promise<void>;
}

export interface RecoveryResult {
  readonly local: LocalState;
  readonly restored: CheckpointManifest | undefined;
  /** Batches read from the object store and applied. */
  readonly remoteBatchesApplied: number;
  /** The object store's newest WAL object (WalUploadStage.resume continues it). */
  readonly tail: RemoteWalTail | undefined;
  /** Local batches the object store may not have, to upload before serving. */
  readonly missing: readonly CommittedBatch[];
  /** The newest checkpoint's revision, if any. */
  readonly checkpointRevision: Revision | undefined;
}

/**
 * Start-up with an object store (docs/object-storage.md, "Recovery"):
 *  - empty disk: restore the newest readable checkpoint (older ones if it is damaged), then replay
 *    the WAL objects after it;
 *  - disk behind the object store: replay the WAL objects it lacks;
 *  - disk behind with a gap (the WAL it needs was collected): wipe it and restore as if empty;
 *  - disk ahead of the object store (writes acknowledged locally, upload interrupted): keep it and
 *    report the batches to upload.
 * Replay asserts contiguous revisions throughout.
 */
export async function recoverWithObjectStore(ports: RecoveryPorts): Promise<RecoveryResult> {
  const { store, restorer, checksum, logger } = ports;
  let restored: CheckpointManifest | undefined;
  if (!restorer.exists()) {
    logger.info({}, 'no local database: restoring from the object store');
    restored = await restoreNewestCheckpoint(store, restorer, checksum, logger);
    if (restored === undefined) logger.info({}, 'the object store has no checkpoint; replaying its WAL from the start');
  }
  let local = await ports.openLocal();
  if (restored !== undefined && local.backend.currentRevision() < restored.revision) {
    throw new RemoteStateError(`t4: restored checkpoint at revision ${restored.revision} opened at revision ${local.backend.currentRevision()}`);
  }
  let read;
  try {
    read = await readRemoteWal(store, checksum, local.backend.currentRevision(), logger);
  } catch (error) {
    if (!(error instanceof RemoteWalGapError) || restored !== undefined) throw error;
    logger.warn(
      { revision: local.backend.currentRevision(), err: error },
      'the local database is behind the object store and the WAL between was collected: restoring from the newest checkpoint',
    );
    await ports.wipeLocal(local);
    restored = await restoreNewestCheckpoint(store, restorer, checksum, logger);
    if (restored === undefined) throw error;
    local = await ports.openLocal();
    read = await readRemoteWal(store, checksum, local.backend.currentRevision(), logger);
  }
  const applied = replayWal(read.batches, local.backend, logger);

  let checkpointRevision = restored?.revision;
  if (checkpointRevision === undefined) {
    try {
      const key = await readLatestPointerKey(store);
      if (key !== undefined) checkpointRevision = (await readManifest(store, key)).revision;
    } catch (error) {
      if (!(error instanceof RemoteStateError)) throw error;
      logger.warn({ err: error }, 'the latest checkpoint is unreadable');
    }
  }
  const remoteLast = Math.max(read.tail?.lastRevision ?? INITIAL_REVISION, checkpointRevision ?? INITIAL_REVISION);
  const missing = local.localBatches.filter((b) => b.fromRevision >= remoteLast);
  const revision = local.backend.currentRevision();
  if (revision > remoteLast && (missing[0] === undefined || missing[0].fromRevision > remoteLast)) {
    throw new RemoteStateError(
      `t4: the local store is at revision ${revision} but the object store ends at ${remoteLast} and the local WAL does not hold the revisions between; ` +
        'start with an empty data dir to restore from the object store, or with a new prefix to keep the local data',
    );
  }
  if (missing.length > 0) logger.info({ batches: missing.length, fromRevision: remoteLast, toRevision: revision }, 'the local disk is ahead of the object store; uploading the difference');
  await ports.uploadMissing(read.tail, missing);
  // Only now (everything local is in the object store) may the local WAL be dropped. Also when
  // the store is ahead of the local WAL without having applied anything now: an earlier start-up
  // attempt replayed remote batches and then failed (the store unreachable), so those batches are
  // in the store but in no local segment, and maybe not yet synced: a power cut would leave the
  // store behind the next segment, and start-up would stop at "WAL segments are missing".
  const localWalRevision = local.localBatches[local.localBatches.length - 1]?.toRevision ?? INITIAL_REVISION;
  if (restored !== undefined || applied > 0 || revision > localWalRevision) await ports.resetLocalWal(local);
  return { local, restored, remoteBatchesApplied: applied, tail: read.tail, missing, checkpointRevision };
}
