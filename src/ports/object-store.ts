/**
 * Object storage, as T4 needs it: the durable layer that holds WAL segments, checkpoints and the
 * leader lock. The contract is written here and checked for every adapter by
 * test/contract/object-store.contract.ts (memory, fault injector, instrumented decorator, S3 on
 * MinIO, and later GCS).
 *
 * Keys. A key is relative to the store's namespace (an S3 or GCS bucket plus an optional prefix
 * chosen by configuration): non-empty, not starting with `/`, at most 1024 UTF-8 bytes together
 * with the prefix. No key may also be a "directory" of other keys: never store `a` beside `a/b`
 * (MinIO keeps objects as directories and then lists only `a`). Stores with different namespaces
 * never see each other's objects, as long as neither prefix contains the other.
 *
 * Order. "Lexicographic" means by the UTF-8 bytes of the key (what S3 and GCS do), which differs
 * from JavaScript's `<` on strings for characters beyond U+FFFF.
 *
 * Consistency. Read-after-write and list-after-write are strong (AWS S3 since 2020, GCS, MinIO):
 * once a put resolves, every later get and list sees it; once a delete resolves, none does.
 * A put is atomic to readers: a concurrent get returns the whole old body or the whole new one,
 * never a mix or a prefix.
 *
 * Failures. Every method rejects only with the typed errors of ./object-store-errors.ts, or with
 * the domain's AbortedError when `signal` fired first. A rejected write may still have happened
 * unless the error says `outcome: 'not-applied'`.
 *
 * Cost. Every method is one request (deleteMany: one per 1000 keys), so callers can count what
 * they pay for; a LIST is the most expensive kind, so keep it off hot paths.
 */

export interface ObjectStoreCallOptions {
  /** Aborts the request; the call then rejects with AbortedError. */
  readonly signal?: AbortSignal;
}

export interface ObjectSummary {
  /** Relative to the store's namespace, like every key on this interface. */
  readonly key: string;
  readonly sizeBytes: number;
}

export interface ListPageOptions extends ObjectStoreCallOptions {
  /** Only keys strictly after this one (in UTF-8 byte order); usually the previous page's last key. */
  readonly startAfter?: string;
  /** At most this many keys (1..1000; default 1000, the S3 maximum). */
  readonly maxKeys?: number;
}

export interface ObjectListPage {
  /** In UTF-8 byte order of the key, all starting with the requested prefix. */
  readonly objects: readonly ObjectSummary[];
  /** Set when more keys may follow: pass it as `startAfter` to get the next page. */
  readonly nextStartAfter: string | undefined;
}

export interface ObjectStore {
  /** Creates or replaces `key` with `body`, atomically for readers. */
  put(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<void>;
  /** The whole body, or undefined when there is no such object. */
  get(key: string, options?: ObjectStoreCallOptions): Promise<Uint8Array | undefined>;
  /** Removes `key`. Deleting a missing object is not an error (so retries are safe). */
  delete(key: string, options?: ObjectStoreCallOptions): Promise<void>;
  /**
   * Removes every key in `keys` (missing ones are fine), in requests of at most 1000 keys. Not
   * atomic: on failure some keys may be gone; retrying the whole call is safe.
   */
  deleteMany(keys: readonly string[], options?: ObjectStoreCallOptions): Promise<void>;
  /** One page of the keys that start with `prefix` ('' for all), in UTF-8 byte order. See listAll. */
  listPage(prefix: string, options?: ListPageOptions): Promise<ObjectListPage>;
}

/**
 * Identifies one version of an object's content, to make a later write conditional on it: the S3
 * ETag (quotes included) or the GCS generation. Opaque: compare only for equality, never parse.
 * On S3 a single-part ETag is the MD5 of the body, so writing identical bytes again keeps the same
 * token; callers that must notice such a rewrite (ABA) put something unique in the body (a term,
 * a counter, a node id).
 */
export type ObjectVersion = string & { readonly __brand: 'ObjectVersion' };

export interface VersionedObject {
  readonly body: Uint8Array;
  readonly version: ObjectVersion;
}

/**
 * Compare-and-set on single objects (S3 conditional writes, GCS generation preconditions); the
 * leader lock and manifest updates need it. A backend without real conditional writes must not
 * implement this interface: T4 refuses to run an election on it rather than degrade.
 *
 * A conditional write that fails changes nothing and rejects with PreconditionFailedError. A
 * conditional write whose response was lost and that the transport (or the caller) retried can
 * fail with PreconditionFailedError because of its own first attempt; a caller that must know
 * reads the object back and compares the body.
 */
export interface ConditionalObjectStore extends ObjectStore {
  /** The body and its current version, or undefined when there is no such object. */
  getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined>;
  /**
   * Creates `key` only if no object exists there (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`).
   * Of several concurrent calls on one key exactly one succeeds; the others reject with
   * PreconditionFailedError (`exists` or `conflict`). Resolves with the new version.
   */
  putIfAbsent(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<ObjectVersion>;
  /**
   * Replaces `key` only if its current version is `expected` (S3 `If-Match`, GCS
   * `ifGenerationMatch`). Never creates an object: against a missing key it rejects with
   * PreconditionFailedError (`not-found`). Resolves with the new version.
   */
  putIfMatch(key: string, body: Uint8Array, expected: ObjectVersion, options?: ObjectStoreCallOptions): Promise<ObjectVersion>;
}

/**
 * Every key under `prefix`, page by page (one LIST request per page), in UTF-8 byte order. Each
 * page is read when the previous one is consumed, so keys written meanwhile after the current
 * position may appear; nothing listed is skipped or repeated.
 */
export async function* listAll(
  store: ObjectStore,
  prefix: string,
  options: ListPageOptions = {},
): AsyncGenerator<ObjectSummary, void, undefined> {
  let startAfter = options.startAfter;
  for (;;) {
    const page = await store.listPage(prefix, { ...options, startAfter });
    yield* page.objects;
    if (page.nextStartAfter === undefined) return;
    startAfter = page.nextStartAfter;
  }
}

/** The largest page one LIST returns, and the most keys one S3 DeleteObjects request takes. */
export const OBJECT_STORE_PAGE_KEYS_MAX = 1000;
