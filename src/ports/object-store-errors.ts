/**
 * The closed set of expected object-store failures (src/ports/object-store.ts). Adapters translate
 * every backend error into one of these; anything else thrown by an object store is a bug. The
 * callers (WAL upload, checkpoints, election) decide what each means for them: none of these is
 * sent to an etcd client as-is, so they are not T4Errors and have no row in the gRPC error table.
 */
export type ObjectStoreOperation =
  | 'put'
  | 'get'
  | 'delete'
  | 'deleteMany'
  | 'listPage'
  | 'getWithVersion'
  | 'putIfAbsent'
  | 'putIfMatch';

export const OBJECT_STORE_OPERATIONS: readonly ObjectStoreOperation[] = [
  'put',
  'get',
  'delete',
  'deleteMany',
  'listPage',
  'getWithVersion',
  'putIfAbsent',
  'putIfMatch',
];

export abstract class ObjectStoreError extends Error {
  abstract readonly kind: 'PreconditionFailed' | 'ObjectStoreUnavailable' | 'ObjectStoreRequest';
  constructor(
    readonly operation: ObjectStoreOperation,
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Why a conditional write was refused. None of them changed the object.
 *  - `exists`: putIfAbsent found an object (S3 412 with `If-None-Match: *`; GCS 412 on generation 0).
 *  - `version-mismatch`: putIfMatch found another version (S3 412 with `If-Match`; GCS 412).
 *  - `not-found`: putIfMatch found no object at all (AWS S3 404 NoSuchKey, Ceph 412, MinIO since
 *    the fix for minio/minio#21526; older MinIO created the object, which T4 must not run on).
 *  - `conflict`: a concurrent conditional write to the same key was in flight (S3 409
 *    ConditionalRequestConflict). Treat as a lost race: re-read, then decide.
 */
export type PreconditionFailure = 'exists' | 'version-mismatch' | 'not-found' | 'conflict';

export class PreconditionFailedError extends ObjectStoreError {
  readonly kind = 'PreconditionFailed' as const;
  constructor(
    operation: 'putIfAbsent' | 'putIfMatch',
    key: string,
    readonly reason: PreconditionFailure,
    options?: { cause?: unknown },
  ) {
    super(operation, key, `object store: precondition failed (${reason}) on ${operation} ${key}`, options);
    this.name = 'PreconditionFailedError';
  }
}

/**
 * The store could not be reached or asked us to back off (S3 503 SlowDown, 500, timeouts, resets).
 * Transient: the same request may succeed later. `outcome` says whether a write may have happened:
 *  - `not-applied`: the store answered that it did not perform the request (503, 429);
 *  - `unknown`: the request may or may not have taken effect (connection lost after sending, 500,
 *    timeout). A caller that acknowledged nothing yet must treat the write as indeterminate.
 * Reads always report `not-applied` (a read changes nothing).
 */
export class ObjectStoreUnavailableError extends ObjectStoreError {
  readonly kind = 'ObjectStoreUnavailable' as const;
  constructor(
    operation: ObjectStoreOperation,
    key: string,
    readonly outcome: 'not-applied' | 'unknown',
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(operation, key, `object store unavailable on ${operation} ${key} (${outcome}): ${detail}`, options);
    this.name = 'ObjectStoreUnavailableError';
  }
}

/**
 * The store refused the request for a reason that retrying will not fix: access denied, bucket
 * missing, bad credentials, invalid request. Operators fix configuration; T4 reports and waits.
 */
export class ObjectStoreRequestError extends ObjectStoreError {
  readonly kind = 'ObjectStoreRequest' as const;
  constructor(
    operation: ObjectStoreOperation,
    key: string,
    /** The backend's error code (`AccessDenied`, `NoSuchBucket`, ...) and HTTP status when known. */
    readonly code: string,
    readonly httpStatus: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(operation, key, `object store refused ${operation} ${key}: ${code}${httpStatus ? ` (HTTP ${httpStatus})` : ''}: ${detail}`, options);
    this.name = 'ObjectStoreRequestError';
  }
}

export type KnownObjectStoreError = PreconditionFailedError | ObjectStoreUnavailableError | ObjectStoreRequestError;

/**
 * Why an object read through the encryption decorator (src/adapters/encryption, format in
 * docs/object-storage.md "Encryption at rest") could not be decrypted. None is transient: the same
 * read fails the same way until an operator acts.
 *  - `not-encrypted`: the body does not start with the `T4E1` header: a plaintext object under a
 *    prefix configured for encryption (T4 never mixes the two under one prefix).
 *  - `unknown-key-id`: the header names a key id the keyring does not hold (an old key dropped
 *    before `t4 rekey` reported 0 objects left on it, or a newer key this process was not given).
 *  - `authentication-failed`: no frame authenticates: the key for this id is the wrong key, or the
 *    object was copied here from another object key (the key name is authenticated), or its
 *    header is damaged.
 *  - `damaged`: the frames are malformed, or some frame does not authenticate while another does
 *    (bit rot, a partial overwrite): the key is right, the bytes are not.
 *  - `truncated`: the body ends before its final frame (an upload cut short, or a cut object).
 *
 * Not an ObjectStoreError (whose `kind` is a closed union that the instrumented decorator counts
 * per kind): it has the same `operation` and `key` fields, and the instrumented store counts it as
 * `Other`.
 */
export type DecryptionFailure = 'not-encrypted' | 'unknown-key-id' | 'authentication-failed' | 'damaged' | 'truncated';

export class ObjectDecryptionError extends Error {
  readonly kind = 'ObjectDecryption' as const;
  constructor(
    readonly operation: 'get' | 'getWithVersion',
    readonly key: string,
    readonly reason: DecryptionFailure,
    detail: string,
  ) {
    super(`object store: cannot decrypt ${key} (${reason}): ${detail}`);
    this.name = 'ObjectDecryptionError';
  }
}
