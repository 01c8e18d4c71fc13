import { CRC32C, IdempotencyStrategy, Storage, type Bucket, type StorageOptions } from '@google-cloud/storage';
import { assert } from '../../domain/assert.js';
import { AbortedError } from '../../domain/errors.js';
import type {
  ConditionalObjectStore,
  ListPageOptions,
  ObjectListPage,
  ObjectStoreCallOptions,
  ObjectSummary,
  ObjectVersion,
  VersionedObject,
} from '../../ports/object-store.js';
import { ObjectStoreRequestError, ObjectStoreUnavailableError, type ObjectStoreOperation } from '../../ports/object-store-errors.js';
import { KeyNamespace, pageSize, throwIfAborted } from '../object-store-keys.js';
import { resolveGcsConfig, type GcsObjectStoreConfig, type ResolvedGcsConfig } from './gcs-config.js';
import { isObjectMissing, toObjectStoreError } from './gcs-errors.js';

/**
 * The object store on Google Cloud Storage (or fake-gcs-server: an endpoint is configuration). The
 * version of an object is its generation; conditional writes use `ifGenerationMatch=0` (create only)
 * and `ifGenerationMatch=<generation>`. GCS answers 412 both when the generation differs and when
 * there is no object at all, so after a 412 on putIfMatch one metadata GET tells `not-found` from
 * `version-mismatch` (the object can change between the two requests; the reason is then stale, the
 * write was refused either way). The store never creates, inspects or reconfigures the bucket.
 *
 * Retries. The client library retries by itself, and for "conditionally idempotent" calls
 * (ifGenerationMatch set) it retries writes too, so a conditional write whose response was lost
 * would be re-sent and fail with 412 against its own first attempt. It also flips its retry switch
 * on the shared client while a non-idempotent call runs. So there are two clients: reads
 * (get, getWithVersion, listPage, the 412 follow-up) go through one that retries up to
 * `maxAttempts`; every write and delete goes through one that never retries, and the caller decides.
 * A write error therefore reports `not-applied` only when its single attempt was refused (429, 503,
 * connection refused).
 *
 * Uploads are single requests (multipart, never resumable). The adapter computes the body's CRC32C
 * and sends it in the object metadata, so GCS (and fake-gcs-server) rejects a body damaged on the
 * way with 400. The library's own client-side upload validation is off: on a mismatch it would
 * *delete* the object unconditionally, which could remove another writer's newer object (the lock).
 * Downloads are checked against the object's CRC32C (`x-goog-hash`) by the library.
 *
 * Cancellation. The library takes no AbortSignal. On abort the call rejects with AbortedError at
 * once and the request is abandoned: it runs to its end or its timeout and its result is dropped, so
 * an aborted write may still happen, as the port allows. Downloads are not destroyed either: when a
 * download stream fails, the library destroys its *shared* HTTP agent (a node-fetch socket-leak
 * workaround), which would reset every other request in flight in the process.
 *
 * Cost. deleteMany is one DELETE per key (the JSON API has no multi-delete), `deleteConcurrency` at
 * a time.
 */
/** Empty listing pages (with a page token) followed within one listPage before giving up. */
const LIST_EMPTY_PAGES_MAX = 8;

export class GcsObjectStore implements ConditionalObjectStore {
  private readonly keys: KeyNamespace;
  readonly config: ResolvedGcsConfig;
  private readonly reads: Bucket;
  private readonly writes: Bucket;

  constructor(config: GcsObjectStoreConfig) {
    this.config = resolveGcsConfig(config);
    this.keys = new KeyNamespace(this.config.prefix);
    const c = this.config;
    const common: StorageOptions = {
      ...(c.endpoint !== undefined ? { apiEndpoint: c.endpoint, useAuthWithCustomEndpoint: c.authenticated } : {}),
      ...(c.credentialsFile !== undefined ? { keyFilename: c.credentialsFile } : {}),
      ...(c.projectId !== undefined ? { projectId: c.projectId } : {}),
      timeout: c.requestTimeoutMs,
    };
    const readClient = new Storage({
      ...common,
      retryOptions: {
        autoRetry: c.maxAttempts > 1,
        maxRetries: Math.max(1, c.maxAttempts - 1),
        idempotencyStrategy: IdempotencyStrategy.RetryConditional,
        maxRetryDelay: 5,
        totalTimeout: Math.ceil((c.requestTimeoutMs * c.maxAttempts) / 1000),
      },
    });
    // One token source for both clients.
    const writeClient = new Storage({
      ...common,
      authClient: readClient.authClient as StorageOptions['authClient'],
      retryOptions: { autoRetry: false, idempotencyStrategy: IdempotencyStrategy.RetryNever },
    });
    this.reads = readClient.bucket(c.bucket);
    this.writes = writeClient.bucket(c.bucket);
  }

