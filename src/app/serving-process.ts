/**
 * A serving process (DESIGN-NOTES 7), started by ServingProcessPool through node:cluster: serves
 * the etcd API on the shared listening socket, answers Range and Watch from its own read-only
 * SQLite connection and watch hub, and forwards every other call to the writer process over the
 * socket pair on fd 4. Composition only.
 */
import { Socket } from 'node:net';
import { deserialize } from 'node:v8';
import * as rpc from '../adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { Health } from '../adapters/grpc/gen/grpc/health/v1/health_pb.js';
import { Http2GrpcServer } from '../adapters/grpc/http2-grpc-server.js';
import { HeaderFactory } from '../adapters/grpc/header.js';
import { rangeHandler } from '../adapters/grpc/kv-handlers.js';
import { watchHandlers } from '../adapters/grpc/watch-handlers.js';
import { CallForwarder } from '../adapters/ipc/call-forwarder.js';
import { FrameChannel, type Frame } from '../adapters/ipc/frame-channel.js';
import type { ServingProcessConfig } from '../adapters/ipc/serving-process-pool.js';
import { FrameType } from '../adapters/ipc/serving-protocol.js';
import { ImmediateScheduler } from '../adapters/node/immediate-scheduler.js';
import { PinoLogger, type LogLevel } from '../adapters/node/pino-logger.js';
import { SystemClock } from '../adapters/node/system-clock.js';
import { SqliteMvccBackend } from '../adapters/sqlite/sqlite-mvcc-backend.js';
import { readRangePreferringRecords } from '../domain/mvcc/kv-service.js';
import type { CommittedBatch } from '../domain/mvcc/types.js';
import { WatchHub } from '../domain/watch/hub.js';

const channel = new FrameChannel(new Socket({ fd: 4, readable: true, writable: true }));
// The writer coordinates shutdown; a terminal's Ctrl-C reaches the whole process group.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

let started = false;
const early: Frame[] = [];
let onBatch: ((batch: CommittedBatch) => void) | undefined;
let shutdown: ((graceMs: number) => void) | undefined;

channel.onClose(() => {
  // The writer is gone (it stopped or crashed): nothing can be written or watched any more.
  process.exit(started ? 0 : 1);
});
channel.onFrame((frame) => {
  switch (frame.type) {
    case FrameType.CONFIG:
      if (!started) {
        started = true;
        start(JSON.parse(frame.payload.toString('utf8')) as ServingProcessConfig).catch((error: unknown) => {
          channel.send(FrameType.LISTENING, 1, Buffer.from(error instanceof Error ? error.message : String(error), 'utf8'));
          setTimeout(() => process.exit(1), 100);
        });
      }
      return;
    case FrameType.BATCH:
      if (onBatch === undefined) early.push(frame);
      else onBatch(deserialize(frame.payload) as CommittedBatch);
      return;
    case FrameType.SHUTDOWN:
      shutdown?.(frame.payload.readUInt32BE(0));
      return;
    default:
      return;
  }
});

async function start(config: ServingProcessConfig): Promise<void> {
  const root = PinoLogger.create(config.logLevel as LogLevel);
  const logger = root.child({ component: 'serving', servingProcess: config.index });
  const server = new Http2GrpcServer({
    requestBytesMax: config.requestBytesMax,
    keepaliveTimeMs: config.keepaliveTimeMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    logger,
  });
  const forwarder = new CallForwarder(channel);
  let reader: SqliteMvccBackend | undefined;
  let hub: WatchHub | undefined;
  if (config.localReads) {
    const db = new SqliteMvccBackend({ path: config.databasePath, synchronous: 'normal', readOnly: true });
    reader = db;
    const headers = new HeaderFactory(BigInt(config.clusterId), BigInt(config.memberId), () => 1n);
    const clock = new SystemClock();
    const watchHub = new WatchHub(
      {
        // The hub starts at the revision the batch stream starts from, not at the database's (maybe newer) one.
        currentRevision: () => config.revision,
        compactRevision: () => db.compactRevision(),
        changesBetween: (after, to, limit) => db.changesBetween(after, to, limit),
      },
      clock,
      new ImmediateScheduler(),
      config.watch,
      logger.child({ component: 'watch' }),
    );
    hub = watchHub;
    onBatch = (batch) => watchHub.publish(batch);
    for (const frame of early.splice(0)) onBatch(deserialize(frame.payload) as CommittedBatch);
    const range = rangeHandler((req) => db.snapshot(() => readRangePreferringRecords(db, req)), headers);
    server.register(rpc.KV, { Range: range }, { partial: true });
    server.register(rpc.KV, forwarder.handlers(rpc.KV, ['Range']), { encoded: true, partial: true });
    server.register(rpc.Watch, watchHandlers(watchHub, headers, config.watchResponseBytesMax));
  } else {
    onBatch = () => undefined;
    early.length = 0;
    server.register(rpc.KV, forwarder.handlers(rpc.KV), { encoded: true });
    server.register(rpc.Watch, forwarder.handlers(rpc.Watch), { encoded: true });
  }
  for (const service of [rpc.Lease, rpc.Maintenance, rpc.Cluster, rpc.Auth, Health]) {
    server.register(service, forwarder.handlers(service), { encoded: true });
  }
  const tls = config.tls;
  const address = await server.listen(
    config.listen,
    tls === undefined
      ? undefined
      : { cert: Buffer.from(tls.cert, 'utf8'), key: Buffer.from(tls.key, 'utf8'), clientCa: tls.clientCa === undefined ? undefined : Buffer.from(tls.clientCa, 'utf8') },
  );
  shutdown = (graceMs) => {
    shutdown = undefined;
    hub?.close();
    void server.close(graceMs).finally(() => {
      reader?.close();
      root.flush();
      process.exit(0);
    });
  };
  channel.send(FrameType.LISTENING, 0, Buffer.from(address, 'utf8'));
}
