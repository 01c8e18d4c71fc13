import cluster, { type Worker } from 'node:cluster';
import { createServer, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { serialize } from 'node:v8';
import type { DescService } from '@bufbuild/protobuf';
import type { CommittedBatch, Revision } from '../../domain/mvcc/types.js';
import type { Logger } from '../../ports/logger.js';
import type { RpcServer, ServerTls } from '../grpc/grpc-server.js';
import type { ServiceHandlers } from '../grpc/handler.js';
import { FrameChannel } from './frame-channel.js';
import { ForwardedCallServer } from './forwarded-call-server.js';
import { FrameType } from './serving-protocol.js';

/** What a serving process is told in its CONFIG frame (JSON). */
export interface ServingProcessConfig {
  readonly index: number;
  readonly listen: string;
  readonly tls?: { readonly cert: string; readonly key: string; readonly clientCa?: string };
  readonly databasePath: string;
  readonly clusterId: string;
  readonly memberId: string;
  /** Serve Range and Watch from the local SQLite reader and watch hub (false: forward every call, e.g. with auth). */
  readonly localReads: boolean;
  /** The revision the BATCH frames that follow start from. */
  readonly revision: Revision;
  readonly requestBytesMax: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly watchResponseBytesMax: number;
  readonly watch: {
    readonly streamEventsQueuedMax: number;
    readonly streamControlQueuedMax: number;
    readonly streamWatchersMax: number;
    readonly catchUpPageChangesMax: number;
    readonly progressNotifyIntervalMs: number;
  };
  readonly logLevel: string;
}

export interface ServingProcessPoolOptions {
  /** Serving processes to run (at least 1). */
  readonly processes: number;
  /** The serving process's entry module (dist/app/serving-process.js). */
  readonly entry: string;
  readonly logger: Logger;
  /** The writer's current revision (the watch hub's), and every committed batch after it, in order. */
  readonly committed: { revision(): Revision; subscribe(listener: (batch: CommittedBatch) => void): void };
  /** Everything in CONFIG but what the pool decides (index, listen, tls, revision). */
  readonly config: Omit<ServingProcessConfig, 'index' | 'listen' | 'tls' | 'revision'>;
}

/** Serving processes that stopped unexpectedly are started again after this pause. */
const RESPAWN_DELAY_MS = 1_000;
/** How long `listen` waits for a serving process to report its address. */
const START_TIMEOUT_MS = 30_000;

interface Member {
  readonly worker: Worker;
  readonly channel: FrameChannel;
  readonly index: number;
}

/**
 * Serves the etcd API from several processes (DESIGN-NOTES 7): `processes` serving processes
 * (node:cluster, sharing the listening socket) answer the clients; this process keeps the one
 * write pipeline and runs every call they forward. Reads and watches are served by each process
 * from its own read-only SQLite connection and watch hub, fed by the committed batches this pool
 * streams to it.
 *
 * Implements RpcServer, so a node chooses it as it chooses a gRPC server.
 */
export class ServingProcessPool implements RpcServer {
  private readonly calls: ForwardedCallServer;
  private readonly members = new Set<Member>();
  private address: string | undefined;
  private tls: ServingProcessConfig['tls'];
  private closing = false;

  constructor(private readonly options: ServingProcessPoolOptions) {
    if (!Number.isInteger(options.processes) || options.processes < 1) throw new Error('a serving process pool needs at least one process');
    this.calls = new ForwardedCallServer(options.logger);
    if (options.config.localReads) options.committed.subscribe((batch) => this.publish(batch));
  }

  serviceNames(): readonly string[] {
    return this.calls.serviceNames();
  }

  register(service: DescService, handlers: ServiceHandlers): void {
    this.calls.register(service, handlers);
  }

  /** Serving process ids (tests, logs). */
  pids(): number[] {
    return [...this.members].map((m) => m.worker.process.pid ?? 0);
  }

  async listen(address: string, tls?: ServerTls): Promise<string> {
    if (this.address !== undefined) throw new Error('already listening');
    this.tls =
      tls === undefined
        ? undefined
        : { cert: tls.cert.toString('utf8'), key: tls.key.toString('utf8'), ...(tls.clientCa === undefined ? {} : { clientCa: tls.clientCa.toString('utf8') }) };
    cluster.setupPrimary({ exec: this.options.entry, args: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc', 'pipe'] });
    // node:cluster shares one listening socket per host:port as written, so port 0 is resolved
    // here first: every serving process, and any started again later, then binds the same port.
    for (let attempt = 1; ; attempt++) {
      const concrete = await resolvePort(address);
      this.address = concrete;
      try {
        await Promise.all(Array.from({ length: this.options.processes }, (_, i) => this.start(i, concrete)));
        return concrete;
      } catch (error) {
        await this.stopAll(0);
        // The free port was taken between the probe and the bind: try another one.
        const raced = concrete !== address && error instanceof Error && error.message.includes('EADDRINUSE');
        if (!raced || attempt >= 3) {
          this.closing = true;
          throw error;
        }
        this.members.clear();
      }
    }
  }

  async close(graceMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.stopAll(graceMs);
  }

  private async stopAll(graceMs: number): Promise<void> {
    const wasClosing = this.closing;
    this.closing = true;
    const exits = [...this.members].map(
      (member) =>
        new Promise<void>((resolve) => {
          if (member.worker.isDead()) {
            resolve();
            return;
          }
          const killer = setTimeout(() => member.worker.process.kill('SIGKILL'), graceMs + 5_000);
          member.worker.once('exit', () => {
            clearTimeout(killer);
            resolve();
          });
          const grace = Buffer.allocUnsafe(4);
          grace.writeUInt32BE(graceMs, 0);
          member.channel.send(FrameType.SHUTDOWN, 0, grace);
        }),
    );
    await Promise.all(exits);
    this.closing = wasClosing;
  }

  private publish(batch: CommittedBatch): void {
    if (this.members.size === 0) return;
    const bytes = serialize(batch);
    for (const member of this.members) member.channel.send(FrameType.BATCH, 0, bytes);
  }

  private start(index: number, listen: string): Promise<string> {
    const logger = this.options.logger;
    const worker = cluster.fork({ T4_SERVING_PROCESS: String(index) });
    const channel = new FrameChannel(worker.process.stdio?.[4] as Duplex);
    const member: Member = { worker, channel, index };
    this.calls.attach(channel);
    const config: ServingProcessConfig = {
      ...this.options.config,
      index,
      listen,
      ...(this.tls === undefined ? {} : { tls: this.tls }),
      revision: this.options.committed.revision(),
    };
    // CONFIG and the batch stream start in the same turn: the process sees every batch after `revision`.
    channel.send(FrameType.CONFIG, 0, Buffer.from(JSON.stringify(config), 'utf8'));
    this.members.add(member);
    worker.on('exit', (code, signal) => {
      this.members.delete(member);
      channel.destroy();
      if (this.closing) return;
      logger.error({ servingProcess: index, pid: worker.process.pid, code, signal }, 'a serving process stopped; starting another');
      setTimeout(() => {
        if (this.closing || this.address === undefined) return;
        this.start(index, this.address).catch((err: unknown) => logger.error({ err, servingProcess: index }, 'a serving process did not start'));
      }, RESPAWN_DELAY_MS).unref();
    });
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.process.kill('SIGKILL');
        reject(new Error(`serving process ${index} did not start within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      channel.onFrame((frame) => {
        if (frame.type === FrameType.LISTENING) {
          clearTimeout(timer);
          const text = frame.payload.toString('utf8');
          if (frame.id !== 0) {
            reject(new Error(text));
            return;
          }
          logger.debug({ servingProcess: index, pid: worker.process.pid, address: text }, 'serving process listening');
          resolve(text);
        }
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`serving process ${index} exited during start-up (code ${String(code)})`));
      });
    });
  }
}

/** `host:port` with port 0 replaced by a port free right now. */
function resolvePort(address: string): Promise<string> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon);
  if (Number(address.slice(colon + 1)) !== 0) return Promise.resolve(address);
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => reject(new Error(`cannot listen on ${address}: ${err.message}`)));
    probe.listen(0, host.replace(/^\[(.*)\]$/, '$1'), () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(`${host}:${port}`));
    });
  });
}