  /** Nothing to release: the library pools connections in a process-wide agent. */
  close(): void {}

  async put(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<void> {
    await this.upload('put', key, body, undefined, options);
  }

  async get(key: string, options?: ObjectStoreCallOptions): Promise<Uint8Array | undefined> {
    return (await this.download('get', key, options))?.body;
  }

  async getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined> {
    return this.download('getWithVersion', key, options);
  }

  async delete(key: string, options?: ObjectStoreCallOptions): Promise<void> {
    this.keys.enter(key, options);
    await this.deleteOne('delete', key, options?.signal);
  }

  async deleteMany(keys: readonly string[], options?: ObjectStoreCallOptions): Promise<void> {
    throwIfAborted(options?.signal);
    for (const key of keys) this.keys.enter(key, options);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (!failed && next < keys.length) {
        const key = keys[next++] as string;
        try {
          await this.deleteOne('deleteMany', key, options?.signal);
        } catch (error) {
          failed = true; // stop handing out keys; the other workers finish their one request
          throw error;
        }
      }
    };
    const workers = Array.from({ length: Math.min(this.config.deleteConcurrency, keys.length) }, worker);
    const results = await Promise.allSettled(workers);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ObjectListPage> {
    throwIfAborted(options?.signal);
    const maxKeys = pageSize(options);
    const startAfter = options?.startAfter;
    // GCS has `startOffset` (inclusive), not "strictly after": ask for one more and drop the
    // startAfter key itself when it exists. The service caps a page at 1000 items, so with
    // maxKeys=1000 and an existing startAfter a page holds 999 keys (the port allows fewer).
    const query = {
      prefix: this.keys.full(prefix),
      maxResults: startAfter === undefined ? maxKeys : maxKeys + 1,
      autoPaginate: false,
      fields: 'items(name,size),nextPageToken',
      ...(startAfter !== undefined ? { startOffset: this.keys.full(startAfter) } : {}),
    };
    // GCS may answer a page with fewer items than asked, even none, and a page token. Only a page
    // with no usable key at all is followed by its token (a bounded number of times), so that
    // nextStartAfter always advances.
    let pageToken: string | undefined;
    for (let request = 0; request < LIST_EMPTY_PAGES_MAX; request++) {
      const [files, , response] = await this.call('listPage', prefix, options?.signal, () =>
        this.reads.getFiles(pageToken === undefined ? query : { ...query, pageToken }),
      );
      // With `fields` set, the library hands back the raw JSON items instead of File objects.
      const items = files as unknown as readonly { name: string; size?: string | number }[];
      const all: ObjectSummary[] = items.map((o) => ({ key: this.keys.relative(o.name), sizeBytes: Number(o.size ?? 0) }));
      const after = startAfter === undefined ? all : all.filter((o) => o.key !== startAfter);
      const objects = after.slice(0, maxKeys);
      const token = (response as { nextPageToken?: unknown } | undefined)?.nextPageToken;
      const more = after.length > maxKeys || typeof token === 'string';
      const last = objects[objects.length - 1];
      if (!more) return { objects, nextStartAfter: undefined };
      if (last !== undefined) return { objects, nextStartAfter: last.key };
      pageToken = token as string;
    }
    throw new ObjectStoreUnavailableError('listPage', prefix, 'not-applied', `${LIST_EMPTY_PAGES_MAX} listing pages in a row held no keys`);
  }

  async putIfAbsent(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.upload('putIfAbsent', key, body, '0', options);
  }

  async putIfMatch(key: string, body: Uint8Array, expected: ObjectVersion, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    assert(/^[1-9][0-9]*$/.test(expected), `not a GCS generation: ${expected}`);
    return this.upload('putIfMatch', key, body, expected, options);
  }

  /** One multipart upload; `generation` makes it conditional ('0': only if absent). */
  private async upload(
    operation: 'put' | 'putIfAbsent' | 'putIfMatch',
    key: string,
    body: Uint8Array,
    generation: string | undefined,
    options: ObjectStoreCallOptions | undefined,
  ): Promise<ObjectVersion> {
    this.keys.enter(key, options);
    const signal = options?.signal;
    // A copy: an abandoned (aborted) upload may still read the body after we return.
    const data = Buffer.from(body);
    const crc32c = new CRC32C();
    crc32c.update(data);
    const file = this.writes.file(this.keys.full(key));
    try {
      await abortable(signal, () =>
        file.save(data, {
          resumable: false,
          validation: false,
          timeout: this.config.requestTimeoutMs,
          metadata: { contentType: 'application/octet-stream', crc32c: crc32c.toString() },
          ...(generation !== undefined ? { preconditionOpts: { ifGenerationMatch: generation } } : {}),
        }),
      );
    } catch (error) {
      if (operation === 'put') throw toObjectStoreError(operation, key, error, signal);
      if (operation === 'putIfAbsent') throw toObjectStoreError(operation, key, error, signal, { kind: 'absent' });
      const objectExists = (error as { code?: unknown }).code === 412 && !signal?.aborted ? await this.existsAfter412(key, signal) : true;
      throw toObjectStoreError(operation, key, error, signal, { kind: 'match', objectExists });
    }
    const written = file.metadata.generation;
    if (written === undefined || written === null || String(written) === '' || String(written) === '0') {
      throw new ObjectStoreRequestError(operation, key, 'MissingGeneration', undefined, 'upload response carried no generation');
    }
    return String(written) as ObjectVersion;
  }

  /** After a 412 on putIfMatch: is there an object at all? An unanswered check counts as "yes". */
  private async existsAfter412(key: string, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await abortable(signal, () => this.reads.file(this.keys.full(key)).getMetadata());
      return true;
    } catch (error) {
      return !isObjectMissing(error);
    }
  }

