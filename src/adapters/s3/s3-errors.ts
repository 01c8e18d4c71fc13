// Translating AWS SDK failures into the object store's typed errors (src/ports/object-store-errors.ts).
import { AbortedError } from '../../domain/errors.js';
import {
  ObjectStoreRequestError,
  ObjectStoreUnavailableError,
  PreconditionFailedError,
  type ObjectStoreOperation,
} from '../../ports/object-store-errors.js';

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/** Node socket errors that mean the request never reached the server (so nothing was applied). */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Codes S3 (and MinIO) use for "not now, try again" without having done anything. */
const THROTTLED = new Set(['SlowDown', 'ServiceUnavailable', 'RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);
/**
 * Node's codes for a TLS handshake that failed on the server's certificate (not trusted, expired,
 * wrong name) or on the protocol (not TLS, or older than TLS 1.2). Retrying changes nothing, and
 * no request was sent.
 */
const TLS_CERTIFICATE_FAILURES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const TLS_PROTOCOL_FAILURES = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
]);
const WRITES: ReadonlySet<ObjectStoreOperation> = new Set(['put', 'delete', 'deleteMany', 'putIfAbsent', 'putIfMatch']);

export function httpStatusOf(error: unknown): number | undefined {
  return (error as SdkErrorShape | null)?.$metadata?.httpStatusCode;
}

export function codeOf(error: unknown): string {
  const e = error as SdkErrorShape | null;
  return e?.name ?? e?.code ?? 'Unknown';
}

/** NoSuchKey on GET, or a bare 404 (HEAD-like responses carry no code). Not NoSuchBucket. */
export function isNoSuchKey(error: unknown): boolean {
  const code = codeOf(error);
  return code === 'NoSuchKey' || (httpStatusOf(error) === 404 && code !== 'NoSuchBucket');
}

/**
 * Maps any failure of an SDK call. Conditional writes pass `conditional` so that 412/409/404 become
 * PreconditionFailedError with the reason the port defines.
 */
export function toObjectStoreError(
  operation: ObjectStoreOperation,
  key: string,
  error: unknown,
  signal: AbortSignal | undefined,
  conditional?: 'absent' | 'match',
): Error {
  if (signal?.aborted || codeOf(error) === 'AbortError') return new AbortedError();
  const status = httpStatusOf(error);
  const code = codeOf(error);
  const detail = (error as SdkErrorShape | null)?.message ?? String(error);
  if (conditional !== undefined && operation !== 'put') {
    const op = operation as 'putIfAbsent' | 'putIfMatch';
    if (status === 409 || code === 'ConditionalRequestConflict') return new PreconditionFailedError(op, key, 'conflict', { cause: error });
    if (status === 412 || code === 'PreconditionFailed') {
      return new PreconditionFailedError(op, key, conditional === 'absent' ? 'exists' : 'version-mismatch', { cause: error });
    }
    if (conditional === 'match' && (code === 'NoSuchKey' || status === 404) && code !== 'NoSuchBucket') {
      return new PreconditionFailedError(op, key, 'not-found', { cause: error });
    }
  }
  const tls = status === undefined ? tlsFailure(socketCode(error)) : undefined;
  if (tls !== undefined) {
    // Before isTransient, which reads "no HTTP response" as a network blip worth retrying.
    return new ObjectStoreRequestError(operation, key, socketCode(error), undefined, `TLS: ${detail} (${tls})`, { cause: error });
  }
  if (isTransient(status, code)) {
    return new ObjectStoreUnavailableError(operation, key, writeOutcome(operation, error, status, code), `${code}${status ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: error });
  }
  return new ObjectStoreRequestError(operation, key, code, status, detail, { cause: error });
}

function tlsFailure(code: string): string | undefined {
  if (TLS_CERTIFICATE_FAILURES.has(code)) return "the endpoint's certificate was refused: is its CA in the S3 CA bundle (--s3-ca-bundle), the only CAs trusted when set?";
  if (TLS_PROTOCOL_FAILURES.has(code)) return 'the endpoint does not speak TLS 1.2 or later';
  return undefined;
}

function isTransient(status: number | undefined, code: string): boolean {
  if (status === undefined) return true; // no HTTP response at all: network error, timeout, reset
  if (status >= 500 || status === 429 || status === 408) return true;
  return THROTTLED.has(code) || code === 'RequestTimeout' || code === 'InternalError';
}

/**
 * A write is known not to have happened only when its one and only attempt was refused before it
 * was applied. After SDK retries an earlier attempt may have been applied with its response lost.
 */
function writeOutcome(operation: ObjectStoreOperation, error: unknown, status: number | undefined, code: string): 'not-applied' | 'unknown' {
  if (!WRITES.has(operation)) return 'not-applied';
  const attempts = (error as SdkErrorShape | null)?.$metadata?.attempts ?? 1;
  if (attempts > 1) return 'unknown';
  if (status === 503 || status === 429 || THROTTLED.has(code)) return 'not-applied';
  if (status === undefined && NEVER_SENT.has(socketCode(error))) return 'not-applied';
  return 'unknown';
}

function socketCode(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string } } | null;
  return e?.code ?? e?.cause?.code ?? '';
}
