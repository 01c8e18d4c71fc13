import 'reflect-metadata';
import { Container } from 'inversify';
import { join } from 'node:path';
import type { Limits } from '../domain/limits.js';
import { Compactor } from '../domain/mvcc/compactor.js';
import { KvService } from '../domain/mvcc/kv-service.js';
import { LeaseService } from '../domain/lease/lease-service.js';
import { WritePipeline } from '../domain/write/write-pipeline.js';
import type { BatchLog } from '../ports/batch-log.js';
import type { LeaseLookup } from '../ports/lease-lookup.js';
import type { Logger } from '../ports/logger.js';
import type { MvccBackend } from '../ports/mvcc-backend.js';
import type { Scheduler } from '../ports/scheduler.js';
import type { Clock, Timers } from '../ports/clock.js';
import type { Random } from '../ports/random.js';
import { SystemClock } from '../adapters/node/system-clock.js';
import { CryptoRandom } from '../adapters/node/crypto-random.js';
import { ImmediateScheduler } from '../adapters/node/immediate-scheduler.js';
import { SqliteMvccBackend } from '../adapters/sqlite/sqlite-mvcc-backend.js';
import { DeferredApplyBackend } from '../domain/write/deferred-apply-backend.js';
import { NodeWalFiles } from '../adapters/fs/node-wal-files.js';
import { Crc32cChecksum } from '../adapters/node/crc32c.js';
import type { Checksum } from '../ports/checksum.js';
import type { WalFiles } from '../ports/wal-files.js';
import { TOKENS } from './tokens.js';
import { AuthService } from '../domain/auth/auth-service.js';
import type { PasswordHasher } from '../ports/password-hasher.js';
import { DEFAULT_SCRYPT_COST, ScryptPasswordHasher, type ScryptCost } from '../adapters/node/scrypt-password-hasher.js';

