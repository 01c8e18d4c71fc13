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
  if (isTransient(status, code)) {
    return new ObjectStoreUnavailableError(operation, key, writeOutcome(operation, error, status, code), `${code}${status ? ` (HTTP ${status})` : ''}: ${detail}`, { cause: error });
  }
  return new ObjectStoreRequestError(operation, key, code, status, detail, { cause: error });
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
