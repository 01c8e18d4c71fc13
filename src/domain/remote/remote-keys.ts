import type { Revision } from '../mvcc/types.js';

/**
 * The object layout under a node's prefix (docs/object-storage.md):
 *
 *   wal/<term:10>/<first revision:20>          a WAL segment: header + frames, as on disk
 *   checkpoint/<term:10>/<revision:20>/manifest.json   a checkpoint's manifest
 *   chunks/<sha-256 hex>                      checkpoint content, addressed by its digest
 *   manifest/latest                           which checkpoint is the newest
 *
 * Fixed-width numbers make key order equal numeric order, so a LIST returns segments and
 * checkpoints oldest first.
 */
export const WAL_PREFIX = 'wal/';
export const CHECKPOINT_PREFIX = 'checkpoint/';
export const CHUNK_PREFIX = 'chunks/';
export const LATEST_MANIFEST_KEY = 'manifest/latest';

const WAL_KEY = /^wal\/(\d{10})\/(\d{20})$/;
const MANIFEST_KEY = /^checkpoint\/(\d{10})\/(\d{20})\/manifest\.json$/;

export function walKey(term: bigint, firstRevision: Revision): string {
  return `${WAL_PREFIX}${term.toString().padStart(10, '0')}/${String(firstRevision).padStart(20, '0')}`;
}

export function parseWalKey(key: string): { term: bigint; firstRevision: Revision } | undefined {
  const m = WAL_KEY.exec(key);
  if (m === null) return undefined;
  return { term: BigInt(m[1] as string), firstRevision: Number(m[2]) };
}

export function checkpointDir(term: bigint, revision: Revision): string {
  return `${CHECKPOINT_PREFIX}${term.toString().padStart(10, '0')}/${String(revision).padStart(20, '0')}/`;
}

export function checkpointManifestKey(term: bigint, revision: Revision): string {
  return `${checkpointDir(term, revision)}manifest.json`;
}

export function parseCheckpointManifestKey(key: string): { term: bigint; revision: Revision } | undefined {
  const m = MANIFEST_KEY.exec(key);
  if (m === null) return undefined;
  return { term: BigInt(m[1] as string), revision: Number(m[2]) };
}

export function chunkKey(sha256Hex: string): string {
  return `${CHUNK_PREFIX}${sha256Hex}`;
}
