import { PinoLogger, type LogLevel } from '../adapters/node/pino-logger.js';
import { prefixEnd, utf8 } from '../domain/bytes.js';
import { DEFAULT_LIMITS } from '../domain/limits.js';
import type {
  DeleteRangeResult,
  RangeResult,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResult,
} from '../domain/mvcc/requests.js';
import type { KeyValue, LeaseId, Revision } from '../domain/mvcc/types.js';
import type { Logger } from '../ports/logger.js';
import { T4Node } from './node.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { DurabilitySettings } from './config.js';
import { openWatch, type Watch, type WatchOptions as InternalWatchOptions } from './embedded-watch.js';

/**
 * The embedded API: the same engine as `t4 run`, in-process. Keys and values are bytes; strings
 * are taken as UTF-8. Revisions are etcd's (an empty store is at 1, the first write is 2).
 *
 *   const t4 = await open({ dataDir: './data' });
 *   const { revision } = await t4.put('a', '1');
 *   const kv = await t4.get('a');            // kv.modRevision === revision
 *   await t4.close();
 *
 * Errors are typed (exported below): CompactedError, FutureRevisionError, DuplicateKeyError, ...
 */
export * from '../domain/errors.js';
export type { KeyValue, LeaseId, Revision, TxnRequest, TxnResult, RangeResult, DeleteRangeResult, SortOrder, SortTarget };
export type { Compare, RequestOp, ResponseOp } from '../domain/mvcc/requests.js';
export { WatchCompactedError, type Watch, type WatchEvent, type WatchMessage, } from './embedded-watch.js';

export type Bytes = string | Uint8Array;

/** Options of `T4.watch` (keys as strings or bytes). */
export type WatchOptions = Omit<InternalWatchOptions, 'end'> & { readonly end?: Bytes };

export interface OpenOptions {
  readonly dataDir: string;
  /** Stable node name; default 'embedded'. */
  readonly nodeId?: string;
  /** A pino level for the built-in logger (default 'warn'), ignored when `logger` is given. */
  readonly logLevel?: LogLevel;
  readonly logger?: Logger;
  readonly maxRequestBytes?: number;
  readonly maxTxnOps?: number;
  /** Periodic progress for watches with `progressNotify` (default 10 minutes, as etcd). */
  readonly watchProgressNotifyIntervalMs?: number;
  /**
   * The etcd Auth API on `serve()` (as `t4 run --auth-enabled --token-ttl`). It governs gRPC
   * clients only: the methods of this object are in-process calls and bypass auth (and TLS).
   */
  readonly auth?: { readonly enabled: boolean; readonly tokenTtlSeconds?: number };
  /**
   * The durable layer (an S3ObjectStore, GcsObjectStore, or any ObjectStore): writes reach it
   * before they are acknowledged (unless `walSyncUpload: false`), checkpoints go there, and an
   * empty data dir is restored from it.
   */
  readonly objectStore?: ObjectStore;
  readonly durability?: Partial<DurabilitySettings>;
  /** How long open() waits for an unreachable object store (default 5 minutes). */
  readonly objectStoreStartupTimeoutMs?: number;
  /** With `walSyncUpload: false`: how long close() waits for the last segment's upload (default 2 minutes). */
  readonly closeUploadTimeoutMs?: number;
  /** How long a write waits for an unavailable object store before `request timed out` (default 7 s). */
  readonly writeRequestTimeoutMs?: number;
}

export const DEFAULT_DURABILITY: DurabilitySettings = {
  walSyncUpload: true,
  segmentMaxBytes: 50 * 1024 * 1024,
  segmentMaxAgeMs: 10_000,
  checkpointIntervalMs: 15 * 60_000,
  checkpointEntries: 0,
};

export interface ListOptions {
  /** Keys in [key, end); default: every key with `key` as prefix. */
  readonly end?: Bytes;
  readonly limit?: number;
  readonly revision?: Revision;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
}

