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

  // --- Cluster
  memberList(req: MessageInitShape<typeof pb.MemberListRequestSchema> = {}): Promise<pb.MemberListResponse> {
    return this.unary(this.cluster, 'MemberList', pb.MemberListRequestSchema, req);
  }

  close(): void {
    this.kv.close();
    this.maintenance.close();
    this.cluster.close();
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
