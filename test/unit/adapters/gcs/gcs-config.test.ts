import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GcsConfigError, resolveGcsConfig } from '../../../../src/adapters/gcs/gcs-config.js';
import { toObjectStoreError } from '../../../../src/adapters/gcs/gcs-errors.js';
import { AbortedError } from '../../../../src/domain/errors.js';
import { ObjectStoreRequestError, ObjectStoreUnavailableError, PreconditionFailedError } from '../../../../src/ports/object-store-errors.js';

const noEnv = {};

describe('GCS config', () => {
  it('normalises the prefix: t4 and t4/ are the same; empty means the bucket root', () => {
    assert.equal(resolveGcsConfig({ bucket: 'b-1', prefix: 't4' }, noEnv).prefix, 't4/');
    assert.equal(resolveGcsConfig({ bucket: 'b-1', prefix: 't4/' }, noEnv).prefix, 't4/');
    assert.equal(resolveGcsConfig({ bucket: 'b-1', prefix: 'a/b//' }, noEnv).prefix, 'a/b/');
    assert.equal(resolveGcsConfig({ bucket: 'b-1' }, noEnv).prefix, '');
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', prefix: '/t4' }, noEnv), GcsConfigError);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', prefix: 'a//b' }, noEnv), GcsConfigError);
  });

  it('checks the bucket name by GCS rules, naming them', () => {
    for (const ok of ['abc', 't4_data', 'my-bucket-1', 'example.com.t4', 'a'.repeat(63)]) assert.equal(resolveGcsConfig({ bucket: ok }, noEnv).bucket, ok);
    for (const bad of ['', 'ab', 'Upper', '-lead', 'trail-', 'a'.repeat(64), 'goog-x', '192.168.1.1', 'a..b', 'has space', 'a/b']) {
      assert.throws(() => resolveGcsConfig({ bucket: bad }, noEnv), (e: Error) => e instanceof GcsConfigError && /bucket/.test(e.message), bad);
    }
    assert.throws(() => resolveGcsConfig({ bucket: 'gs://b-1/t4' }, noEnv), /without gs:\/\//);
  });

  it('an endpoint is an emulator: no credentials unless a key file is given; no endpoint means Google with ADC', () => {
    const emulator = resolveGcsConfig({ bucket: 'b-1', endpoint: 'http://127.0.0.1:4443/' }, noEnv);
    assert.equal(emulator.endpoint, 'http://127.0.0.1:4443');
    assert.equal(emulator.authenticated, false);
    const privateEndpoint = resolveGcsConfig({ bucket: 'b-1', endpoint: 'https://storage.example.internal', credentialsFile: '/etc/t4/sa.json' }, noEnv);
    assert.equal(privateEndpoint.authenticated, true);
    const google = resolveGcsConfig({ bucket: 'b-1' }, noEnv);
    assert.equal(google.endpoint, undefined);
    assert.equal(google.authenticated, true);
    assert.equal(google.credentialsFile, undefined);
  });

  it('refuses a malformed endpoint, naming the expected form', () => {
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', endpoint: '127.0.0.1:4443' }, noEnv), /http/);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', endpoint: 'not a url' }, noEnv), /expected http\(s\):\/\/host\[:port\]/);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', endpoint: 'ftp://h' }, noEnv), /http or https/);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', endpoint: 'http://h:4443/storage/v1' }, noEnv), /must not have a path/);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', endpoint: 'http://u:p@h:4443' }, noEnv), /credentials/);
  });

  it('refuses STORAGE_EMULATOR_HOST, which would redirect requests behind the configuration', () => {
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1' }, { STORAGE_EMULATOR_HOST: 'http://localhost:4443' }), /unset it and give the emulator as the GCS endpoint/);
    assert.equal(resolveGcsConfig({ bucket: 'b-1' }, { STORAGE_EMULATOR_HOST: '' }).bucket, 'b-1');
  });

  it('applies defaults and checks limits', () => {
    const c = resolveGcsConfig({ bucket: 'b-1' }, noEnv);
    assert.equal(c.maxAttempts, 3);
    assert.equal(c.requestTimeoutMs, 60_000);
    assert.equal(c.deleteConcurrency, 16);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', maxAttempts: 0 }, noEnv), /maxAttempts must be a positive integer/);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', requestTimeoutMs: 1.5 }, noEnv), /requestTimeoutMs/);
    assert.throws(() => resolveGcsConfig({ bucket: 'b-1', deleteConcurrency: -1 }, noEnv), /deleteConcurrency/);
  });
});

/** What the library throws for an HTTP error: an ApiError with the status as `code`. */
function apiError(status: number, message: string, reason?: string): Error {
  return Object.assign(new Error(message), { code: status, errors: reason === undefined ? [] : [{ reason, message }] });
}