export interface Written {
  readonly revision: Revision;
}

const bytes = (b: Bytes): Uint8Array => (typeof b === 'string' ? utf8(b) : b);

export class T4 {
  private constructor(private readonly node: T4Node) {}

  /** @internal use `open()`. */
  static create(node: T4Node): T4 {
    return new T4(node);
  }

  /** The store's current revision. */
  revision(): Revision {
    return this.node.kv.currentRevision();
  }

  async put(key: Bytes, value: Bytes, options: { lease?: LeaseId; prevKv?: boolean } = {}): Promise<Written & { prevKv: KeyValue | undefined }> {
    const { revision, result } = await this.node.kv.put({ key: bytes(key), value: bytes(value), lease: options.lease ?? 0n, prevKv: options.prevKv ?? false });
    return { revision, prevKv: result.prevKv };
  }

  /** The key's value at the current revision (or at `revision`), or undefined. */
  async get(key: Bytes, options: { revision?: Revision } = {}): Promise<KeyValue | undefined> {
    const { result } = this.node.kv.range({ key: bytes(key), revision: options.revision ?? 0 });
    return result.kvs[0];
  }

  /** Keys with a prefix (or in [key, end)), with etcd's limit/more/count semantics. */
  async list(key: Bytes, options: ListOptions = {}): Promise<RangeResult & { revision: Revision }> {
    const start = bytes(key);
    const { revision, result } = this.node.kv.range({
      key: start.length === 0 ? new Uint8Array([0]) : start,
      rangeEnd: options.end !== undefined ? bytes(options.end) : start.length === 0 ? new Uint8Array([0]) : prefixEnd(start),
      limit: options.limit ?? 0,
      revision: options.revision ?? 0,
      keysOnly: options.keysOnly ?? false,
      countOnly: options.countOnly ?? false,
      sortOrder: options.sortOrder ?? 'none',
      sortTarget: options.sortTarget ?? 'key',
    });
    return { revision, ...result };
  }

  /** Deletes a key, or with `prefix: true` every key under it, or with `end` the keys in [key, end). */
  async delete(key: Bytes, options: { prefix?: boolean; end?: Bytes; prevKv?: boolean } = {}): Promise<Written & DeleteRangeResult> {
    const start = bytes(key);
    const rangeEnd = options.end !== undefined ? bytes(options.end) : options.prefix ? prefixEnd(start) : undefined;
    const { revision, result } = await this.node.kv.deleteRange({ key: start, rangeEnd, prevKv: options.prevKv ?? false });
    return { revision, ...result };
  }

  /** An etcd transaction: compares, then the success or failure ops, atomically at one revision. */
  async txn(request: TxnRequest): Promise<Written & TxnResult> {
    const { revision, result } = await this.node.kv.txn(request);
    return { revision, ...result };
  }

  /**
   * Watches a key, a prefix (`prefix: true`) or [key, end): an async iterable of `created`, then
   * `events` and `progress` messages, with etcd's guarantees (ordered, no gaps or duplicates, a
   * revision's events together). `startRevision` replays history from there (inclusive).
   *
   *   for await (const m of t4.watch('jobs/', { prefix: true, signal })) if (m.kind === 'events') ...
   */
  watch(key: Bytes, options: WatchOptions = {}): Watch {
    const { end, ...rest } = options;
    return openWatch(this.node.watchHub, bytes(key), { ...rest, ...(end !== undefined ? { end: bytes(end) } : {}) });
  }

  /** Compacts history below `revision`; with `physical`, resolves once the space is reclaimed. */
  async compact(revision: Revision, options: { physical?: boolean } = {}): Promise<Written> {
    const { revision: header } = await this.node.kv.compact(revision, options.physical ?? false);
    return { revision: header };
  }

