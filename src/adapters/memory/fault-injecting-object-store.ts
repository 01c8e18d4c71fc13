import type { Timers } from '../../ports/clock.js';
import type {
  ConditionalObjectStore,
  ListPageOptions,
  ObjectListPage,
  ObjectStoreCallOptions,
  ObjectVersion,
  VersionedObject,
} from '../../ports/object-store.js';
import {
  ObjectStoreUnavailableError,
  PreconditionFailedError,
  type ObjectStoreOperation,
} from '../../ports/object-store-errors.js';
import { throwIfAborted } from '../object-store-keys.js';

/** Uniform in [0, 1); tests pass a seeded PRNG so a seed names a run. */
export interface FaultRandom {
  next(): number;
}

/**
 * What goes wrong, and how often. Rates are probabilities per request in [0, 1]; all default to 0.
 * Each request draws its faults in a fixed order, so the same seed, configuration and sequence of
 * calls inject the same faults.
 */
export interface ObjectStoreFaults {
  /** Every request first waits a uniform delay in [min, max] ms on the injected timers. */
  readonly latencyMs?: { readonly min: number; readonly max: number };
  /** 503 SlowDown before the request is applied: ObjectStoreUnavailableError, outcome 'not-applied'. */
  readonly unavailableRate?: number;
  /**
   * Writes (put, delete, deleteMany, putIfAbsent, putIfMatch) only: the write is applied, then its
   * response is lost: ObjectStoreUnavailableError, outcome 'unknown'.
   */
  readonly lostResponseRate?: number;
  /**
   * Conditional writes only: 412 as if a competing writer had just won (`exists` for putIfAbsent,
   * `version-mismatch` for putIfMatch). Nothing is written.
   */
  readonly preconditionFailedRate?: number;
  /** Conditional writes only: 409 ConditionalRequestConflict. Nothing is written. */
  readonly conflictRate?: number;
  /** Only these operations see faults (default: all). */
  readonly operations?: readonly ObjectStoreOperation[];
}

export type InjectedFault = 'unavailable' | 'lost-response' | 'precondition-failed' | 'conflict';

export interface FaultInjectingObjectStoreOptions {
  readonly random: FaultRandom;
  /** Needed only for latency; a VirtualClock in simulations, SystemClock elsewhere. */
  readonly timers?: Timers;
  readonly faults?: ObjectStoreFaults;
}

const WRITES: ReadonlySet<ObjectStoreOperation> = new Set(['put', 'delete', 'deleteMany', 'putIfAbsent', 'putIfMatch']);
const CONDITIONAL: ReadonlySet<ObjectStoreOperation> = new Set(['putIfAbsent', 'putIfMatch']);

/**
 * Wraps a ConditionalObjectStore (usually an InMemoryObjectStore) and injects the failures a real
 * object store produces: latency, 503s, 412/409 on conditional writes, and the write that succeeds
 * but whose response is lost. Faults come from a seeded random source, or are scripted one at a
 * time with `injectNext`. With no faults configured it behaves exactly like the wrapped store.
 */
export class FaultInjectingObjectStore implements ConditionalObjectStore {
  private faults: ObjectStoreFaults;
  private readonly scripted: Array<{ fault: InjectedFault; operation: ObjectStoreOperation | undefined }> = [];
  /** How many faults of each kind were injected so far. */
  readonly injected: Record<InjectedFault, number> = { unavailable: 0, 'lost-response': 0, 'precondition-failed': 0, conflict: 0 };

  constructor(
    readonly inner: ConditionalObjectStore,
    private readonly options: FaultInjectingObjectStoreOptions,
  ) {
    this.faults = options.faults ?? {};
    this.checkFaults(this.faults);
  }

  /** Replaces the fault configuration (e.g. the store fails mid-run, then recovers with `{}`). */
  setFaults(faults: ObjectStoreFaults): void {
    this.checkFaults(faults);
    this.faults = faults;
  }

  /**
   * The next request of `operation` (any operation when omitted) that can suffer `fault` gets it,
   * whatever the rates say. Scripted faults queue up in order.
   */
  injectNext(fault: InjectedFault, operation?: ObjectStoreOperation): void {
    this.scripted.push({ fault, operation });
  }

