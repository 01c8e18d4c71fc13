// Translating @google-cloud/storage failures into the object store's typed errors
// (src/ports/object-store-errors.ts).
//
// What the library throws: an ApiError with `code` = the HTTP status (number) and `errors` =
// [{ reason, message }] from the JSON error body for an HTTP error; a node-fetch FetchError (`code`
// = ECONNREFUSED, ECONNRESET, ...; `type` = 'system' or 'request-timeout') when no response came.
import { AbortedError } from '../../domain/errors.js';
import {
  ObjectStoreRequestError,
  ObjectStoreUnavailableError,
  PreconditionFailedError,
  type ObjectStoreOperation,
} from '../../ports/object-store-errors.js';

interface GcsErrorShape {
  name?: string;
  code?: number | string;
  type?: string;
  message?: string;
  errors?: readonly { reason?: string; message?: string }[];
  cause?: { code?: string };
}

/** Node socket errors that mean the request never reached the server (so nothing was applied). */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const WRITES: ReadonlySet<ObjectStoreOperation> = new Set(['put', 'delete', 'deleteMany', 'putIfAbsent', 'putIfMatch']);

/** The HTTP status of an API error, or undefined when no response came (network error, timeout). */
export function httpStatusOf(error: unknown): number | undefined {
  const code = (error as GcsErrorShape | null)?.code;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/** The first `reason` of the JSON error body (`notFound`, `conditionNotMet`, `forbidden`, ...). */
export function reasonOf(error: unknown): string | undefined {
  return (error as GcsErrorShape | null)?.errors?.[0]?.reason;
}

function messageOf(error: unknown): string {
  const e = error as GcsErrorShape | null;
  return e?.message ?? String(error);
}

/**
 * GCS answers 404 both for a missing object and a missing bucket; only the message differs ("No
 * such object: b/k" versus "The specified bucket does not exist."). fake-gcs-server says "Not
 * Found" for both, so there a missing bucket looks like a missing object on reads.
 */
export function isBucketMissing(error: unknown): boolean {
  return httpStatusOf(error) === 404 && /bucket/i.test(messageOf(error)) && !/no such object/i.test(messageOf(error));
}

/** A 404 for the object itself (not its bucket). */
export function isObjectMissing(error: unknown): boolean {
  return httpStatusOf(error) === 404 && !isBucketMissing(error);
}

export function codeOf(error: unknown): string {
  if (isBucketMissing(error)) return 'NoSuchBucket';
  const status = httpStatusOf(error);
  const reason = reasonOf(error);
  if (status !== undefined) return reason ?? `HTTP${status}`;
  const e = error as GcsErrorShape | null;
  if (typeof e?.code === 'string' && e.code !== '') return e.code;
  if (e?.type === 'request-timeout') return 'RequestTimeout';
  return e?.name ?? 'Unknown';
}

/**
 * Maps any failure of a library call. Conditional writes pass `conditional` so that 412 becomes
 * PreconditionFailedError; for `match` the caller has already told a missing object (`not-found`)
 * from another generation (`version-mismatch`) and passes which, since GCS answers 412 for both.
 */
export function toObjectStoreError(
  operation: ObjectStoreOperation,
  key: string,
  error: unknown,
  signal: AbortSignal | undefined,
  conditional?: { readonly kind: 'absent' } | { readonly kind: 'match'; readonly objectExists: boolean },
): Error {
  if (signal?.aborted || error instanceof AbortedError || (error as GcsErrorShape | null)?.name === 'AbortError') return new AbortedError();
  const status = httpStatusOf(error);
  // Uploads and lists name no object that could be missing: their 404 is always the bucket's.
  const code = status === 404 && (operation === 'put' || operation === 'putIfAbsent' || operation === 'putIfMatch' || operation === 'listPage') ? 'NoSuchBucket' : codeOf(error);
  const detail = messageOf(error);
  if (conditional !== undefined && (operation === 'putIfAbsent' || operation === 'putIfMatch')) {
    if (status === 412) {
      const reason = conditional.kind === 'absent' ? 'exists' : conditional.objectExists ? 'version-mismatch' : 'not-found';
      return new PreconditionFailedError(operation, key, reason, { cause: error });
    }
    // 409 is what GCS answers when concurrent writes to one object contend ("conflict").
    if (status === 409) return new PreconditionFailedError(operation, key, 'conflict', { cause: error });
  }
  if (isTransient(status)) {
    return new ObjectStoreUnavailableError(operation, key, writeOutcome(operation, error, status), `${code}${status ? ` (HTTP ${status})` : ''}: ${detail}`, {
      cause: error,
    });
  }
  return new ObjectStoreRequestError(operation, key, code, status, detail, { cause: error });
}

function isTransient(status: number | undefined): boolean {
  if (status === undefined) return true; // no HTTP response at all: network error, timeout, reset
  return status >= 500 || status === 429 || status === 408;
}

/**
 * Writes are sent exactly once (the write client never retries), so a write is known not to have
 * happened when the server said so (429, 503) or the connection was never made.
 */
function writeOutcome(operation: ObjectStoreOperation, error: unknown, status: number | undefined): 'not-applied' | 'unknown' {
  if (!WRITES.has(operation)) return 'not-applied';
  if (status === 503 || status === 429) return 'not-applied';
  if (status === undefined && NEVER_SENT.has(socketCode(error))) return 'not-applied';
  return 'unknown';
}

function socketCode(error: unknown): string {
  const e = error as GcsErrorShape | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  return code ?? e?.cause?.code ?? '';
}