  /**
   * Grants a lease of `ttlSeconds` (raised to 2 s at least; above 9,000,000,000 s is
   * LeaseTtlTooLargeError). `id` 0 (default) lets T4 choose; an existing id is LeaseExistsError.
   * Attach keys with `put(key, value, { lease: id })`.
   */
  async grant(ttlSeconds: number, options: { id?: LeaseId } = {}): Promise<{ id: LeaseId; ttlSeconds: number }> {
    const { id, ttlSeconds: ttl } = await this.node.leases.grant(ttlSeconds, options.id ?? 0n);
    return { id, ttlSeconds: ttl };
  }

  /** Revokes a lease, deleting its keys at one revision (LeaseNotFoundError if unknown). */
  async revoke(id: LeaseId): Promise<Written> {
    const { revision } = await this.node.leases.revoke(id);
    return { revision };
  }

  /** Restarts the lease's TTL; resolves with the TTL, or 0 if the lease does not exist (expired). */
  async keepAliveOnce(id: LeaseId): Promise<{ ttlSeconds: number }> {
    const { ttlSeconds } = await this.node.leases.keepAlive(id);
    return { ttlSeconds };
  }

  /** Remaining seconds (-1 if the lease does not exist), the granted TTL and, with `keys`, the attached keys. */
  async timeToLive(id: LeaseId, options: { keys?: boolean } = {}): Promise<{ ttlSeconds: number; grantedTtlSeconds: number; keys: Uint8Array[] }> {
    const t = this.node.leases.timeToLive(id, options.keys ?? false);
    return { ttlSeconds: t.ttlSeconds, grantedTtlSeconds: t.grantedTtlSeconds, keys: [...t.keys] };
  }

  /** Every lease id, soonest expiry first. */
  async leases(): Promise<LeaseId[]> {
    return this.node.leases.leases().ids;
  }

  /** Also serves the etcd v3 gRPC API (for etcdctl and etcd clients); resolves with host:port. */
  serve(listen: string): Promise<string> {
    return this.node.serve({ listen });
  }

  /** Writes a checkpoint to the object store now (and collects garbage after it). Needs `objectStore`. */
  checkpoint(): Promise<void> {
    return this.node.checkpoint();
  }

  close(): Promise<void> {
    return this.node.close();
  }
}

/** Opens (creating if needed) a T4 store in `dataDir`; the dir is locked until `close()`. */
export async function open(options: OpenOptions): Promise<T4> {
  const logger = options.logger ?? PinoLogger.create(options.logLevel ?? 'warn', process.stderr);
  const node = await T4Node.open({
    dataDir: options.dataDir,
    nodeId: options.nodeId ?? 'embedded',
    limits: {
      ...DEFAULT_LIMITS,
      requestBytesMax: options.maxRequestBytes ?? DEFAULT_LIMITS.requestBytesMax,
      txnOpsMax: options.maxTxnOps ?? DEFAULT_LIMITS.txnOpsMax,
      writeRequestTimeoutMs: options.writeRequestTimeoutMs ?? DEFAULT_LIMITS.writeRequestTimeoutMs,
    },
    logger,
    ...(options.watchProgressNotifyIntervalMs !== undefined ? { watchProgressNotifyIntervalMs: options.watchProgressNotifyIntervalMs } : {}),
    ...(options.auth === undefined ? {} : { auth: { enabled: options.auth.enabled, tokenTtlSeconds: options.auth.tokenTtlSeconds ?? 300 } }),
    ...(options.objectStore === undefined
      ? {}
      : {
          objectStore: {
            store: options.objectStore,
            description: 'embedded object store',
            durability: { ...DEFAULT_DURABILITY, ...options.durability },
            ...(options.closeUploadTimeoutMs === undefined ? {} : { closeUploadTimeoutMs: options.closeUploadTimeoutMs }),
            ...(options.objectStoreStartupTimeoutMs === undefined ? {} : { startupTimeoutMs: options.objectStoreStartupTimeoutMs }),
          },
        }),
  });
  return T4.create(node);
}
