import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveS3Config, s3CredentialsFromSettings, S3ConfigError, type S3Credentials } from '../../../../src/adapters/s3/s3-config.js';
import { toObjectStoreError } from '../../../../src/adapters/s3/s3-errors.js';
import { normalizePrefix, compareKeys } from '../../../../src/adapters/object-store-keys.js';
import { AbortedError } from '../../../../src/domain/errors.js';
import { ObjectStoreRequestError, ObjectStoreUnavailableError, PreconditionFailedError } from '../../../../src/ports/object-store-errors.js';

const creds: S3Credentials = { kind: 'static', accessKeyId: 'id', secretAccessKey: 'secret' };

describe('S3 credentials fail closed', () => {
  it('refuses no credentials at all, naming every way to set them', () => {
    assert.throws(() => s3CredentialsFromSettings({}), (e: Error) => e instanceof S3ConfigError && /T4_S3_ACCESS_KEY_ID/.test(e.message) && /T4_S3_PROFILE/.test(e.message) && /default credential chain/.test(e.message));
    assert.throws(() => s3CredentialsFromSettings({ accessKeyId: '', secretAccessKey: '', profile: '' }), S3ConfigError);
  });

  it('refuses half a key pair, and a session token without keys', () => {
    assert.throws(() => s3CredentialsFromSettings({ accessKeyId: 'id' }), /must both be set or both be empty/);
    assert.throws(() => s3CredentialsFromSettings({ secretAccessKey: 's' }), /must both be set or both be empty/);
    assert.throws(() => s3CredentialsFromSettings({ sessionToken: 't', profile: 'p' }), /session token needs/);
  });

  it('refuses two sources at once', () => {
    assert.throws(() => s3CredentialsFromSettings({ accessKeyId: 'id', secretAccessKey: 's', profile: 'default' }), /more than once/);
    assert.throws(() => s3CredentialsFromSettings({ profile: 'default', useDefaultChain: true }), /more than once/);
  });

  it('returns exactly the one source configured', () => {
    assert.deepEqual(s3CredentialsFromSettings({ accessKeyId: 'id', secretAccessKey: 's' }), { kind: 'static', accessKeyId: 'id', secretAccessKey: 's' });
    assert.deepEqual(s3CredentialsFromSettings({ accessKeyId: 'id', secretAccessKey: 's', sessionToken: 't' }), {
      kind: 'static',
      accessKeyId: 'id',
      secretAccessKey: 's',
      sessionToken: 't',
    });
    assert.deepEqual(s3CredentialsFromSettings({ profile: 'prod' }), { kind: 'profile', profile: 'prod' });
    assert.deepEqual(s3CredentialsFromSettings({ useDefaultChain: true }), { kind: 'default-chain' });
  });
});

describe('S3 config', () => {
  it('normalises the prefix: t4 and t4/ are the same; empty means the bucket root', () => {
    assert.equal(resolveS3Config({ bucket: 'b-1', prefix: 't4', region: 'eu-west-1', credentials: creds }).prefix, 't4/');
    assert.equal(resolveS3Config({ bucket: 'b-1', prefix: 't4/', region: 'eu-west-1', credentials: creds }).prefix, 't4/');
    assert.equal(resolveS3Config({ bucket: 'b-1', prefix: 'a/b//', region: 'eu-west-1', credentials: creds }).prefix, 'a/b/');
    assert.equal(resolveS3Config({ bucket: 'b-1', region: 'eu-west-1', credentials: creds }).prefix, '');
    assert.equal(normalizePrefix('/'), '');
    assert.throws(() => resolveS3Config({ bucket: 'b-1', prefix: '/t4', region: 'eu-west-1', credentials: creds }), S3ConfigError);
    assert.throws(() => resolveS3Config({ bucket: 'b-1', prefix: 'a//b', region: 'eu-west-1', credentials: creds }), S3ConfigError);
  });

  it('an endpoint means path-style and a default signing region; AWS needs a region', () => {
    const minio = resolveS3Config({ bucket: 'b-1', endpoint: 'http://127.0.0.1:9000', credentials: creds });
    assert.equal(minio.forcePathStyle, true);
    assert.equal(minio.region, 'us-east-1');
    const aws = resolveS3Config({ bucket: 'b-1', region: 'eu-central-1', credentials: creds });
    assert.equal(aws.forcePathStyle, false);
    assert.equal(aws.endpoint, undefined);
    assert.throws(() => resolveS3Config({ bucket: 'b-1', credentials: creds }), /region is required/);
  });

  it('rejects bad buckets, endpoints, missing credentials and nonsense limits', () => {
    for (const bucket of ['', 'B', 'ab', 'a..b', '-ab', 'with_underscore']) {
      assert.throws(() => resolveS3Config({ bucket, region: 'r', credentials: creds }), S3ConfigError, bucket);
    }
    assert.throws(() => resolveS3Config({ bucket: 'b-1', endpoint: 'ftp://x', credentials: creds }), /http or https/);
    assert.throws(() => resolveS3Config({ bucket: 'b-1', endpoint: 'http://x:9000/bucket', credentials: creds }), /must not have a path/);
    assert.throws(() => resolveS3Config({ bucket: 'b-1', endpoint: 'not a url', credentials: creds }), /invalid S3 endpoint/);
    assert.throws(() => resolveS3Config({ bucket: 'b-1', region: 'r', credentials: undefined as unknown as S3Credentials }), /not configured/);
    assert.throws(() => resolveS3Config({ bucket: 'b-1', region: 'r', credentials: creds, maxAttempts: 0 }), /maxAttempts/);
  });

  it('applies explicit defaults', () => {
    const c = resolveS3Config({ bucket: 'b-1', region: 'r', credentials: creds });
    assert.deepEqual(
      { maxAttempts: c.maxAttempts, connectionTimeoutMs: c.connectionTimeoutMs, requestTimeoutMs: c.requestTimeoutMs, maxSockets: c.maxSockets },
      { maxAttempts: 3, connectionTimeoutMs: 5_000, requestTimeoutMs: 60_000, maxSockets: 64 },
    );
  });
});