  private async download(operation: 'get' | 'getWithVersion', key: string, options: ObjectStoreCallOptions | undefined): Promise<VersionedObject | undefined> {
    this.keys.enter(key, options);
    const signal = options?.signal;
    const stream = this.reads.file(this.keys.full(key)).createReadStream({ validation: 'crc32c', decompress: false });
    let generation: string | undefined;
    stream.on('response', (response: { headers?: Record<string, string | string[] | undefined> }) => {
      const header = response.headers?.['x-goog-generation'];
      generation = Array.isArray(header) ? header[0] : header;
    });
    let body: Buffer;
    try {
      body = await abortable(signal, async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      });
    } catch (error) {
      if (isObjectMissing(error) && !signal?.aborted) return undefined;
      throw toObjectStoreError(operation, key, error, signal);
    }
    if (generation === undefined || generation === '') {
      throw new ObjectStoreRequestError(operation, key, 'MissingGeneration', undefined, 'download response carried no x-goog-generation header');
    }
    return { body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), version: generation as ObjectVersion };
  }

  /** Deletes one object; a missing object is fine, a missing bucket is not. */
  private async deleteOne(operation: 'delete' | 'deleteMany', key: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await abortable(signal, () => this.writes.file(this.keys.full(key)).delete());
    } catch (error) {
      if (isObjectMissing(error) && !signal?.aborted) return;
      throw toObjectStoreError(operation, key, error, signal);
    }
  }

  private async call<T>(operation: ObjectStoreOperation, key: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    try {
      return await abortable(signal, run);
    } catch (error) {
      throw toObjectStoreError(operation, key, error, signal);
    }
  }
}

/** Runs `run`, rejecting with AbortedError as soon as `signal` fires; a late result or error of `run` is then ignored. */
async function abortable<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  throwIfAborted(signal);
  if (signal === undefined) return run();
  const work = run();
  let listener: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    listener = () => reject(new AbortedError());
    signal.addEventListener('abort', listener, { once: true });
  });
  work.catch(() => undefined); // an abandoned request's failure is nobody's business
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (listener !== undefined) signal.removeEventListener('abort', listener);
  }
}
