import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type {
  ConditionalObjectStore,
  ListPageOptions,
  ObjectListPage,
  ObjectStoreCallOptions,
  ObjectSummary,
  ObjectVersion,
  VersionedObject,
} from '../../ports/object-store.js';
import { OBJECT_STORE_PAGE_KEYS_MAX } from '../../ports/object-store.js';
import { ObjectStoreRequestError, ObjectStoreUnavailableError, type ObjectStoreOperation } from '../../ports/object-store-errors.js';
import { chunks, KeyNamespace, pageSize, throwIfAborted } from '../object-store-keys.js';
import { resolveS3Config, type ResolvedS3Config, type S3Credentials, type S3ObjectStoreConfig } from './s3-config.js';
import { isNoSuchKey, toObjectStoreError } from './s3-errors.js';
import { s3HttpsAgent } from './s3-tls.js';

/**
 * The object store on AWS S3 or an S3-compatible server (MinIO is configuration: an endpoint, which
 * implies path-style addressing). Conditional writes use `If-None-Match: *` and `If-Match: <etag>`;
 * 412, 409 ConditionalRequestConflict and (for If-Match) 404 NoSuchKey become
 * PreconditionFailedError. The store never creates, inspects or reconfigures the bucket (no
 * HeadBucket, CreateBucket or ACL calls): the bucket and its policy are the operator's.
 *
 * Least privilege: the only requests are PutObject (conditional or not), GetObject, DeleteObject,
 * DeleteObjects (authorised as s3:DeleteObject per key) and ListObjectsV2 (s3:ListBucket), so
 * s3:GetObject, s3:PutObject, s3:DeleteObject on `<prefix>/*` and s3:ListBucket on the bucket are
 * all it needs (README, "Least privilege (IAM)"; test/integration/s3-tls-iam.test.ts).
 *
 * TLS: https endpoints need TLS 1.2 at least; with `caBundle` its certificates are the only trust.
 *
 * Integrity: every PUT carries a CRC32 checksum the server verifies, and GETs ask for the stored
 * checksum so the SDK verifies the body it received.
 */
export class S3ObjectStore implements ConditionalObjectStore {
  private readonly keys: KeyNamespace;
  readonly config: ResolvedS3Config;
  private readonly client: S3Client;

  constructor(config: S3ObjectStoreConfig) {
    this.config = resolveS3Config(config);
    this.keys = new KeyNamespace(this.config.prefix);
    const c = this.config;
    this.client = new S3Client({
      region: c.region,
      ...(c.endpoint !== undefined ? { endpoint: c.endpoint } : {}),
      forcePathStyle: c.forcePathStyle,
      credentials: credentialProvider(c.credentials),
      maxAttempts: c.maxAttempts,
      retryMode: 'standard',
      requestHandler: {
        connectionTimeout: c.connectionTimeoutMs,
        requestTimeout: c.requestTimeoutMs,
        throwOnRequestTimeout: true,
        httpAgent: { keepAlive: true, maxSockets: c.maxSockets },
        httpsAgent: s3HttpsAgent(c),
      },
      requestChecksumCalculation: 'WHEN_SUPPORTED',
      responseChecksumValidation: 'WHEN_SUPPORTED',
      followRegionRedirects: false,
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.client.destroy();
  }

  async put(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<void> {
    await this.putObject('put', key, body, {}, options);
  }

  async get(key: string, options?: ObjectStoreCallOptions): Promise<Uint8Array | undefined> {
    return (await this.getObject('get', key, options))?.body;
  }

  async delete(key: string, options?: ObjectStoreCallOptions): Promise<void> {
    this.keys.enter(key, options);
    await this.send('delete', key, options, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.keys.full(key) }), { abortSignal: options?.signal }),
    );
  }

