// A raw etcd v3 Lease client for tests (grpc-js + T4's generated schemas, no etcd client library),
// including the bidi KeepAlive stream, so tests see exactly what a server put on the wire.
//
//   const c = new LeaseGrpcClient(endpoint);
//   const g = await c.grant({ TTL: 10n });
//   const answers = await c.keepAlive([g.ID, 12345n]);   // one response per request, in order
//   c.close();
import * as grpc from '@grpc/grpc-js';
import { create, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { grpcServiceDefinition } from '../../src/adapters/grpc/service-definition.js';
import * as pb from '../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { EtcdGrpcError } from './etcd-grpc-client.js';

type UnaryCallback = (err: grpc.ServiceError | null, value?: unknown) => void;
type GenericUnary = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: UnaryCallback) => grpc.ClientUnaryCall;
type GenericBidi = (metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientDuplexStream<unknown, unknown>;

export class LeaseGrpcClient {
  private readonly client: grpc.Client;

  constructor(
    readonly endpoint: string,
    private readonly deadlineMs = 15_000,
  ) {
    const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(pb.Lease), pb.Lease.name);
    this.client = new Ctor(endpoint, grpc.credentials.createInsecure(), {});
  }

  grant(req: MessageInitShape<typeof pb.LeaseGrantRequestSchema>): Promise<pb.LeaseGrantResponse> {
    return this.unary('LeaseGrant', pb.LeaseGrantRequestSchema, req);
  }
  revoke(req: MessageInitShape<typeof pb.LeaseRevokeRequestSchema>): Promise<pb.LeaseRevokeResponse> {
    return this.unary('LeaseRevoke', pb.LeaseRevokeRequestSchema, req);
  }
  timeToLive(req: MessageInitShape<typeof pb.LeaseTimeToLiveRequestSchema>): Promise<pb.LeaseTimeToLiveResponse> {
    return this.unary('LeaseTimeToLive', pb.LeaseTimeToLiveRequestSchema, req);
  }
  leases(): Promise<pb.LeaseLeasesResponse> {
    return this.unary('LeaseLeases', pb.LeaseLeasesRequestSchema, {});
  }

  /** Opens one KeepAlive stream, sends a request per id (each after the previous answer), closes it. */
  async keepAlive(ids: readonly bigint[]): Promise<pb.LeaseKeepAliveResponse[]> {
    const fn = (this.client as unknown as Record<string, GenericBidi>)['LeaseKeepAlive'] as GenericBidi;
    const stream = fn.call(this.client, new grpc.Metadata(), { deadline: Date.now() + this.deadlineMs });
    const answers: pb.LeaseKeepAliveResponse[] = [];
    const pending: ((r: pb.LeaseKeepAliveResponse) => void)[] = [];
    let failure: unknown;
    const ended = new Promise<void>((resolve) => {
      stream.on('data', (r: pb.LeaseKeepAliveResponse) => pending.shift()?.(r));
      stream.on('error', (err: grpc.ServiceError) => {
        failure = new EtcdGrpcError('LeaseKeepAlive', err.code, err.details);
        resolve();
      });
      stream.on('status', () => resolve());
    });
    for (const id of ids) {
      const answer = new Promise<pb.LeaseKeepAliveResponse>((resolve) => pending.push(resolve));
      stream.write(create(pb.LeaseKeepAliveRequestSchema, { ID: id }));
      answers.push(await Promise.race([answer, ended.then(() => Promise.reject(failure ?? new Error('stream ended early')))]));
    }
    stream.end();
    await ended;
    return answers;
  }

  close(): void {
    this.client.close();
  }

  private unary<I extends DescMessage, O>(method: string, schema: I, init: MessageInitShape<I>): Promise<O> {
    const request: MessageShape<I> = create(schema, init);
    const fn = (this.client as unknown as Record<string, GenericUnary>)[method] as GenericUnary;
    return new Promise<O>((resolve, reject) => {
      fn.call(this.client, request, new grpc.Metadata(), { deadline: Date.now() + this.deadlineMs }, (err, value) => {
        if (err) reject(new EtcdGrpcError(method, err.code, err.details));
        else resolve(value as O);
      });
    });
  }
}
