// Hand-built domain for unit tests (no inversify): an InMemoryMvccBackend, the WritePipeline, a
// Compactor and the KvService, with a recording logger, a scheduler the test can drive, and a lease
// table the test fills. Plus small helpers to write keys and read results as plain strings.
import assert from 'node:assert/strict';
import { InMemoryMvccBackend } from '../../src/adapters/memory/in-memory-mvcc-backend.js';
import { fromUtf8, utf8 } from '../../src/domain/bytes.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import { Compactor } from '../../src/domain/mvcc/compactor.js';
import { KvService } from '../../src/domain/mvcc/kv-service.js';
import type { Compare, CompareResult, RangeRequest, RequestOp, TxnRequest } from '../../src/domain/mvcc/requests.js';
import type { CommittedBatch, KeyValue, LeaseId } from '../../src/domain/mvcc/types.js';
import { WritePipeline } from '../../src/domain/write/write-pipeline.js';
import type { BatchLog } from '../../src/ports/batch-log.js';
import type { LeaseLookup } from '../../src/ports/lease-lookup.js';
import type { Logger } from '../../src/ports/logger.js';
import type { MvccBackend } from '../../src/ports/mvcc-backend.js';
import type { Scheduler } from '../../src/ports/scheduler.js';
import type { Timers } from '../../src/ports/clock.js';
import { VirtualClock } from '../../src/adapters/memory/virtual-clock.js';

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

/** A Logger that keeps every entry (children share the parent's list, with their fields merged in). */
export class TestLogger implements Logger {
  constructor(
    readonly entries: LogEntry[] = [],
    private readonly bound: Record<string, unknown> = {},
  ) {}
  debug(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: 'debug', fields: { ...this.bound, ...fields }, message });
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: 'info', fields: { ...this.bound, ...fields }, message });
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: 'warn', fields: { ...this.bound, ...fields }, message });
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.entries.push({ level: 'error', fields: { ...this.bound, ...fields }, message });
  }
  child(fields: Record<string, unknown>): Logger {
    return new TestLogger(this.entries, { ...this.bound, ...fields });
  }
}