/** What node-fetch throws when no response came. */
function fetchError(code: string): Error {
  return Object.assign(new Error(`request failed, reason: ${code}`), { name: 'FetchError', type: 'system', code, errno: code });
}

describe('GCS error mapping', () => {
  it('412 is PreconditionFailedError: exists, version-mismatch or not-found as the caller determined', () => {
    const e412 = apiError(412, 'Precondition Failed', 'conditionNotMet');
    const absent = toObjectStoreError('putIfAbsent', 'k', e412, undefined, { kind: 'absent' });
    assert.ok(absent instanceof PreconditionFailedError && absent.reason === 'exists');
    const stale = toObjectStoreError('putIfMatch', 'k', e412, undefined, { kind: 'match', objectExists: true });
    assert.ok(stale instanceof PreconditionFailedError && stale.reason === 'version-mismatch');
    const missing = toObjectStoreError('putIfMatch', 'k', e412, undefined, { kind: 'match', objectExists: false });
    assert.ok(missing instanceof PreconditionFailedError && missing.reason === 'not-found');
    const conflict = toObjectStoreError('putIfMatch', 'k', apiError(409, 'conflict'), undefined, { kind: 'match', objectExists: true });
    assert.ok(conflict instanceof PreconditionFailedError && conflict.reason === 'conflict');
  });

  it('a missing bucket is NoSuchBucket: by message on reads, always on uploads and lists', () => {
    const real = apiError(404, 'The specified bucket does not exist.', 'notFound');
    for (const op of ['get', 'delete', 'put', 'listPage'] as const) {
      const e = toObjectStoreError(op, 'k', real, undefined);
      assert.ok(e instanceof ObjectStoreRequestError && e.code === 'NoSuchBucket' && e.httpStatus === 404, op);
    }
    const emulator = toObjectStoreError('put', 'k', apiError(404, 'Not Found', 'notFound'), undefined);
    assert.ok(emulator instanceof ObjectStoreRequestError && emulator.code === 'NoSuchBucket');
    const matchOnMissingBucket = toObjectStoreError('putIfMatch', 'k', real, undefined, { kind: 'match', objectExists: false });
    assert.ok(matchOnMissingBucket instanceof ObjectStoreRequestError && matchOnMissingBucket.code === 'NoSuchBucket');
  });

  it('other 4xx are ObjectStoreRequestError with the reason as code', () => {
    const e = toObjectStoreError('put', 'k', apiError(403, 't4@p.iam does not have storage.objects.create access', 'forbidden'), undefined);
    assert.ok(e instanceof ObjectStoreRequestError && e.code === 'forbidden' && e.httpStatus === 403);
    const bad = toObjectStoreError('put', 'k', apiError(400, 'Provided CRC32C "x" doesn\'t match calculated CRC32C "y".', 'invalid'), undefined);
    assert.ok(bad instanceof ObjectStoreRequestError && bad.httpStatus === 400);
  });

  it('429, 5xx and network errors are ObjectStoreUnavailableError; a write is not-applied only when refused before it ran', () => {
    const cases: [Error, 'put' | 'get', 'not-applied' | 'unknown'][] = [
      [apiError(429, 'rate limited', 'rateLimitExceeded'), 'put', 'not-applied'],
      [apiError(503, 'backend error', 'backendError'), 'put', 'not-applied'],
      [apiError(500, 'internal', 'internalError'), 'put', 'unknown'],
      [apiError(502, 'bad gateway'), 'put', 'unknown'],
      [fetchError('ECONNREFUSED'), 'put', 'not-applied'],
      [fetchError('ECONNRESET'), 'put', 'unknown'],
      [Object.assign(new Error('network timeout'), { name: 'FetchError', type: 'request-timeout' }), 'put', 'unknown'],
      [apiError(500, 'internal'), 'get', 'not-applied'],
      [fetchError('ECONNRESET'), 'get', 'not-applied'],
    ];
    for (const [error, op, outcome] of cases) {
      const e = toObjectStoreError(op, 'k', error, undefined);
      assert.ok(e instanceof ObjectStoreUnavailableError, `${error.message} on ${op}`);
      assert.equal(e.outcome, outcome, `${error.message} on ${op}`);
    }
    const timeout = toObjectStoreError('get', 'k', Object.assign(new Error('network timeout'), { type: 'request-timeout' }), undefined);
    assert.ok(timeout instanceof ObjectStoreUnavailableError && /RequestTimeout/.test(timeout.message));
  });

  it('an aborted signal wins over whatever the request failed with', () => {
    const signal = AbortSignal.abort();
    assert.ok(toObjectStoreError('put', 'k', apiError(503, 'x'), signal) instanceof AbortedError);
    assert.ok(toObjectStoreError('putIfAbsent', 'k', apiError(412, 'x'), signal, { kind: 'absent' }) instanceof AbortedError);
  });
});
