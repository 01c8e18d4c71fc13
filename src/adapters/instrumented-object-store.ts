import { AbortedError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type {
  ConditionalObjectStore,
  ListPageOptions,
  ObjectListPage,
  ObjectStore,
  ObjectStoreCallOptions,
  ObjectVersion,
  VersionedObject,
} from '../ports/object-store.js';
import { OBJECT_STORE_OPERATIONS, ObjectStoreError, type ObjectStoreOperation } from '../ports/object-store-errors.js';

/** Upper bounds (inclusive, ms) of the latency histogram buckets; a last bucket takes the rest. */
export const OBJECT_STORE_LATENCY_BUCKETS_MS: readonly number[] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

export type ObjectStoreErrorKind = ObjectStoreError['kind'] | 'Aborted' | 'Other';

export interface OperationStats {
  readonly requests: number;
  /** Failed requests by kind; `PreconditionFailed` is a normal outcome of a lost race, counted here too. */
  readonly errors: Readonly<Record<ObjectStoreErrorKind, number>>;
  readonly latencyMsSum: number;
  readonly latencyMsMax: number;
  /** Counts per bucket of OBJECT_STORE_LATENCY_BUCKETS_MS, plus one for larger latencies (not cumulative). */
  readonly latencyBuckets: readonly number[];
  /** Body bytes sent (puts) and received (gets), successful requests only. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export type ObjectStoreStats = Readonly<Record<ObjectStoreOperation, OperationStats>>;

interface MutableStats {
  requests: number;
  errors: Record<ObjectStoreErrorKind, number>;
  latencyMsSum: number;
  latencyMsMax: number;
  latencyBuckets: number[];
  bytesSent: number;
  bytesReceived: number;
}

function emptyStats(): MutableStats {
  return {
    requests: 0,
    errors: { PreconditionFailed: 0, ObjectStoreUnavailable: 0, ObjectStoreRequest: 0, Aborted: 0, Other: 0 },
    latencyMsSum: 0,
    latencyMsMax: 0,
    latencyBuckets: new Array<number>(OBJECT_STORE_LATENCY_BUCKETS_MS.length + 1).fill(0),
    bytesSent: 0,
    bytesReceived: 0,
  };
}

function errorKind(error: unknown): ObjectStoreErrorKind {
  if (error instanceof ObjectStoreError) return error.kind;
  if (error instanceof AbortedError) return 'Aborted';
  return 'Other';
}

/**
 * Counts requests, errors, latency and bytes per operation around any ObjectStore (STYLE 11: a
 * decorator, not `if (metrics)` in the adapters). `snapshot()` returns plain numbers for the
 * metrics endpoint, `t4 status` and tests ("a checkpoint uploaded at most 5% of the bytes").
 */
export class InstrumentedObjectStore<S extends ObjectStore = ObjectStore> implements ObjectStore {
  private readonly stats = new Map<ObjectStoreOperation, MutableStats>(OBJECT_STORE_OPERATIONS.map((op) => [op, emptyStats()]));

  constructor(
    readonly inner: S,
    private readonly clock: Clock,
  ) {}

  /** A copy of the counters so far. */
  snapshot(): ObjectStoreStats {
    const out = {} as Record<ObjectStoreOperation, OperationStats>;
    for (const [op, s] of this.stats) out[op] = { ...s, errors: { ...s.errors }, latencyBuckets: [...s.latencyBuckets] };
    return out;
  }

  put(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<void> {
    return this.measure('put', () => this.inner.put(key, body, options), body.length);
  }

  get(key: string, options?: ObjectStoreCallOptions): Promise<Uint8Array | undefined> {
    return this.measure('get', () => this.inner.get(key, options), 0, (body) => body?.length ?? 0);
  }

  delete(key: string, options?: ObjectStoreCallOptions): Promise<void> {
    return this.measure('delete', () => this.inner.delete(key, options));
  }

  deleteMany(keys: readonly string[], options?: ObjectStoreCallOptions): Promise<void> {
    return this.measure('deleteMany', () => this.inner.deleteMany(keys, options));
  }

  listPage(prefix: string, options?: ListPageOptions): Promise<ObjectListPage> {
    return this.measure('listPage', () => this.inner.listPage(prefix, options));
  }

  protected async measure<T>(operation: ObjectStoreOperation, call: () => Promise<T>, bytesSent = 0, bytesReceived?: (result: T) => number): Promise<T> {
    const stats = this.stats.get(operation) as MutableStats;
    const started = this.clock.monotonicMs();
    stats.requests++;
    try {
      const result = await call();
      stats.bytesSent += bytesSent;
      if (bytesReceived !== undefined) stats.bytesReceived += bytesReceived(result);
      return result;
    } catch (error) {
      stats.errors[errorKind(error)]++;
      throw error;
    } finally {
      const elapsed = Math.max(0, this.clock.monotonicMs() - started);
      stats.latencyMsSum += elapsed;
      stats.latencyMsMax = Math.max(stats.latencyMsMax, elapsed);
      let bucket = OBJECT_STORE_LATENCY_BUCKETS_MS.findIndex((bound) => elapsed <= bound);
      if (bucket < 0) bucket = OBJECT_STORE_LATENCY_BUCKETS_MS.length;
      stats.latencyBuckets[bucket] = (stats.latencyBuckets[bucket] ?? 0) + 1;
    }
  }
}

/** The same, for a ConditionalObjectStore (keeps the conditional methods visible to the type system). */
export class InstrumentedConditionalObjectStore extends InstrumentedObjectStore<ConditionalObjectStore> implements ConditionalObjectStore {
  getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined> {
    return this.measure('getWithVersion', () => this.inner.getWithVersion(key, options), 0, (o) => o?.body.length ?? 0);
  }

  putIfAbsent(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.measure('putIfAbsent', () => this.inner.putIfAbsent(key, body, options), body.length);
  }

  putIfMatch(key: string, body: Uint8Array, expected: ObjectVersion, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.measure('putIfMatch', () => this.inner.putIfMatch(key, body, expected, options), body.length);
  }
}
