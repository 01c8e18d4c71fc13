// A small raw etcd v3 gRPC client for tests: @grpc/grpc-js plus T4's generated protobuf-es schemas,
// with no etcd client library in between, so tests see exactly what a server put on the wire.
//
//   const c = new EtcdGrpcClient(server.endpoint);
//   const put = await c.put({ key: utf8('a'), value: utf8('1'), prevKv: true });
//   const err = await grpcErrorOf(c.range({ key: new Uint8Array() }));   // { code, codeName, details }
//   c.close();
//
// Requests are `create(Schema, init)`-ed here, so callers pass either a message or an init object.
import * as grpc from '@grpc/grpc-js';
import { create, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { grpcServiceDefinition } from '../../src/adapters/grpc/service-definition.js';
import * as pb from '../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';

export interface EtcdGrpcClientOptions {
  /** Per-call deadline. Default 15 s. */
  readonly deadlineMs?: number;
  /** Extra grpc-js channel options (merged over unlimited send/receive sizes). */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** The gRPC status of a failed call, as a client sees it. */
export interface GrpcErrorInfo {
  readonly code: grpc.status;
  /** Name of the code, e.g. "INVALID_ARGUMENT". */
  readonly codeName: string;
  /** The status message (grpc-message), e.g. "etcdserver: key is not provided". */
  readonly details: string;
}

/** Thrown by EtcdGrpcClient calls that end with a non-OK status. */
export class EtcdGrpcError extends Error implements GrpcErrorInfo {
  readonly codeName: string;
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${method}: ${grpc.status[code] ?? String(code)}: ${details}`);
    this.codeName = grpc.status[code] ?? String(code);
  }

  info(): GrpcErrorInfo {
    return { code: this.code, codeName: this.codeName, details: this.details };
  }
}

type UnaryCallback = (err: grpc.ServiceError | null, value?: unknown) => void;
type GenericUnary = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: UnaryCallback) => grpc.ClientUnaryCall;

/** One generic grpc-js client per service, built from the same definitions the server uses. */
function makeServiceClient(service: DescService, endpoint: string, options: grpc.ChannelOptions): grpc.Client {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  return new Ctor(endpoint, grpc.credentials.createInsecure(), options);
}

export class EtcdGrpcClient {
  private readonly kv: grpc.Client;
  private readonly maintenance: grpc.Client;
  private readonly cluster: grpc.Client;
  private readonly watchClient: grpc.Client;
  private readonly deadlineMs: number;

  constructor(
    readonly endpoint: string,
    options: EtcdGrpcClientOptions = {},
  ) {
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
      ...options.channelOptions,
    };
    this.deadlineMs = options.deadlineMs ?? 15_000;
    this.kv = makeServiceClient(pb.KV, endpoint, channelOptions);
    this.maintenance = makeServiceClient(pb.Maintenance, endpoint, channelOptions);
    this.cluster = makeServiceClient(pb.Cluster, endpoint, channelOptions);
    this.watchClient = makeServiceClient(pb.Watch, endpoint, channelOptions);
  }

  // --- KV
  range(req: MessageInitShape<typeof pb.RangeRequestSchema>): Promise<pb.RangeResponse> {
    return this.unary(this.kv, 'Range', pb.RangeRequestSchema, req);
  }
  put(req: MessageInitShape<typeof pb.PutRequestSchema>): Promise<pb.PutResponse> {
    return this.unary(this.kv, 'Put', pb.PutRequestSchema, req);
  }
  deleteRange(req: MessageInitShape<typeof pb.DeleteRangeRequestSchema>): Promise<pb.DeleteRangeResponse> {
    return this.unary(this.kv, 'DeleteRange', pb.DeleteRangeRequestSchema, req);
  }
  txn(req: MessageInitShape<typeof pb.TxnRequestSchema>): Promise<pb.TxnResponse> {
    return this.unary(this.kv, 'Txn', pb.TxnRequestSchema, req);
  }
  compact(req: MessageInitShape<typeof pb.CompactionRequestSchema>): Promise<pb.CompactionResponse> {
    return this.unary(this.kv, 'Compact', pb.CompactionRequestSchema, req);
  }

  // --- Maintenance
  status(req: MessageInitShape<typeof pb.StatusRequestSchema> = {}): Promise<pb.StatusResponse> {
    return this.unary(this.maintenance, 'Status', pb.StatusRequestSchema, req);
  }
  alarm(req: MessageInitShape<typeof pb.AlarmRequestSchema> = {}): Promise<pb.AlarmResponse> {
    return this.unary(this.maintenance, 'Alarm', pb.AlarmRequestSchema, req);
  }
  defragment(req: MessageInitShape<typeof pb.DefragmentRequestSchema> = {}): Promise<pb.DefragmentResponse> {
    return this.unary(this.maintenance, 'Defragment', pb.DefragmentRequestSchema, req);
  }

  // --- Watch
  /** Opens a Watch bidi stream (no deadline); see WatchStreamClient. `metadata` e.g. { hasleader: 'true' }. */
  watch(metadata: Record<string, string> = {}): WatchStreamClient {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    const fn = (this.watchClient as unknown as Record<string, (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<pb.WatchRequest, pb.WatchResponse>>)['Watch'];
    if (typeof fn !== 'function') throw new Error('no client method Watch');
    return new WatchStreamClient(fn.call(this.watchClient, md, {}));
  }

  // --- Cluster
  memberList(req: MessageInitShape<typeof pb.MemberListRequestSchema> = {}): Promise<pb.MemberListResponse> {
    return this.unary(this.cluster, 'MemberList', pb.MemberListRequestSchema, req);
  }

  close(): void {
    this.kv.close();
    this.maintenance.close();
    this.cluster.close();
    this.watchClient.close();
  }

  private unary<I extends DescMessage, O>(client: grpc.Client, method: string, schema: I, init: MessageInitShape<I>): Promise<O> {
    const request: MessageShape<I> = create(schema, init);
    const fn = (client as unknown as Record<string, GenericUnary>)[method];
    if (typeof fn !== 'function') throw new Error(`no client method ${method}`);
    return new Promise<O>((resolve, reject) => {
      fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + this.deadlineMs }, (err, value) => {
        if (err) reject(new EtcdGrpcError(method, err.code, err.details));
        else resolve(value as O);
      });
    });
  }
}

/** Resolves with the gRPC error of a call that must fail; rejects if it succeeded or failed otherwise. */
export async function grpcErrorOf(call: Promise<unknown>): Promise<GrpcErrorInfo> {
  try {
    await call;
  } catch (err) {
    if (err instanceof EtcdGrpcError) return err.info();
    throw err;
  }
  throw new Error('expected the call to fail with a gRPC error, but it succeeded');
}

/** Either the response or the gRPC error of a call; other failures (bugs) still reject. */
export async function settle<T>(call: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: GrpcErrorInfo }> {
  try {
    return { ok: true, value: await call };
  } catch (err) {
    if (err instanceof EtcdGrpcError) return { ok: false, error: err.info() };
    throw err;
  }
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string (keys and values). */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * One Watch stream: send requests, and read responses in order (every response is kept in
 * `responses`, so a test can both await specific ones and inspect the whole sequence).
 *
 *   const w = client.watch();
 *   w.create({ key: utf8('a'), rangeEnd: utf8('b') });
 *   const created = await w.next();
 *   const events = await w.until((r) => r.events.length > 0);
 *   w.close();
 */
export class WatchStreamClient {
  readonly responses: pb.WatchResponse[] = [];
  private read = 0;
  private waiters: (() => void)[] = [];
  private ended: Error | undefined;

  constructor(private readonly call: grpc.ClientDuplexStream<pb.WatchRequest, pb.WatchResponse>) {
    call.on('data', (r: pb.WatchResponse) => {
      this.responses.push(r);
      this.wake();
    });
    call.on('error', (err: grpc.ServiceError) => {
      this.ended = err.code === grpc.status.CANCELLED ? new Error('watch stream cancelled') : new EtcdGrpcError('Watch', err.code, err.details);
      this.wake();
    });
    call.on('end', () => {
      this.ended ??= new Error('watch stream ended');
      this.wake();
    });
  }

  send(req: MessageInitShape<typeof pb.WatchRequestSchema>): void {
    this.call.write(create(pb.WatchRequestSchema, req));
  }
  create(req: MessageInitShape<typeof pb.WatchCreateRequestSchema>): void {
    this.send({ requestUnion: { case: 'createRequest', value: create(pb.WatchCreateRequestSchema, req) } });
  }
  cancel(watchId: bigint): void {
    this.send({ requestUnion: { case: 'cancelRequest', value: create(pb.WatchCancelRequestSchema, { watchId }) } });
  }
  requestProgress(): void {
    this.send({ requestUnion: { case: 'progressRequest', value: create(pb.WatchProgressRequestSchema, {}) } });
  }

  /** The next response not yet returned by next()/until(); rejects after `timeoutMs`. */
  async next(timeoutMs = 10_000): Promise<pb.WatchResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.responses[this.read];
      if (r !== undefined) {
        this.read++;
        return r;
      }
      if (this.ended !== undefined) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no watch response within ${timeoutMs}ms (got ${this.responses.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Reads responses until one satisfies `pred`; returns it. */
  async until(pred: (r: pb.WatchResponse) => boolean, timeoutMs = 10_000): Promise<pb.WatchResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.next(Math.max(1, deadline - Date.now()));
      if (pred(r)) return r;
    }
  }

  /** Waits until no response arrived for `quietMs`. */
  async quiet(quietMs = 300): Promise<void> {
    for (;;) {
      const n = this.responses.length;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
      if (this.responses.length === n) return;
    }
  }

  close(): void {
    this.call.cancel();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