/** Yields to the macrotask queue (like the production scheduler) and counts the yields. */
export class CountingScheduler implements Scheduler {
  yields = 0;
  yield(): Promise<void> {
    this.yields++;
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/** A Scheduler whose yields resolve only when the test calls `release()`. */
export class ManualScheduler implements Scheduler {
  private readonly waiting: (() => void)[] = [];
  yield(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  get pending(): number {
    return this.waiting.length;
  }
  /** Resolves every yield waiting now. */
  release(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/** Leases the test declares to exist. */
export class TestLeases implements LeaseLookup {
  readonly ids = new Set<LeaseId>();
  leaseExists(id: LeaseId): boolean {
    return this.ids.has(id);
  }
}

export interface DomainOptions {
  readonly backend?: MvccBackend;
  readonly stages?: readonly BatchLog[];
  readonly limits?: Partial<Limits>;
  readonly scheduler?: Scheduler;
  readonly timers?: Timers;
}

export interface Domain {
  readonly backend: MvccBackend;
  readonly pipeline: WritePipeline;
  readonly compactor: Compactor;
  readonly kv: KvService;
  readonly leases: TestLeases;
  readonly logger: TestLogger;
  readonly scheduler: Scheduler;
  readonly limits: Limits;
  /** Every batch the pipeline committed, in order. */
  readonly batches: CommittedBatch[];
}

export function buildDomain(options: DomainOptions = {}): Domain {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const backend = options.backend ?? new InMemoryMvccBackend();
  const logger = new TestLogger();
  const scheduler = options.scheduler ?? new CountingScheduler();
  const pipeline = new WritePipeline(
    backend,
    options.stages ?? [],
    { queueRequestsMax: limits.writeQueueRequestsMax, batchRequestsMax: limits.writeBatchRequestsMax, requestTimeoutMs: limits.writeRequestTimeoutMs },
    options.timers ?? new VirtualClock(),
    logger.child({ component: 'write-pipeline' }),
  );
  const compactor = new Compactor(backend, scheduler, limits.compactionRowsPerStep, logger.child({ component: 'compactor' }));
  const leases = new TestLeases();
  const kv = new KvService(backend, pipeline, compactor, leases, limits);
  const batches: CommittedBatch[] = [];
  pipeline.onCommitted((batch) => batches.push(batch));
  return { backend, pipeline, compactor, kv, leases, logger, scheduler, limits, batches };
}

// ---- bytes and views ----

export const b = utf8;
export const s = fromUtf8;
/** `range_end` meaning "every key >= key". */
export const FROM_KEY = new Uint8Array([0]);

/** A KeyValue as a plain, comparable object. */
export interface KvView {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: bigint;
}

export function view(kv: KeyValue): KvView {
  return {
    key: fromUtf8(kv.key),
    value: fromUtf8(kv.value),
    create: kv.createRevision,
    mod: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

export function views(kvs: readonly KeyValue[]): KvView[] {
  return kvs.map(view);
}

export function keysOf(kvs: readonly KeyValue[]): string[] {
  return kvs.map((kv) => fromUtf8(kv.key));
}

// ---- request builders ----

export function rangeOp(key: string, rest: Omit<RangeRequest, 'key'> = {}): RequestOp {
  return { kind: 'range', request: { key: b(key), ...rest } };
}

export function putOp(key: string, value: string, rest: { lease?: LeaseId; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean } = {}): RequestOp {
  return { kind: 'put', request: { key: b(key), value: b(value), ...rest } };
}

export function deleteOp(key: string, rangeEnd?: Uint8Array | string, prevKv = false): RequestOp {
  const end = typeof rangeEnd === 'string' ? b(rangeEnd) : rangeEnd;
  return { kind: 'deleteRange', request: { key: b(key), ...(end !== undefined ? { rangeEnd: end } : {}), prevKv } };
}

export function txnOp(request: TxnRequest): RequestOp {
  return { kind: 'txn', request };
}

export function txn(compare: readonly Compare[], success: readonly RequestOp[] = [], failure: readonly RequestOp[] = []): TxnRequest {
  return { compare, success, failure };
}

/** Compare builders, one per target (etcd clientv3.Compare(Version(k), "=", 3) and friends). */
export const cmp = {
  version: (key: string, result: CompareResult, value: number | bigint, rangeEnd?: Uint8Array): Compare => ({
    key: b(key),
    result,
    target: 'version',
    operand: { case: 'version', value: BigInt(value) },
    ...(rangeEnd !== undefined ? { rangeEnd } : {}),
  }),
  create: (key: string, result: CompareResult, value: number | bigint, rangeEnd?: Uint8Array): Compare => ({
    key: b(key),
    result,
    target: 'create',
    operand: { case: 'createRevision', value: BigInt(value) },
    ...(rangeEnd !== undefined ? { rangeEnd } : {}),
  }),
  mod: (key: string, result: CompareResult, value: number | bigint, rangeEnd?: Uint8Array): Compare => ({
    key: b(key),
    result,
    target: 'mod',
    operand: { case: 'modRevision', value: BigInt(value) },
    ...(rangeEnd !== undefined ? { rangeEnd } : {}),
  }),
  value: (key: string, result: CompareResult, value: string, rangeEnd?: Uint8Array): Compare => ({
    key: b(key),
    result,
    target: 'value',
    operand: { case: 'value', value: b(value) },
    ...(rangeEnd !== undefined ? { rangeEnd } : {}),
  }),
  lease: (key: string, result: CompareResult, value: bigint, rangeEnd?: Uint8Array): Compare => ({
    key: b(key),
    result,
    target: 'lease',
    operand: { case: 'lease', value },
    ...(rangeEnd !== undefined ? { rangeEnd } : {}),
  }),
};

// ---- results ----

/** Asserts the promise rejects with an instance of `type` and returns the error. */
export async function rejectsWith<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof type, `expected ${type.name}, got ${caught === undefined ? 'success' : String(caught)}`);
  return caught;
}

/** Asserts `fn` throws an instance of `type` and returns the error. */
export function throwsWith<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof type, `expected ${type.name}, got ${caught === undefined ? 'no error' : String(caught)}`);
  return caught;
}

/** Lets queued microtasks and one macrotask turn run (e.g. a pipeline batch with no async stages). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