/** The auth subsystem (`--auth-enabled`, `--token-ttl`). */
export interface AuthSettings {
  /** Serve the Auth API and enforce it once enabled; off: Auth answers as a server without auth. */
  readonly enabled: boolean;
  readonly tokenTtlSeconds: number;
  /** scrypt cost for new password hashes (tests lower it). */
  readonly scryptCost?: ScryptCost;
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = { enabled: false, tokenTtlSeconds: 300 };

/** Simple tokens held at most (least recently used dropped first). */
const AUTH_TOKENS_MAX = 100_000;

export interface ContainerOptions {
  readonly dataDir: string;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly auth?: AuthSettings;
}

/**
 * The composition root: binds each port to its adapter and builds the domain services from them.
 * `TOKENS.BatchLogs` (the durability stages) is bound by the caller after WAL recovery, which is
 * asynchronous, and before the first service is resolved.
 */
export function buildContainer(options: ContainerOptions): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.bind<Logger>(TOKENS.Logger).toConstantValue(options.logger);
  c.bind<Limits>(TOKENS.Limits).toConstantValue(options.limits);
  // The WAL in front is the durable record, so SQLite may lose its newest transactions on power
  // loss (synchronous=NORMAL): replay restores them.
  c.bind<SqliteMvccBackend>(TOKENS.SqliteMvccBackend).toDynamicValue(
    () => new SqliteMvccBackend({ path: join(options.dataDir, 'db', 't4.sqlite'), synchronous: 'normal', logger: options.logger.child({ component: 'sqlite' }) }),
  );
  c.bind<Scheduler>(TOKENS.Scheduler).toConstantValue(new ImmediateScheduler());
  // Everything in this process reads and writes the store through DeferredApplyBackend: a durable
  // batch is applied after its callers are answered and before the next read.
  c.bind<DeferredApplyBackend>(TOKENS.MvccBackend).toDynamicValue(
    (ctx) =>
      new DeferredApplyBackend(
        ctx.container.get<SqliteMvccBackend>(TOKENS.SqliteMvccBackend),
        ctx.container.get<Scheduler>(TOKENS.Scheduler),
        options.logger.child({ component: 'store' }),
      ),
  );
  c.bind<Checksum>(TOKENS.Checksum).toConstantValue(new Crc32cChecksum());
  c.bind<WalFiles>(TOKENS.WalFiles).toConstantValue(new NodeWalFiles(join(options.dataDir, 'wal')));
  const systemClock = new SystemClock();
  c.bind<Clock>(TOKENS.Clock).toConstantValue(systemClock);
  c.bind<Timers>(TOKENS.Timers).toConstantValue(systemClock);
  c.bind<Random>(TOKENS.Random).toConstantValue(new CryptoRandom());
  c.bind<LeaseService>(TOKENS.LeaseService).toDynamicValue(
    (ctx) =>
      new LeaseService(
        ctx.container.get<MvccBackend>(TOKENS.MvccBackend),
        ctx.container.get<WritePipeline>(TOKENS.WritePipeline),
        ctx.container.get<Clock>(TOKENS.Clock),
        ctx.container.get<Timers>(TOKENS.Timers),
        ctx.container.get<Random>(TOKENS.Random),
        options.limits,
        options.logger.child({ component: 'lease' }),
      ),
  );
  c.bind<LeaseLookup>(TOKENS.LeaseLookup).toDynamicValue((ctx) => ctx.container.get<LeaseService>(TOKENS.LeaseService));
  c.bind<WritePipeline>(TOKENS.WritePipeline).toDynamicValue(
    (ctx) =>
      new WritePipeline(
        ctx.container.get<MvccBackend>(TOKENS.MvccBackend),
        ctx.container.get<readonly BatchLog[]>(TOKENS.BatchLogs),
        {
          queueRequestsMax: options.limits.writeQueueRequestsMax,
          batchRequestsMax: options.limits.writeBatchRequestsMax,
          requestTimeoutMs: options.limits.writeRequestTimeoutMs,
        },
        ctx.container.get<Timers>(TOKENS.Timers),
        options.logger.child({ component: 'write-pipeline' }),
        ctx.container.get<Scheduler>(TOKENS.Scheduler),
      ),
  );
  c.bind<Compactor>(TOKENS.Compactor).toDynamicValue(
    (ctx) =>
      new Compactor(
        ctx.container.get<MvccBackend>(TOKENS.MvccBackend),
        ctx.container.get<Scheduler>(TOKENS.Scheduler),
        options.limits.compactionRowsPerStep,
        options.logger.child({ component: 'compactor' }),
      ),
  );
  c.bind<KvService>(TOKENS.KvService).toDynamicValue(
    (ctx) =>
      new KvService(
        ctx.container.get<MvccBackend>(TOKENS.MvccBackend),
        ctx.container.get<WritePipeline>(TOKENS.WritePipeline),
        ctx.container.get<Compactor>(TOKENS.Compactor),
        ctx.container.get<LeaseLookup>(TOKENS.LeaseLookup),
        options.limits,
      ),
  );
  const auth = options.auth ?? DEFAULT_AUTH_SETTINGS;
  c.bind<PasswordHasher>(TOKENS.PasswordHasher).toConstantValue(new ScryptPasswordHasher(auth.scryptCost ?? DEFAULT_SCRYPT_COST));
  c.bind<AuthService>(TOKENS.AuthService).toDynamicValue(
    (ctx) =>
      new AuthService(
        ctx.container.get<MvccBackend>(TOKENS.MvccBackend),
        ctx.container.get<WritePipeline>(TOKENS.WritePipeline),
        ctx.container.get<PasswordHasher>(TOKENS.PasswordHasher),
        ctx.container.get<Clock>(TOKENS.Clock),
        ctx.container.get<Random>(TOKENS.Random),
        { tokenTtlMs: auth.tokenTtlSeconds * 1000, tokensMax: AUTH_TOKENS_MAX },
        options.logger.child({ component: 'auth' }),
      ),
  );
  return c;
}
