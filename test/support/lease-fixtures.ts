// Hand-built domain with real leases for unit tests: an InMemoryMvccBackend, the WritePipeline,
// a VirtualClock (time moves only on `advance`, timers fire on the way), a seeded Random, the
// LeaseService and a KvService that looks leases up in it. No sleeps anywhere.
//
//   const d = buildLeaseDomain();
//   const { id } = await d.leases.grant(10);
//   await d.kv.put({ key: b('a'), value: b('1'), lease: id });
//   await d.advance(10_000);              // fires the expiry timer and lets the revoke commit
import { InMemoryMvccBackend } from '../../src/adapters/memory/in-memory-mvcc-backend.js';
import { VirtualClock } from '../../src/adapters/memory/virtual-clock.js';
import { LeaseService } from '../../src/domain/lease/lease-service.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/domain/limits.js';
import { Compactor } from '../../src/domain/mvcc/compactor.js';
import { KvService } from '../../src/domain/mvcc/kv-service.js';
import type { CommittedBatch } from '../../src/domain/mvcc/types.js';
import { WritePipeline } from '../../src/domain/write/write-pipeline.js';
import type { BatchLog } from '../../src/ports/batch-log.js';
import type { MvccBackend } from '../../src/ports/mvcc-backend.js';
import type { Random } from '../../src/ports/random.js';
import { CountingScheduler, TestLogger, tick } from './domain-fixtures.js';

/** A deterministic Random (splitmix64) so server-chosen ids repeat run to run. */
export class SeededRandom64 implements Random {
  private state: bigint;
  constructor(seed: bigint = 1n) {
    this.state = seed;
  }
  u64(): bigint {
    const M = (1n << 64n) - 1n;
    this.state = (this.state + 0x9e3779b97f4a7c15n) & M;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    return z ^ (z >> 31n);
  }
}

/** Answers the values given, in order, then repeats the last one. */
export class ScriptedRandom implements Random {
  private at = 0;
  constructor(private readonly values: readonly bigint[]) {}
  u64(): bigint {
    const v = this.values[Math.min(this.at, this.values.length - 1)] as bigint;
    this.at++;
    return v;
  }
}

export interface LeaseDomainOptions {
  readonly backend?: MvccBackend;
  readonly clock?: VirtualClock;
  readonly random?: Random;
  readonly stages?: readonly BatchLog[];
  readonly limits?: Partial<Limits>;
  /** Start the expiry timers (default true). */
  readonly start?: boolean;
}

export interface LeaseDomain {
  readonly backend: MvccBackend;
  readonly clock: VirtualClock;
  readonly pipeline: WritePipeline;
  readonly leases: LeaseService;
  readonly kv: KvService;
  readonly logger: TestLogger;
  /** Every batch the pipeline committed, in order. */
  readonly batches: CommittedBatch[];
  /** Moves virtual time (firing due timers), then lets the writes they started commit. */
  advance(ms: number): Promise<void>;
}

export function buildLeaseDomain(options: LeaseDomainOptions = {}): LeaseDomain {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const backend = options.backend ?? new InMemoryMvccBackend();
  const clock = options.clock ?? new VirtualClock();
  const logger = new TestLogger();
  const pipeline = new WritePipeline(
    backend,
    options.stages ?? [],
    { queueRequestsMax: limits.writeQueueRequestsMax, batchRequestsMax: limits.writeBatchRequestsMax, requestTimeoutMs: limits.writeRequestTimeoutMs },
    clock,
    logger.child({ component: 'write-pipeline' }),
  );
  const batches: CommittedBatch[] = [];
  pipeline.onCommitted((batch) => batches.push(batch));
  const leases = new LeaseService(backend, pipeline, clock, clock, options.random ?? new SeededRandom64(), limits, logger.child({ component: 'lease' }));
  if (options.start ?? true) leases.start();
  const compactor = new Compactor(backend, new CountingScheduler(), limits.compactionRowsPerStep, logger.child({ component: 'compactor' }));
  const kv = new KvService(backend, pipeline, compactor, leases, limits);
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms);
    for (let i = 0; i < 3; i++) await tick();
  };
  return { backend, clock, pipeline, leases, kv, logger, batches, advance };
}