  async deleteMany(keys: readonly string[], options?: ObjectStoreCallOptions): Promise<void> {
    throwIfAborted(options?.signal);
    for (const key of keys) this.keys.enter(key, options);
    for (const batch of chunks(keys, OBJECT_STORE_PAGE_KEYS_MAX)) {
      const first = batch[0] ?? '';
      const output = await this.send('deleteMany', first, options, () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.config.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.keys.full(key) })), Quiet: true },
          }),
          { abortSignal: options?.signal },
        ),
      );
      // Quiet mode lists only failures. A key that was already gone is not one (S3 reports success).
      const failures = (output.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      const failure = failures[0];
      if (failure !== undefined) {
        const key = this.keys.relative(failure.Key ?? first);
        const code = failure.Code ?? 'Unknown';
        const detail = `${failures.length} of ${batch.length} keys not deleted; first: ${failure.Message ?? code}`;
        if (code === 'InternalError' || code === 'SlowDown' || code === 'ServiceUnavailable') {
          throw new ObjectStoreUnavailableError('deleteMany', key, 'unknown', detail);
        }
        throw new ObjectStoreRequestError('deleteMany', key, code, undefined, detail);
      }
    }
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ObjectListPage> {
    throwIfAborted(options?.signal);
    const maxKeys = pageSize(options);
    const startAfter = options?.startAfter;
    const output = await this.send('listPage', prefix, options, () =>
      this.client.send(
        new ListObjectsV2Command({
          Bucket: this.config.bucket,
          Prefix: this.keys.full(prefix),
          MaxKeys: maxKeys,
          ...(startAfter !== undefined ? { StartAfter: this.keys.full(startAfter) } : {}),
        }),
        { abortSignal: options?.signal },
      ),
    );
    const objects: ObjectSummary[] = (output.Contents ?? []).map((o) => ({ key: this.keys.relative(o.Key ?? ''), sizeBytes: o.Size ?? 0 }));
    if (output.IsTruncated !== true) return { objects, nextStartAfter: undefined };
    const last = objects[objects.length - 1];
    if (last === undefined) throw new ObjectStoreUnavailableError('listPage', prefix, 'not-applied', 'truncated listing returned no keys');
    return { objects, nextStartAfter: last.key };
  }

  async getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined> {
    return this.getObject('getWithVersion', key, options);
  }

  async putIfAbsent(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.putObject('putIfAbsent', key, body, { IfNoneMatch: '*' }, options, 'absent');
  }

  async putIfMatch(key: string, body: Uint8Array, expected: ObjectVersion, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.putObject('putIfMatch', key, body, { IfMatch: expected }, options, 'match');
  }

  private async putObject(
    operation: 'put' | 'putIfAbsent' | 'putIfMatch',
    key: string,
    body: Uint8Array,
    condition: { IfNoneMatch?: string; IfMatch?: string },
    options: ObjectStoreCallOptions | undefined,
    conditional?: 'absent' | 'match',
  ): Promise<ObjectVersion> {
    this.keys.enter(key, options);
    const output = await this.send(
      operation,
      key,
      options,
      () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.config.bucket,
            Key: this.keys.full(key),
            Body: body,
            ContentLength: body.length,
            ContentType: 'application/octet-stream',
            ChecksumAlgorithm: 'CRC32',
            ...condition,
          }),
          { abortSignal: options?.signal },
        ),
      conditional,
    );
    if (output.ETag === undefined || output.ETag === '') {
      throw new ObjectStoreRequestError(operation, key, 'MissingETag', output.$metadata.httpStatusCode, 'PutObject response carried no ETag');
    }
    return output.ETag as ObjectVersion;
  }

  private async getObject(operation: 'get' | 'getWithVersion', key: string, options: ObjectStoreCallOptions | undefined): Promise<VersionedObject | undefined> {
    this.keys.enter(key, options);
    let output: GetObjectCommandOutput;
    try {
      output = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.keys.full(key), ChecksumMode: 'ENABLED' }), {
        abortSignal: options?.signal,
      });
    } catch (error) {
      if (isNoSuchKey(error) && !options?.signal?.aborted) return undefined;
      throw toObjectStoreError(operation, key, error, options?.signal);
    }
    let body: Uint8Array;
    try {
      body = output.Body === undefined ? new Uint8Array(0) : await output.Body.transformToByteArray();
    } catch (error) {
      // The body stream broke (connection reset, checksum mismatch): a read may simply be retried.
      throw toObjectStoreError(operation, key, error, options?.signal);
    }
    if (output.ETag === undefined || output.ETag === '') {
      throw new ObjectStoreRequestError(operation, key, 'MissingETag', output.$metadata.httpStatusCode, 'GetObject response carried no ETag');
    }
    return { body, version: output.ETag as ObjectVersion };
  }

  private async send<T>(
    operation: ObjectStoreOperation,
    key: string,
    options: ObjectStoreCallOptions | undefined,
    call: () => Promise<T>,
    conditional?: 'absent' | 'match',
  ): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw toObjectStoreError(operation, key, error, options?.signal, conditional);
    }
  }
}

function credentialProvider(credentials: S3Credentials): NonNullable<S3ClientConfig['credentials']> {
  switch (credentials.kind) {
    case 'static':
      return {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        ...(credentials.sessionToken !== undefined ? { sessionToken: credentials.sessionToken } : {}),
      };
    case 'profile':
      return fromIni({ profile: credentials.profile });
    case 'default-chain':
      return defaultProvider();
  }
}
