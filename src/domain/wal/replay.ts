import { assert } from '../assert.js';
import type { Logger } from '../../ports/logger.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import type { CommittedBatch } from '../mvcc/types.js';

/**
 * Applies the WAL batches the store does not hold yet. The store records the revision of the last
 * batch it applied in the same transaction as the data, so a batch is held when its `toRevision`
 * is at or below the store's revision (a compaction-only batch: when its compaction is).
 * Invariant: replay starts exactly at the store's revision and stays contiguous.
 */
export function replayWal(batches: readonly CommittedBatch[], backend: MvccBackend, logger: Logger): number {
  let replayed = 0;
  const first = batches[0];
  if (first !== undefined && first.fromRevision > backend.currentRevision()) {
    throw new Error(
      `the WAL starts at revision ${first.fromRevision} but the database is at ${backend.currentRevision()}: WAL segments are missing`,
    );
  }
  for (const batch of batches) {
    const held =
      batch.toRevision < backend.currentRevision() ||
      (batch.toRevision === backend.currentRevision() &&
        (batch.fromRevision !== batch.toRevision || (batch.compactRevision ?? -Infinity) <= backend.compactRevision()));
    if (held) continue;
    assert(batch.fromRevision === backend.currentRevision(), `replay must be contiguous: store at ${backend.currentRevision()}, batch from ${batch.fromRevision}`);
    backend.apply(batch);
    replayed++;
  }
  if (replayed > 0) logger.info({ replayed, revision: backend.currentRevision() }, 'replayed WAL batches');
  return replayed;
}
