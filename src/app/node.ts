import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as rpc from '../adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { Health } from '../adapters/grpc/gen/grpc/health/v1/health_pb.js';
import { GrpcServer, type RpcServer, type ServerTls } from '../adapters/grpc/grpc-server.js';
import { H2GrpcServer } from '../adapters/grpc/h2-grpc-server.js';
import { Http2GrpcServer } from '../adapters/grpc/http2-grpc-server.js';
import { HeaderFactory } from '../adapters/grpc/header.js';
import { healthHandlers } from '../adapters/grpc/health-handlers.js';
import { kvHandlers } from '../adapters/grpc/kv-handlers.js';
import { clusterHandlers, maintenanceHandlers } from '../adapters/grpc/maintenance-handlers.js';
import { authStubHandlers } from '../adapters/grpc/stub-handlers.js';
import { watchHandlers } from '../adapters/grpc/watch-handlers.js';
import { WatchHub, type WatchHubOptions } from '../domain/watch/hub.js';
import { ServingProcessPool } from '../adapters/ipc/serving-process-pool.js';
import { fileURLToPath } from 'node:url';
import type { Timers } from '../ports/clock.js';
import type { Scheduler } from '../ports/scheduler.js';
import { leaseHandlers } from '../adapters/grpc/lease-handlers.js';
import type { LeaseService } from '../domain/lease/lease-service.js';
import { DataDirLock } from '../adapters/sqlite/data-dir-lock.js';
import type { Limits } from '../domain/limits.js';
import type { Compactor } from '../domain/mvcc/compactor.js';
import type { KvService } from '../domain/mvcc/kv-service.js';
import type { WritePipeline } from '../domain/write/write-pipeline.js';
import type { Logger } from '../ports/logger.js';
import type { MvccBackend } from '../ports/mvcc-backend.js';
import type { Container } from 'inversify';
import { recoverWal, WalLog } from '../domain/wal/wal-log.js';
import { replayWal } from '../domain/wal/replay.js';
import type { BatchLog } from '../ports/batch-log.js';
import type { Checksum } from '../ports/checksum.js';
import type { WalFiles } from '../ports/wal-files.js';
import { buildContainer, type AuthSettings } from './container.js';
import { authHandlers } from '../adapters/grpc/auth-handlers.js';
import type { AuthService } from '../domain/auth/auth-service.js';
import { TOKENS } from './tokens.js';
import { mkdir, rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { SystemClock } from '../adapters/node/system-clock.js';
import { Crc32cChecksum } from '../adapters/node/crc32c.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { Clock } from '../ports/clock.js';
import type { DurabilitySettings } from './config.js';
import { SqliteDatabaseRestorer } from '../adapters/sqlite/sqlite-database-restorer.js';
import { SqliteDatabaseSnapshots } from '../adapters/sqlite/sqlite-database-snapshots.js';
import type { SqliteMvccBackend } from '../adapters/sqlite/sqlite-mvcc-backend.js';
import type { DeferredApplyBackend } from '../domain/write/deferred-apply-backend.js';
import { recoverWithObjectStore, type LocalState } from '../domain/remote/recovery.js';
import { WalUploadStage } from '../domain/remote/wal-upload-stage.js';
import { SegmentUploader } from '../domain/remote/segment-uploader.js';
import { CheckpointWriter } from '../domain/remote/checkpoint-writer.js';
import { CheckpointScheduler } from '../domain/remote/checkpoint-scheduler.js';
import { collectGarbage } from '../domain/remote/gc.js';
import type { RecoveredWal } from '../domain/wal/wal-log.js';
import { sleep } from '../domain/remote/retry.js';
import { ObjectStoreUnavailableError } from '../ports/object-store-errors.js';

export interface NodeOptions {
  readonly dataDir: string;
  readonly nodeId: string;
  readonly limits: Limits;
  /** etcd `--watch-progress-notify-interval` in ms (default 10 minutes, as etcd). */
  readonly watchProgressNotifyIntervalMs?: number;
  readonly logger: Logger;
  /** The durable layer; without it the local WAL is the only durable record. */
  readonly objectStore?: NodeObjectStoreOptions;
  /** The auth subsystem (default: off, as `--auth-enabled=false`). */
  readonly auth?: AuthSettings;
}

export interface NodeObjectStoreOptions {
  readonly store: ObjectStore;
  /** For logs: `s3://bucket/prefix`. */
  readonly description: string;
  readonly durability: DurabilitySettings;
  /** Checkpoint chunk size (tests); default 256 KiB. */
  readonly checkpointChunkBytes?: number;
  /** Checks the prefix before anything is written (encryption matches); run inside start-up's wait for the store. */
  readonly preflight?: () => Promise<void>;
  /** How long start-up waits for an unreachable object store before it fails; default 5 minutes. */
  readonly startupTimeoutMs?: number;
  /** How long close() waits for the last WAL segment to upload (async mode); default 2 minutes. */
  readonly closeUploadTimeoutMs?: number;
}

/** The object-store parts of a running node. */
interface Remote {
  readonly stage: WalUploadStage;
  readonly uploader: SegmentUploader | undefined;
  readonly checkpoints: CheckpointScheduler;
  readonly writer: CheckpointWriter;
  readonly closeUploadTimeoutMs: number;
}

/** The WAL term until clusters exist. */
const TERM = 1n;

export interface ServeOptions {
  /** host:port; port 0 picks a free one. */
  readonly listen: string;
  readonly advertiseClientUrl?: string;
  /** TLS on the port (mutual when `clientCa` is set); plaintext when absent. */
  readonly tls?: ServerTls;
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /**
   * Serving processes (DESIGN-NOTES 7): 0 (the default) serves from this process; N > 0 starts N
   * processes that share the port, answer reads and watches themselves and forward the rest here.
   */
  readonly servingProcesses?: number;
  /** The serving processes' log level (default info). */
  readonly logLevel?: string;
}

/** etcd fragments watch responses at max-request-bytes plus gRPC overhead (MaxRequestBytesWithOverhead). */
const WATCH_RESPONSE_OVERHEAD_BYTES = 512 * 1024;
export const DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1000;

/** T4_GRPC_SERVER: which gRPC server serves the client port. */
export function grpcServerImplementation(value: string | undefined): 'http2' | 'node-http2' | 'grpc-js' {
  if (value === undefined || value === '' || value === 'http2') return 'http2';
  if (value === 'node-http2' || value === 'h2') return 'node-http2';
  if (value === 'grpc-js') return 'grpc-js';
  throw new Error(`T4_GRPC_SERVER must be http2, node-http2 or grpc-js, not ${value}`);
}

/** 64-bit id from a name (etcd member/cluster ids are uint64). */
function idFrom(text: string): bigint {
  return createHash('sha256').update(text).digest().readBigUInt64BE(0) || 1n;
}

/**
 * One T4 node: the data dir (locked), the store, the write pipeline and, once `serve` is called,
 * the etcd v3 gRPC API. Composition only; behaviour lives in the domain.
 */
export class T4Node {
  readonly kv: KvService;
  readonly leases: LeaseService;
  /** Users, roles, tokens and checks; served and enforced over gRPC only with `auth.enabled`. */
  readonly auth: AuthService;
  readonly watchHub: WatchHub;
  /** Serving processes need its queued batches applied before they hear of them (`settle`). */
  readonly backend: DeferredApplyBackend;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  private readonly pipeline: WritePipeline;
  private readonly compactor: Compactor;
  private readonly watchHubOptions: WatchHubOptions;
  private server: RpcServer | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly options: NodeOptions,
    private readonly lock: DataDirLock,
    container: Container,
    private readonly wal: WalLog,
    private readonly remote: Remote | undefined,
  ) {
    this.backend = container.get<DeferredApplyBackend>(TOKENS.MvccBackend);
    this.pipeline = container.get<WritePipeline>(TOKENS.WritePipeline);
    this.kv = container.get<KvService>(TOKENS.KvService);
    this.auth = container.get<AuthService>(TOKENS.AuthService);
    // Every stored lease gets its full TTL back from now, as etcd (no checkpointed remaining TTL).
    this.leases = container.get<LeaseService>(TOKENS.LeaseService);
    this.leases.start();
    this.memberId = idFrom(`t4-member/${options.nodeId}`);
    this.clusterId = idFrom('t4-cluster');
    this.compactor = container.get<Compactor>(TOKENS.Compactor);
    // Every committed batch reaches the watch hub once, in revision order, before its callers resolve.
    this.watchHubOptions = {
      streamEventsQueuedMax: options.limits.watchStreamEventsQueuedMax,
      streamControlQueuedMax: options.limits.watchStreamControlQueuedMax,
      streamWatchersMax: options.limits.watchStreamWatchersMax,
      catchUpPageChangesMax: options.limits.watchCatchUpPageChangesMax,
      progressNotifyIntervalMs: options.watchProgressNotifyIntervalMs ?? DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS,
    };
    this.watchHub = new WatchHub(
      this.backend,
      container.get<Timers>(TOKENS.Timers),
      container.get<Scheduler>(TOKENS.Scheduler),
      this.watchHubOptions,
      options.logger.child({ component: 'watch' }),
    );
    this.pipeline.onCommitted((batch) => this.watchHub.publish(batch));
    if (remote !== undefined) this.pipeline.onCommitted((batch) => remote.checkpoints.committed(batch));
    // A purge cut short by a crash resumes now.
    this.compactor.purge().catch((err: unknown) => options.logger.error({ err }, 'compaction purge failed'));
  }

  /**
   * Locks the data dir, opens the store, recovers and replays the WAL; with an object store, first
   * restores or catches up from it (docs/object-storage.md) and uploads what it lacks.
   */
  static async open(options: NodeOptions): Promise<T4Node> {
    mkdirSync(join(options.dataDir, 'db'), { recursive: true, mode: 0o700 });
    const lock = DataDirLock.acquire(options.dataDir);
    let backend: MvccBackend | undefined;
    try {
      const remoteOptions = options.objectStore;
      const limits = remoteOptions === undefined ? options.limits : { ...options.limits, walSegmentBytesMax: remoteOptions.durability.segmentMaxBytes };
      const walLogger = options.logger.child({ component: 'wal' });
      let container!: Container;
      let recovered!: RecoveredWal;
      const openLocal = async (): Promise<LocalState> => {
        container = buildContainer({ dataDir: options.dataDir, limits, logger: options.logger, ...(options.auth === undefined ? {} : { auth: options.auth }) });
        backend = container.get<MvccBackend>(TOKENS.MvccBackend);
        recovered = await recoverWal(container.get<WalFiles>(TOKENS.WalFiles), container.get<Checksum>(TOKENS.Checksum), walLogger);
        replayWal(recovered.batches, backend, walLogger);
        return { backend, localBatches: recovered.batches };
      };
      let remote: Remote | undefined;
      let uploader: SegmentUploader | undefined;
      let checkpointNow = false;
      if (remoteOptions === undefined) {
        await openLocal();
      } else {
        const { store, durability } = remoteOptions;
        const remoteLogger = options.logger.child({ component: 'object-store' });
        const restorer = new SqliteDatabaseRestorer(join(options.dataDir, 'db', 't4.sqlite'));
        const checksum = new Crc32cChecksum();
        // Referenced timers: an upload retrying until the store is back must keep the process alive.
        const clock = new SystemClock({ keepAlive: true });
        const stage = new WalUploadStage(store, checksum, clock, remoteLogger, { term: TERM });
        const removeLocalWal = async (): Promise<void> => {
          const files = container.get<WalFiles>(TOKENS.WalFiles);
          for (const name of await files.list()) await files.remove(name);
          await files.syncDir();
          recovered = { batches: [], segments: [] };
        };
        const recover = () => recoverWithObjectStore({
          store,
          restorer,
          checksum,
          logger: remoteLogger,
          openLocal,
          wipeLocal: async (local) => {
            local.backend.close();
            await restorer.remove();
            await removeLocalWal();
          },
          resetLocalWal: async (local) => {
            await local.backend.durableCheckpoint();
            await removeLocalWal();
          },
          uploadMissing: (tail, missing) => stage.resume(tail, missing),
        });
        // An object store that is not reachable yet (it starts after T4, a network blip) is waited
        // for, up to startupTimeoutMs; anything else stops start-up.
        const startupDeadline = clock.monotonicMs() + (remoteOptions.startupTimeoutMs ?? 300_000);
        let result;
        for (let attempt = 1; ; attempt++) {
          try {
            await remoteOptions.preflight?.();
            result = await recover();
            break;
          } catch (error) {
            if (!(error instanceof ObjectStoreUnavailableError) || clock.monotonicMs() >= startupDeadline) throw error;
            backend?.close();
            backend = undefined;
            remoteLogger.warn({ err: error, attempt }, 'object store unavailable at start-up; retrying');
            // A referenced timer: nothing else keeps the process alive while start-up waits.
            await delay(Math.min(500 * attempt, 5_000));
          }
        }
        backend = result.local.backend;
        if (!durability.walSyncUpload) {
          uploader = new SegmentUploader(
            () => wal,
            stage,
            checksum,
            container.get<Timers>(TOKENS.Timers),
            remoteLogger,
            { term: TERM, segmentAgeMaxMs: durability.segmentMaxAgeMs },
            stage.openRun(),
            backend.currentRevision(),
          );
        }
        const tempDir = join(options.dataDir, 'checkpoint-tmp');
        await rm(tempDir, { recursive: true, force: true });
        await mkdir(tempDir, { recursive: true, mode: 0o700 });
        const writer = new CheckpointWriter(
          store,
          new SqliteDatabaseSnapshots(container.get<SqliteMvccBackend>(TOKENS.SqliteMvccBackend), tempDir),
          checksum,
          container.get<Clock>(TOKENS.Clock),
          remoteLogger.child({ task: 'checkpoint' }),
          { term: TERM, nodeId: options.nodeId, ...(remoteOptions.checkpointChunkBytes === undefined ? {} : { chunkBytes: remoteOptions.checkpointChunkBytes }) },
        );
        const checkpoints = new CheckpointScheduler(
          writer,
          async () => {
            await collectGarbage(store, remoteLogger.child({ task: 'gc' }), { keep: 2 });
          },
          container.get<Timers>(TOKENS.Timers),
          remoteLogger,
          { intervalMs: durability.checkpointIntervalMs, entries: durability.checkpointEntries },
        );
        remote = { stage, uploader, checkpoints, writer, closeUploadTimeoutMs: remoteOptions.closeUploadTimeoutMs ?? 120_000 };
        const behind = result.checkpointRevision === undefined ? backend.currentRevision() > 1 : backend.currentRevision() > result.checkpointRevision;
        options.logger.info(
          {
            objectStore: remoteOptions.description,
            walSyncUpload: durability.walSyncUpload,
            restoredCheckpoint: result.restored?.revision,
            remoteBatchesApplied: result.remoteBatchesApplied,
            uploadedOnStart: result.missing.length,
            checkpointNow: behind,
          },
          'object store recovery complete',
        );
        checkpointNow = behind;
      }
      const store = backend as MvccBackend;
      const wal: WalLog = await WalLog.start(
        container.get<WalFiles>(TOKENS.WalFiles),
        container.get<Checksum>(TOKENS.Checksum),
        {
          segmentBytesMax: limits.walSegmentBytesMax,
          term: TERM,
          forceNewSegment: remote !== undefined,
          ...(uploader === undefined ? {} : { onSealed: (s) => uploader.sealed(s), uploadedRevision: () => uploader.uploadedRevision() }),
        },
        walLogger,
        recovered,
        store.currentRevision(),
        () => store.durableCheckpoint(),
      );
      const stages: BatchLog[] = remote === undefined || uploader !== undefined ? [wal] : [wal, remote.stage];
      container.bind<readonly BatchLog[]>(TOKENS.BatchLogs).toConstantValue(stages);
      const node = new T4Node(options, lock, container, wal, remote);
      uploader?.start();
      remote?.checkpoints.start(checkpointNow);
      options.logger.info(
        { dataDir: options.dataDir, nodeId: options.nodeId, revision: node.backend.currentRevision(), walSegments: wal.segmentNames().length },
        'store opened',
      );
      return node;
    } catch (error) {
      backend?.close();
      lock.release();
      throw error;
    }
  }

  /** Writes a checkpoint now (object store only); resolves when it and its GC are done. */
  async checkpoint(): Promise<void> {
    if (this.remote === undefined) throw new Error('checkpoints need an object store');
    await this.remote.checkpoints.trigger('requested');
  }

  /** The object store's WAL upload stage (tests). */
  get walUploads(): number {
    return this.remote?.stage.uploadCount() ?? 0;
  }

  /** Serves the etcd v3 API; resolves with the bound host:port. */
  async serve(options: ServeOptions): Promise<string> {
    if (this.server !== undefined) throw new Error('already serving');
    const logger = this.options.logger.child({ component: 'grpc' });
    const serverOptions = {
      requestBytesMax: this.options.limits.requestBytesMax,
      keepaliveTimeMs: options.keepaliveTimeMs ?? 2 * 60 * 60 * 1000,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 20_000,
      logger,
    };
    // Without --auth-enabled nothing is checked and Auth answers as a server without auth.
    const auth = this.options.auth?.enabled === true ? this.auth : undefined;
    const watchResponseBytesMax = this.options.limits.requestBytesMax + WATCH_RESPONSE_OVERHEAD_BYTES;
    const servingProcesses = options.servingProcesses ?? 0;
    // T4's own HTTP/2 is the default; T4_GRPC_SERVER=node-http2 (or h2) selects the node:http2
    // server and grpc-js the grpc-js one (blank: the default).
    const implementation = grpcServerImplementation(process.env['T4_GRPC_SERVER']);
    let server: RpcServer;
    if (servingProcesses > 0) {
      const limits = this.options.limits;
      server = new ServingProcessPool({
        processes: servingProcesses,
        entry: fileURLToPath(new URL('./serving-process.js', import.meta.url)),
        logger,
        committed: {
          revision: () => this.watchHub.revision(),
          // Serving processes read the database file: a batch is in it before they hear of it, and
          // so before its callers are answered (no deferred apply with serving processes).
          subscribe: (listener) =>
            this.pipeline.onCommitted((batch) => {
              this.backend.settle();
              listener(batch);
            }),
        },
        config: {
          databasePath: join(this.options.dataDir, 'db', 't4.sqlite'),
          clusterId: String(this.clusterId),
          memberId: String(this.memberId),
          // With auth, every call goes to this process, where tokens and permissions live.
          localReads: auth === undefined,
          requestBytesMax: limits.requestBytesMax,
          keepaliveTimeMs: serverOptions.keepaliveTimeMs,
          keepaliveTimeoutMs: serverOptions.keepaliveTimeoutMs,
          watchResponseBytesMax,
          watch: this.watchHubOptions,
          logLevel: options.logLevel ?? 'info',
        },
      });
    } else {
      server =
        implementation === 'http2' ? new Http2GrpcServer(serverOptions) : implementation === 'node-http2' ? new H2GrpcServer(serverOptions) : new GrpcServer(serverOptions);
    }
    const headers = new HeaderFactory(this.clusterId, this.memberId, () => 1n);
    let clientUrls: string[] = [];
    if (auth === undefined && this.auth.state().enabled) {
      logger.warn({}, 'the stored auth state is enabled but --auth-enabled is off: requests are not checked');
    }
    server.register(rpc.KV, kvHandlers(this.kv, headers, this.options.limits.requestBytesMax, auth));
    server.register(rpc.Maintenance, maintenanceHandlers({ backend: this.backend, headers, ...(auth === undefined ? {} : { auth }) }));
    server.register(
      rpc.Cluster,
      clusterHandlers({ backend: this.backend, headers, name: this.options.nodeId, clientUrls: () => clientUrls, ...(auth === undefined ? {} : { auth }) }),
    );
    server.register(rpc.Watch, watchHandlers(this.watchHub, headers, watchResponseBytesMax, auth));
    server.register(rpc.Lease, leaseHandlers(this.leases, headers, auth));
    server.register(rpc.Auth, auth === undefined ? authStubHandlers(this.backend, headers) : authHandlers(auth, this.backend, headers));
    server.register(Health, healthHandlers(() => server.serviceNames(), () => this.closing === undefined));
    const address = await server.listen(options.listen, options.tls);
    this.server = server;
    const scheme = options.tls === undefined ? 'http' : 'https';
    clientUrls = [options.advertiseClientUrl ?? `${scheme}://${address.replace(/^0\.0\.0\.0:|^\[::\]:/, '127.0.0.1:')}`];
    const tls = options.tls === undefined ? 'off' : options.tls.clientCa === undefined ? 'server-only' : 'mutual';
    logger.info({ address, advertiseClientUrls: clientUrls, tls, servingProcesses }, 'serving etcd v3 gRPC');
    return address;
  }

  /** Stops serving (letting calls in flight finish for up to `graceMs`), then closes the store. */
  close(graceMs = 5_000): Promise<void> {
    this.closing ??= (async () => {
      // Watch streams end first: an open watch would otherwise hold the graceful shutdown for graceMs.
      this.watchHub.close();
      if (this.server !== undefined) await this.server.close(graceMs);
      this.leases.stop();
      const remote = this.remote;
      if (remote !== undefined) {
        await remote.checkpoints.stop();
        // Sync upload: a batch whose upload is retrying ends now (it stays in the local WAL).
        if (remote.uploader === undefined) remote.stage.close();
      }
      await this.pipeline.close();
      if (remote?.uploader !== undefined) {
        // Async upload: the last segment goes up before the node stops, unless the store is down too long.
        const gaveUp = new AbortController();
        const uploaded = remote.uploader.close().catch((err: unknown) => this.options.logger.error({ err }, 'the last WAL segment was not uploaded'));
        await Promise.race([uploaded, sleep(new SystemClock(), remote.closeUploadTimeoutMs, gaveUp.signal)]);
        gaveUp.abort();
        remote.stage.close();
      }
      await this.compactor.stop();
      await this.wal.close();
      this.backend.close();
      this.lock.release();
      this.options.logger.info({}, 'store closed');
    })();
    return this.closing;
  }
}
