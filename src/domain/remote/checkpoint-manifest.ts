import { RemoteStateError } from '../errors.js';
import type { Revision } from '../mvcc/types.js';

/**
 * The JSON documents of a checkpoint (docs/object-storage.md). Adapted from T4 v1's
 * checkpoint index and `manifest/latest`: the database is one SQLite file cut into fixed-size
 * chunks addressed by SHA-256, instead of Pebble SST files.
 */
export const CHECKPOINT_FORMAT_VERSION = 1;

export interface CheckpointManifest {
  readonly format_version: number;
  readonly term: number;
  /** The applied revision inside the database copy. */
  readonly revision: Revision;
  readonly compact_revision: Revision;
  readonly node_id: string;
  /** Wall-clock time of the checkpoint, a hint for people (ISO 8601). */
  readonly created_at: string;
  readonly database: {
    readonly format: 'sqlite';
    readonly size_bytes: number;
    readonly page_bytes: number;
    /** Every chunk is this long except the last. */
    readonly chunk_bytes: number;
    /** SHA-256 of each chunk, in file order; the object is `chunks/<digest>`. */
    readonly chunks: readonly string[];
  };
}

export interface LatestPointer {
  readonly format_version: number;
  readonly checkpoint_key: string;
  readonly revision: Revision;
  readonly term: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(`${JSON.stringify(value, null, 1)}\n`);
}

function parseObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new RemoteStateError(`t4: ${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RemoteStateError(`t4: ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function checkVersion(doc: Record<string, unknown>, what: string): number {
  const v = doc['format_version'] ?? 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RemoteStateError(`t4: ${what} has an invalid format_version ${JSON.stringify(v)}`);
  if (v > CHECKPOINT_FORMAT_VERSION) {
    throw new RemoteStateError(
      `t4: ${what} has format_version ${v}, newer than this T4 understands (${CHECKPOINT_FORMAT_VERSION}); upgrade T4 to read it`,
    );
  }
  return v;
}

function int(doc: Record<string, unknown>, field: string, what: string): number {
  const v = doc[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RemoteStateError(`t4: ${what}: field ${field} must be a non-negative integer`);
  return v;
}

function str(doc: Record<string, unknown>, field: string, what: string): string {
  const v = doc[field];
  if (typeof v !== 'string') throw new RemoteStateError(`t4: ${what}: field ${field} must be a string`);
  return v;
}

export function decodeLatestPointer(bytes: Uint8Array): LatestPointer {
  const what = 'manifest/latest';
  const doc = parseObject(bytes, what);
  return {
    format_version: checkVersion(doc, what),
    checkpoint_key: str(doc, 'checkpoint_key', what),
    revision: int(doc, 'revision', what),
    term: int(doc, 'term', what),
  };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function decodeCheckpointManifest(bytes: Uint8Array, key: string): CheckpointManifest {
  const what = `checkpoint manifest ${key}`;
  const doc = parseObject(bytes, what);
  const format_version = checkVersion(doc, what);
  const db = doc['database'];
  if (typeof db !== 'object' || db === null || Array.isArray(db)) throw new RemoteStateError(`t4: ${what}: field database must be an object`);
  const d = db as Record<string, unknown>;
  if (d['format'] !== 'sqlite') throw new RemoteStateError(`t4: ${what}: unknown database format ${JSON.stringify(d['format'])}`);
  const chunks = d['chunks'];
  if (!Array.isArray(chunks) || !chunks.every((c) => typeof c === 'string' && SHA256_HEX.test(c))) {
    throw new RemoteStateError(`t4: ${what}: database.chunks must be a list of SHA-256 hex digests`);
  }
  const size_bytes = int(d, 'size_bytes', what);
  const chunk_bytes = int(d, 'chunk_bytes', what);
  if (chunk_bytes < 1 || Math.ceil(size_bytes / chunk_bytes) !== chunks.length) {
    throw new RemoteStateError(`t4: ${what}: ${chunks.length} chunks do not make ${size_bytes} bytes at ${chunk_bytes} per chunk`);
  }
  return {
    format_version,
    term: int(doc, 'term', what),
    revision: int(doc, 'revision', what),
    compact_revision: typeof doc['compact_revision'] === 'number' ? (doc['compact_revision'] as number) : -1,
    node_id: typeof doc['node_id'] === 'string' ? (doc['node_id'] as string) : '',
    created_at: typeof doc['created_at'] === 'string' ? (doc['created_at'] as string) : '',
    database: { format: 'sqlite', size_bytes, page_bytes: int(d, 'page_bytes', what), chunk_bytes, chunks: chunks as string[] },
  };
}
