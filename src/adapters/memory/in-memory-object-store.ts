import { createHash } from 'node:crypto';
import type {
  ConditionalObjectStore,
  ListPageOptions,
  ObjectListPage,
  ObjectStoreCallOptions,
  ObjectSummary,
  ObjectVersion,
  VersionedObject,
} from '../../ports/object-store.js';
import { PreconditionFailedError } from '../../ports/object-store-errors.js';
import { assertObjectKey, compareKeys, normalizePrefix, pageSize, throwIfAborted } from '../object-store-keys.js';

interface StoredObject {
  readonly body: Uint8Array;
  readonly version: ObjectVersion;
}

/**
 * The objects of one simulated bucket, shareable by several stores with different prefixes (two
 * nodes, or a node and a `t4 status` reading the same prefix).
 */
export class InMemoryBucket {
  /** @internal full key -> object */
  readonly objects = new Map<string, StoredObject>();

  get size(): number {
    return this.objects.size;
  }

  /** Every full key, in UTF-8 byte order (for tests). */
  keys(): string[] {
    return [...this.objects.keys()].sort(compareKeys);
  }
}

export interface InMemoryObjectStoreOptions {
  readonly bucket?: InMemoryBucket;
  /** Normalised as S3 prefixes are: `t4` and `t4/` are the same. */
  readonly prefix?: string;
}

/**
 * A ConditionalObjectStore in memory, for unit tests and the simulator. Versions are the S3 ETag
 * of a single-part upload (quoted hex MD5 of the body), so identical bodies share a version, as on
 * S3. Bodies are copied in and out, so callers cannot change a stored object by mutating a buffer.
 */
export class InMemoryObjectStore implements ConditionalObjectStore {
  readonly bucket: InMemoryBucket;
  readonly prefix: string;

  constructor(options: InMemoryObjectStoreOptions = {}) {
    this.bucket = options.bucket ?? new InMemoryBucket();
    this.prefix = normalizePrefix(options.prefix ?? '');
  }

  async put(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<void> {
    this.enter(key, options);
    this.store(key, body);
  }

  async get(key: string, options?: ObjectStoreCallOptions): Promise<Uint8Array | undefined> {
    this.enter(key, options);
    return this.bucket.objects.get(this.prefix + key)?.body.slice();
  }

  async delete(key: string, options?: ObjectStoreCallOptions): Promise<void> {
    this.enter(key, options);
    this.bucket.objects.delete(this.prefix + key);
  }

  async deleteMany(keys: readonly string[], options?: ObjectStoreCallOptions): Promise<void> {
    throwIfAborted(options?.signal);
    for (const key of keys) assertObjectKey(key, this.prefix);
    for (const key of keys) this.bucket.objects.delete(this.prefix + key);
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ObjectListPage> {
    throwIfAborted(options?.signal);
    const limit = pageSize(options);
    const full = this.prefix + prefix;
    const after = options?.startAfter;
    const matching: ObjectSummary[] = [];
    for (const [fullKey, object] of this.bucket.objects) {
      if (!fullKey.startsWith(full)) continue;
      const key = fullKey.slice(this.prefix.length);
      if (after !== undefined && compareKeys(key, after) <= 0) continue;
      matching.push({ key, sizeBytes: object.body.length });
    }
    matching.sort((a, b) => compareKeys(a.key, b.key));
    const objects = matching.slice(0, limit);
    const truncated = matching.length > limit;
    return { objects, nextStartAfter: truncated ? objects[objects.length - 1]?.key : undefined };
  }

  async getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined> {
    this.enter(key, options);
    const object = this.bucket.objects.get(this.prefix + key);
    return object === undefined ? undefined : { body: object.body.slice(), version: object.version };
  }

  async putIfAbsent(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    this.enter(key, options);
    if (this.bucket.objects.has(this.prefix + key)) throw new PreconditionFailedError('putIfAbsent', key, 'exists');
    return this.store(key, body);
  }

  async putIfMatch(key: string, body: Uint8Array, expected: ObjectVersion, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    this.enter(key, options);
    const current = this.bucket.objects.get(this.prefix + key);
    if (current === undefined) throw new PreconditionFailedError('putIfMatch', key, 'not-found');
    if (current.version !== expected) throw new PreconditionFailedError('putIfMatch', key, 'version-mismatch');
    return this.store(key, body);
  }

  private enter(key: string, options: ObjectStoreCallOptions | undefined): void {
    throwIfAborted(options?.signal);
    assertObjectKey(key, this.prefix);
  }

  private store(key: string, body: Uint8Array): ObjectVersion {
    const version = etagOf(body);
    this.bucket.objects.set(this.prefix + key, { body: body.slice(), version });
    return version;
  }
}

/** The ETag S3 gives a single-part upload: the hex MD5 of the body, in double quotes. */
export function etagOf(body: Uint8Array): ObjectVersion {
  return `"${createHash('md5').update(body).digest('hex')}"` as ObjectVersion;
}