describe('S3 error mapping', () => {
  const sdkError = (name: string, httpStatusCode: number | undefined, attempts = 1): Error =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode, attempts } });

  it('412 and 409 on conditional writes are PreconditionFailedError with the right reason', () => {
    const absent412 = toObjectStoreError('putIfAbsent', 'k', sdkError('PreconditionFailed', 412), undefined, 'absent');
    assert.ok(absent412 instanceof PreconditionFailedError && absent412.reason === 'exists');
    const match412 = toObjectStoreError('putIfMatch', 'k', sdkError('PreconditionFailed', 412), undefined, 'match');
    assert.ok(match412 instanceof PreconditionFailedError && match412.reason === 'version-mismatch');
    const conflict = toObjectStoreError('putIfAbsent', 'k', sdkError('ConditionalRequestConflict', 409), undefined, 'absent');
    assert.ok(conflict instanceof PreconditionFailedError && conflict.reason === 'conflict');
    const missing = toObjectStoreError('putIfMatch', 'k', sdkError('NoSuchKey', 404), undefined, 'match');
    assert.ok(missing instanceof PreconditionFailedError && missing.reason === 'not-found');
    const noBucket = toObjectStoreError('putIfMatch', 'k', sdkError('NoSuchBucket', 404), undefined, 'match');
    assert.ok(noBucket instanceof ObjectStoreRequestError && noBucket.code === 'NoSuchBucket');
  });

  it('503 on the only attempt was not applied; after retries, or on 500 or a reset, a write is indeterminate', () => {
    const slow = toObjectStoreError('put', 'k', sdkError('SlowDown', 503), undefined);
    assert.ok(slow instanceof ObjectStoreUnavailableError && slow.outcome === 'not-applied');
    const retried = toObjectStoreError('put', 'k', sdkError('SlowDown', 503, 3), undefined);
    assert.ok(retried instanceof ObjectStoreUnavailableError && retried.outcome === 'unknown');
    const internal = toObjectStoreError('putIfAbsent', 'k', sdkError('InternalError', 500), undefined, 'absent');
    assert.ok(internal instanceof ObjectStoreUnavailableError && internal.outcome === 'unknown');
    const reset = toObjectStoreError('put', 'k', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), undefined);
    assert.ok(reset instanceof ObjectStoreUnavailableError && reset.outcome === 'unknown');
    const refused = toObjectStoreError('put', 'k', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), undefined);
    assert.ok(refused instanceof ObjectStoreUnavailableError && refused.outcome === 'not-applied');
    const read = toObjectStoreError('get', 'k', sdkError('InternalError', 500, 3), undefined);
    assert.ok(read instanceof ObjectStoreUnavailableError && read.outcome === 'not-applied');
  });

  it('403 is a request error; an aborted signal is AbortedError', () => {
    const denied = toObjectStoreError('put', 'k', sdkError('AccessDenied', 403), undefined);
    assert.ok(denied instanceof ObjectStoreRequestError && denied.httpStatus === 403 && denied.code === 'AccessDenied');
    assert.ok(toObjectStoreError('put', 'k', sdkError('AbortError', undefined), AbortSignal.abort()) instanceof AbortedError);
  });
});

describe('object key order', () => {
  it('compares by code point (UTF-8 byte order), not UTF-16 code unit', () => {
    assert.ok('\u{1F600}' < '\uFF61', 'JavaScript < is UTF-16 order');
    assert.ok(compareKeys('\uFF61', '\u{1F600}') < 0);
    assert.ok(compareKeys('a', 'ab') < 0);
    assert.equal(compareKeys('x\u{1F600}', 'x\u{1F600}'), 0);
    assert.ok(compareKeys('\u{1F600}', '\u{1F601}') < 0);
  });
});
