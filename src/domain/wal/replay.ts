import { assert } from '../assert.js';
import type { Logger } from '../../ports/logger.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import type { CommittedBatch } from '../mvcc/types.js';

/**
 * Applies the WAL batches the store does not hold yet. The store records the revision of the last
 * batch it applied in the same transaction as the data, so a batch that takes a revision is held
 * when its `toRevision` is at or below the store's revision.
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
    const current = backend.currentRevision();
    if (batch.toRevision < current) continue;
    if (batch.toRevision === current && batch.fromRevision !== batch.toRevision) continue;
    // Batches that take no revision (compaction, lease grants and revokes without keys, auth changes) at the
    // store's revision may or may not be in the store: their effects are idempotent, so they are
    // applied again, in order, leaving out a compaction the store already has.
    assert(batch.fromRevision === current, `replay must be contiguous: store at ${current}, batch from ${batch.fromRevision}`);
    const compactRevision =
      batch.compactRevision !== undefined && batch.compactRevision > backend.compactRevision() ? batch.compactRevision : undefined;
    const toApply: CommittedBatch = { ...batch, compactRevision };
    if (toApply.changes.length === 0 && compactRevision === undefined && (toApply.leaseChanges ?? []).length === 0 && toApply.authState === undefined) continue;
    backend.apply(toApply);
    replayed++;
  }
  if (replayed > 0) logger.info({ replayed, revision: backend.currentRevision() }, 'replayed WAL batches');
  return replayed;
}
