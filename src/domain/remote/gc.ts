import { RemoteStateError } from '../errors.js';
import type { Logger } from '../../ports/logger.js';
import { listAll, type ObjectStore } from '../../ports/object-store.js';
import type { Revision } from '../mvcc/types.js';
import { listCheckpoints, readLatestPointerKey, readManifest } from './checkpoint-restore.js';
import { chunkKey, parseCheckpointManifestKey } from './remote-keys.js';
import { listRemoteWal, type RemoteWalObject } from './remote-wal.js';

export interface GcOptions {
  /** Newest checkpoints kept (at least 1); the one manifest/latest names is always kept too. */
  readonly keep: number;
  readonly dryRun?: boolean;
  readonly onProgress?: (step: string, done: number, total: number) => void;
}

export interface GcResult {
  readonly keptCheckpoints: readonly string[];
  readonly deletedCheckpoints: number;
  readonly deletedChunks: number;
  readonly deletedWalSegments: number;
  /** WAL segments holding only revisions at or below this are deleted. */
  readonly walHorizon: Revision | undefined;
}

/**
 * WAL segments that only hold revisions a kept checkpoint covers. Objects are in key order, each
 * starting where (or before) the previous one ends, so segment i ends before segment i + 1 starts:
 * it can go when `first(i + 1) - 1 <= horizon`. The newest segment is always kept.
 */
export function walSegmentsCovered(objects: readonly RemoteWalObject[], horizon: Revision): RemoteWalObject[] {
  const out: RemoteWalObject[] = [];
  for (let i = 0; i + 1 < objects.length; i++) {
    if ((objects[i + 1] as RemoteWalObject).firstRevision - 1 <= horizon) out.push(objects[i] as RemoteWalObject);
  }
  return out;
}

/**
 * Garbage collection of one prefix (after each checkpoint with keep 2, and `t4 gc --keep N`):
 *  1. checkpoints: keep the newest `keep` and the one manifest/latest names; delete the others;
 *  2. chunks: delete the chunks of deleted checkpoints that no kept checkpoint uses (no full LIST
 *     of chunks/, so chunks a checkpoint in progress just uploaded are never candidates);
 *  3. WAL: delete segments covered by the oldest kept checkpoint (so every kept checkpoint can
 *     still be restored and replayed forward).
 * If a kept manifest cannot be read, nothing is deleted: GC must never remove what a restore needs.
 */
export async function collectGarbage(store: ObjectStore, logger: Logger, options: GcOptions): Promise<GcResult> {
  if (!Number.isInteger(options.keep) || options.keep < 1) throw new RangeError(`keep must be at least 1, got ${options.keep}`);
  const all = await listCheckpoints(store);
  const latest = await readLatestPointerKey(store);
  const kept = new Set(all.slice(-options.keep));
  if (latest !== undefined) kept.add(latest);
  const deleted = all.filter((k) => !kept.has(k));
  const keptManifests = [];
  for (const key of kept) {
    try {
      keptManifests.push(await readManifest(store, key));
    } catch (error) {
      if (error instanceof RemoteStateError) throw new RemoteStateError(`t4: gc stopped, nothing deleted: kept checkpoint ${key} is unreadable (${error.message})`);
      throw error;
    }
  }
  const used = new Set<string>();
  for (const m of keptManifests) for (const c of m.database.chunks) used.add(c);
  const candidates = new Set<string>();
  for (const [i, key] of deleted.entries()) {
    try {
      const m = await readManifest(store, key);
      for (const c of m.database.chunks) if (!used.has(c)) candidates.add(c);
    } catch (error) {
      if (!(error instanceof RemoteStateError)) throw error;
      logger.warn({ err: error, checkpoint: key }, 'gc: unreadable checkpoint manifest; deleting the checkpoint but not its chunks');
    }
    options.onProgress?.('reading checkpoints', i + 1, deleted.length);
  }
  const horizon = keptManifests.length === 0 ? undefined : Math.min(...keptManifests.map((m) => m.revision));
  const wal = horizon === undefined ? [] : walSegmentsCovered(await listRemoteWal(store), horizon);
  if (options.dryRun !== true) {
    for (const [i, key] of deleted.entries()) {
      const dir = key.slice(0, key.length - 'manifest.json'.length);
      const keys: string[] = [];
      for await (const o of listAll(store, dir)) keys.push(o.key);
      // The manifest last: an interrupted gc leaves a checkpoint that still lists its chunks.
      await store.deleteMany(keys.filter((k) => k !== key));
      await store.delete(key);
      options.onProgress?.('deleting checkpoints', i + 1, deleted.length);
    }
    const chunkKeys = [...candidates].map(chunkKey);
    for (let i = 0; i < chunkKeys.length; i += 1000) {
      await store.deleteMany(chunkKeys.slice(i, i + 1000));
      options.onProgress?.('deleting chunks', Math.min(i + 1000, chunkKeys.length), chunkKeys.length);
    }
    for (let i = 0; i < wal.length; i += 1000) {
      await store.deleteMany(wal.slice(i, i + 1000).map((o) => o.key));
      options.onProgress?.('deleting WAL segments', Math.min(i + 1000, wal.length), wal.length);
    }
  }
  const result: GcResult = {
    keptCheckpoints: [...kept].sort(),
    deletedCheckpoints: deleted.length,
    deletedChunks: candidates.size,
    deletedWalSegments: wal.length,
    walHorizon: horizon,
  };
  logger.info({ ...result, dryRun: options.dryRun === true }, 'gc complete');
  return result;
}

export interface PrefixStatus {
  readonly latest: { key: string; revision: Revision; term: number; createdAt: string; sizeBytes: number; chunks: number } | undefined;
  readonly latestError: string | undefined;
  readonly checkpoints: readonly { key: string; revision: Revision }[];
  readonly chunkObjects: number;
  readonly chunkBytes: number;
  readonly walSegments: number;
  readonly walBytes: number;
  readonly walFirstRevision: Revision | undefined;
  readonly walLastSegmentFirstRevision: Revision | undefined;
}

/** What `t4 status` prints: the prefix's checkpoints, chunks and WAL. */
export async function prefixStatus(store: ObjectStore): Promise<PrefixStatus> {
  let latest: PrefixStatus['latest'];
  let latestError: string | undefined;
  try {
    const key = await readLatestPointerKey(store);
    if (key !== undefined) {
      const m = await readManifest(store, key);
      latest = { key, revision: m.revision, term: m.term, createdAt: m.created_at, sizeBytes: m.database.size_bytes, chunks: m.database.chunks.length };
    }
  } catch (error) {
    if (!(error instanceof RemoteStateError)) throw error;
    latestError = error.message;
  }
  const checkpoints = (await listCheckpoints(store)).map((key) => ({ key, revision: (parseCheckpointManifestKey(key) as { revision: Revision }).revision }));
  let chunkObjects = 0;
  let chunkBytes = 0;
  for await (const o of listAll(store, 'chunks/')) {
    chunkObjects++;
    chunkBytes += o.sizeBytes;
  }
  const wal = await listRemoteWal(store);
  return {
    latest,
    latestError,
    checkpoints,
    chunkObjects,
    chunkBytes,
    walSegments: wal.length,
    walBytes: wal.reduce((n, o) => n + o.sizeBytes, 0),
    walFirstRevision: wal[0]?.firstRevision,
    walLastSegmentFirstRevision: wal[wal.length - 1]?.firstRevision,
  };
}