  put(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<void> {
    return this.run('put', key, options, () => this.inner.put(key, body, options));
  }

  get(key: string, options?: ObjectStoreCallOptions): Promise<Uint8Array | undefined> {
    return this.run('get', key, options, () => this.inner.get(key, options));
  }

  delete(key: string, options?: ObjectStoreCallOptions): Promise<void> {
    return this.run('delete', key, options, () => this.inner.delete(key, options));
  }

  deleteMany(keys: readonly string[], options?: ObjectStoreCallOptions): Promise<void> {
    return this.run('deleteMany', keys[0] ?? '', options, () => this.inner.deleteMany(keys, options));
  }

  listPage(prefix: string, options?: ListPageOptions): Promise<ObjectListPage> {
    return this.run('listPage', prefix, options, () => this.inner.listPage(prefix, options));
  }

  getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined> {
    return this.run('getWithVersion', key, options, () => this.inner.getWithVersion(key, options));
  }

  putIfAbsent(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.run('putIfAbsent', key, options, () => this.inner.putIfAbsent(key, body, options));
  }

  putIfMatch(key: string, body: Uint8Array, expected: ObjectVersion, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.run('putIfMatch', key, options, () => this.inner.putIfMatch(key, body, expected, options));
  }

  private async run<T>(operation: ObjectStoreOperation, key: string, options: ObjectStoreCallOptions | undefined, call: () => Promise<T>): Promise<T> {
    throwIfAborted(options?.signal);
    await this.delay();
    throwIfAborted(options?.signal);
    const fault = this.choose(operation);
    if (fault !== undefined) this.injected[fault]++;
    switch (fault) {
      case 'unavailable':
        throw new ObjectStoreUnavailableError(operation, key, 'not-applied', 'injected 503 SlowDown');
      case 'precondition-failed':
        throw new PreconditionFailedError(operation as 'putIfAbsent' | 'putIfMatch', key, operation === 'putIfAbsent' ? 'exists' : 'version-mismatch');
      case 'conflict':
        throw new PreconditionFailedError(operation as 'putIfAbsent' | 'putIfMatch', key, 'conflict');
      case 'lost-response':
        await call();
        throw new ObjectStoreUnavailableError(operation, key, 'unknown', 'injected lost response (the write was applied)');
      case undefined:
        return call();
    }
  }

  private choose(operation: ObjectStoreOperation): InjectedFault | undefined {
    const scriptedIndex = this.scripted.findIndex((s) => (s.operation === undefined || s.operation === operation) && applicable(s.fault, operation));
    if (scriptedIndex >= 0) return this.scripted.splice(scriptedIndex, 1)[0]?.fault;
    const f = this.faults;
    if (f.operations !== undefined && !f.operations.includes(operation)) return undefined;
    if (this.draw(f.unavailableRate)) return 'unavailable';
    if (CONDITIONAL.has(operation)) {
      if (this.draw(f.conflictRate)) return 'conflict';
      if (this.draw(f.preconditionFailedRate)) return 'precondition-failed';
    }
    if (WRITES.has(operation) && this.draw(f.lostResponseRate)) return 'lost-response';
    return undefined;
  }

  private draw(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.options.random.next() < rate;
  }

  private async delay(): Promise<void> {
    const latency = this.faults.latencyMs;
    if (latency === undefined) return;
    const timers = this.options.timers;
    if (timers === undefined) throw new Error('FaultInjectingObjectStore: latency needs timers');
    const ms = latency.min + this.options.random.next() * (latency.max - latency.min);
    await new Promise<void>((resolve) => timers.after(ms, resolve));
  }

  private checkFaults(faults: ObjectStoreFaults): void {
    for (const rate of [faults.unavailableRate, faults.lostResponseRate, faults.preconditionFailedRate, faults.conflictRate]) {
      if (rate !== undefined && !(rate >= 0 && rate <= 1)) throw new Error(`fault rate must be in [0, 1], got ${rate}`);
    }
    const latency = faults.latencyMs;
    if (latency !== undefined && !(latency.min >= 0 && latency.max >= latency.min)) throw new Error(`bad latency range ${JSON.stringify(latency)}`);
    if (latency !== undefined && this.options.timers === undefined) throw new Error('FaultInjectingObjectStore: latency needs timers');
  }
}

function applicable(fault: InjectedFault, operation: ObjectStoreOperation): boolean {
  switch (fault) {
    case 'unavailable':
      return true;
    case 'lost-response':
      return WRITES.has(operation);
    case 'precondition-failed':
    case 'conflict':
      return CONDITIONAL.has(operation);
  }
}
