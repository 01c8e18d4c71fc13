import { RemoteStateError } from '../errors.js';
import type { Checksum } from '../../ports/checksum.js';
import type { DatabaseRestorer } from '../../ports/database-snapshots.js';
import type { Logger } from '../../ports/logger.js';
import { listAll, type ObjectStore } from '../../ports/object-store.js';
import { ObjectDecryptionError } from '../../ports/object-store-errors.js';
import { decodeCheckpointManifest, decodeLatestPointer, type CheckpointManifest } from './checkpoint-manifest.js';
import { CHECKPOINT_PREFIX, chunkKey, LATEST_MANIFEST_KEY, parseCheckpointManifestKey } from './remote-keys.js';

/** Every checkpoint manifest key in the store, oldest first. */
export async function listCheckpoints(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of listAll(store, CHECKPOINT_PREFIX)) if (parseCheckpointManifestKey(o.key) !== undefined) keys.push(o.key);
  return keys;
}

/** The key `manifest/latest` points at, or undefined when there is none (an unreadable pointer is an error). */
export async function readLatestPointerKey(store: ObjectStore): Promise<string | undefined> {
  const bytes = await store.get(LATEST_MANIFEST_KEY);
  return bytes === undefined ? undefined : decodeLatestPointer(bytes).checkpoint_key;
}

export async function readManifest(store: ObjectStore, key: string): Promise<CheckpointManifest> {
  const bytes = await store.get(key);
  if (bytes === undefined) throw new RemoteStateError(`t4: checkpoint manifest ${key} does not exist`);
  return decodeCheckpointManifest(bytes, key);
}

/**
 * A checkpoint that cannot be used (an unreadable manifest, a missing or damaged chunk, a body that
 * does not decrypt because it was damaged): fall back to the previous one. A key that is not
 * configured or a plaintext object under an encrypted configuration is a configuration error and
 * stops start-up instead.
 */
function isUnreadable(error: unknown): boolean {
  if (error instanceof RemoteStateError) return true;
  return error instanceof ObjectDecryptionError && error.reason !== 'unknown-key-id' && error.reason !== 'not-encrypted';
}

/** A manifest this T4 cannot read because it is too new: never fall back past it (that would hide newer data). */
function isTooNew(error: unknown): boolean {
  return error instanceof RemoteStateError && error.message.includes('newer than this T4 understands');
}

/**
 * Restores the newest readable checkpoint into the data dir (empty disk, or a disk too far behind).
 * Tries the checkpoint `manifest/latest` names, then older ones, newest first, warning about each
 * it skips (missing or damaged chunk, unreadable manifest). Returns undefined when the store has no
 * checkpoint (a new prefix, or a node that never checkpointed: the WAL then starts at revision 1).
 */
export async function restoreNewestCheckpoint(
  store: ObjectStore,
  restorer: DatabaseRestorer,
  checksum: Checksum,
  logger: Logger,
): Promise<CheckpointManifest | undefined> {
  const candidates: string[] = [];
  try {
    const latest = await readLatestPointerKey(store);
    if (latest !== undefined) candidates.push(latest);
  } catch (error) {
    if (isTooNew(error)) throw error;
    if (!(error instanceof RemoteStateError)) throw error;
    logger.warn({ err: error }, 'manifest/latest is unreadable; looking for checkpoints by listing');
  }
  for (const key of (await listCheckpoints(store)).reverse()) if (!candidates.includes(key)) candidates.push(key);
  for (const [i, key] of candidates.entries()) {
    try {
      const manifest = await readManifest(store, key);
      await restoreCheckpoint(store, restorer, checksum, manifest, key, logger);
      if (i > 0) logger.warn({ checkpoint: key, revision: manifest.revision }, 'restored an older checkpoint because newer ones were unreadable');
      return manifest;
    } catch (error) {
      if (isTooNew(error) || !isUnreadable(error)) throw error;
      logger.warn({ err: error, checkpoint: key }, 'checkpoint unreadable; trying the previous one');
    }
  }
  if (candidates.length > 0) throw new RemoteStateError(`t4: none of the ${candidates.length} checkpoints in the object store could be restored`);
  return undefined;
}

/** Downloads a checkpoint's chunks in order, checking each digest, into a new database file. */
export async function restoreCheckpoint(
  store: ObjectStore,
  restorer: DatabaseRestorer,
  checksum: Checksum,
  manifest: CheckpointManifest,
  key: string,
  logger: Logger,
): Promise<void> {
  const chunks = manifest.database.chunks;
  logger.info({ checkpoint: key, revision: manifest.revision, chunks: chunks.length, bytes: manifest.database.size_bytes }, 'restoring checkpoint');
  const writer = await restorer.begin();
  let committed = false;
  try {
    let written = 0;
    let lastLoggedPercent = 0;
    // Prefetch a few chunks ahead while writing in order.
    const ahead = 4;
    const pending: Promise<Uint8Array | undefined>[] = [];
    for (let i = 0; i < Math.min(ahead, chunks.length); i++) pending.push(store.get(chunkKey(chunks[i] as string)));
    for (let i = 0; i < chunks.length; i++) {
      const digest = chunks[i] as string;
      const bytes = await (pending.shift() as Promise<Uint8Array | undefined>);
      if (i + ahead < chunks.length) pending.push(store.get(chunkKey(chunks[i + ahead] as string)));
      if (bytes === undefined) throw new RemoteStateError(`t4: checkpoint ${key} is missing chunk ${digest}`);
      const expected = i === chunks.length - 1 ? manifest.database.size_bytes - i * manifest.database.chunk_bytes : manifest.database.chunk_bytes;
      if (bytes.length !== expected || checksum.sha256Hex(bytes) !== digest) throw new RemoteStateError(`t4: checkpoint ${key}: chunk ${digest} does not match its digest`);
      await writer.write(bytes);
      written += bytes.length;
      const percent = Math.floor((100 * (i + 1)) / chunks.length);
      if (percent >= lastLoggedPercent + 10) {
        lastLoggedPercent = percent;
        logger.info({ checkpoint: key, percent, bytes: written }, 'restoring checkpoint');
      }
    }
    await Promise.allSettled(pending);
    await writer.commit();
    committed = true;
  } finally {
    if (!committed) await writer.abort();
  }
}
