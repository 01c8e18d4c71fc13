// Helpers for the auth/RBAC black-box suite (test/integration/auth-rbac.test.ts): etcdctl runs
// reduced to comparable outcomes, and a raw gRPC client that carries an auth token.
//
//   const o = await ctl(server.endpoint, 'alice:pw', ['get', '/a']);   // { code, out }
//   const g = new TokenGrpcClient(server.endpoint);
//   const token = await g.authenticate('alice', 'pw');
//   const err = await grpcErrorOf(g.range({ key: utf8('/a/'), rangeEnd: utf8('/b') }, token));
//   const w = g.watch(token); w.create({ key: utf8('/q') });
//
// etcdctl's stderr carries clientv3's JSON retry warnings (timestamps, random client ids); they are
// dropped, so `out` holds stdout plus etcdctl's own "Error: ..." lines, with the endpoint, lease ids
// and remaining TTLs replaced by placeholders and a lease's attached keys sorted.
import * as grpc from '@grpc/grpc-js';
import { create, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { grpcServiceDefinition } from '../../src/adapters/grpc/service-definition.js';
import * as pb from '../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { etcdctl, type EtcdctlOptions } from './etcdctl.js';
import { EtcdGrpcError, WatchStreamClient } from './etcd-grpc-client.js';

/** What an etcdctl run looked like, normalised so etcd's and T4's can be compared. */
export interface CtlOutcome {
  readonly code: number | null;
  readonly out: string;
}

/** Values that differ legitimately between servers, replaced by placeholders in outputs. */
export interface Placeholders {
  readonly endpoint: string;
  /** Lease id (decimal) the row granted; printed by etcdctl in hex. */
  readonly lease?: bigint;
  /** Current store revision substituted into the row's arguments. */
  readonly revision?: bigint;
}

/** Runs etcdctl as `user` ("name:password", or undefined for no --user) and normalises the result. */
export async function ctl(endpoint: string, user: string | undefined, args: readonly string[], opts: EtcdctlOptions = {}): Promise<CtlOutcome> {
  const userArgs = user === undefined ? [] : [`--user=${user}`];
  const r = await etcdctl(endpoint, [...userArgs, ...args], opts);
  return { code: r.code, out: normaliseOutput(r.stdout, r.stderr, { endpoint }) };
}

/** stdout plus the non-JSON stderr lines, trimmed, with placeholders for volatile values. */
export function normaliseOutput(stdout: string, stderr: string, p: Placeholders): string {
  const errLines = stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
  let text = [stdout.trimEnd(), ...errLines].filter((s) => s !== '').join('\n');
  text = text.split(p.endpoint).join('<endpoint>');
  if (p.lease !== undefined) {
    const hex = p.lease.toString(16);
    text = text.split(hex.padStart(16, '0')).join('<lease>').split(hex).join('<lease>'); // etcdctl prints %016x
  }
  if (p.revision !== undefined) text = text.replace(new RegExp(`\\b${p.revision.toString()}\\b`, 'g'), '<rev>');
  text = text.replace(/\blease [0-9a-f]+ granted/g, 'lease <lease> granted');
  text = text.replace(/remaining\(\d+s\)/g, 'remaining(<ttl>s)');
  // etcd lists a lease's keys in map order.
  text = text.replace(/attached keys\(\[([^\]]*)\]\)/g, (_m, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`);
  return text;
}

type UnaryCallback = (err: grpc.ServiceError | null, value?: unknown) => void;
type GenericUnary = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: UnaryCallback) => grpc.ClientUnaryCall;
type GenericBidi = (metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientDuplexStream<pb.WatchRequest, pb.WatchResponse>;

/**
 * A raw etcd v3 client whose every call may carry a token (gRPC metadata `token`, as clientv3
 * sends it). Only the calls the auth suite needs.
 */
export class TokenGrpcClient {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(
    readonly endpoint: string,
    private readonly deadlineMs = 15_000,
  ) {}

  async authenticate(name: string, password: string): Promise<string> {
    const res = await this.unary<pb.AuthenticateResponse>(pb.Auth, 'Authenticate', pb.AuthenticateRequestSchema, { name, password }, undefined);
    return res.token;
  }
  authDisable(token?: string): Promise<pb.AuthDisableResponse> {
    return this.unary(pb.Auth, 'AuthDisable', pb.AuthDisableRequestSchema, {}, token);
  }
  userAdd(req: MessageInitShape<typeof pb.AuthUserAddRequestSchema>, token?: string): Promise<pb.AuthUserAddResponse> {
    return this.unary(pb.Auth, 'UserAdd', pb.AuthUserAddRequestSchema, req, token);
  }
  userGrantRole(req: MessageInitShape<typeof pb.AuthUserGrantRoleRequestSchema>, token?: string): Promise<pb.AuthUserGrantRoleResponse> {
    return this.unary(pb.Auth, 'UserGrantRole', pb.AuthUserGrantRoleRequestSchema, req, token);
  }
  roleAdd(req: MessageInitShape<typeof pb.AuthRoleAddRequestSchema>, token?: string): Promise<pb.AuthRoleAddResponse> {
    return this.unary(pb.Auth, 'RoleAdd', pb.AuthRoleAddRequestSchema, req, token);
  }
  roleGrantPermission(req: MessageInitShape<typeof pb.AuthRoleGrantPermissionRequestSchema>, token?: string): Promise<pb.AuthRoleGrantPermissionResponse> {
    return this.unary(pb.Auth, 'RoleGrantPermission', pb.AuthRoleGrantPermissionRequestSchema, req, token);
  }
  userList(token?: string): Promise<pb.AuthUserListResponse> {
    return this.unary(pb.Auth, 'UserList', pb.AuthUserListRequestSchema, {}, token);
  }
  range(req: MessageInitShape<typeof pb.RangeRequestSchema>, token?: string): Promise<pb.RangeResponse> {
    return this.unary(pb.KV, 'Range', pb.RangeRequestSchema, req, token);
  }
  put(req: MessageInitShape<typeof pb.PutRequestSchema>, token?: string): Promise<pb.PutResponse> {
    return this.unary(pb.KV, 'Put', pb.PutRequestSchema, req, token);
  }
  deleteRange(req: MessageInitShape<typeof pb.DeleteRangeRequestSchema>, token?: string): Promise<pb.DeleteRangeResponse> {
    return this.unary(pb.KV, 'DeleteRange', pb.DeleteRangeRequestSchema, req, token);
  }

  /** A Watch stream opened with `token` in its metadata. */
  watch(token?: string): WatchStreamClient {
    const client = this.client(pb.Watch);
    const fn = (client as unknown as Record<string, GenericBidi>)['Watch'] as GenericBidi;
    return new WatchStreamClient(fn.call(client, metadata(token), {}));
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(service: DescService): grpc.Client {
    let c = this.clients.get(service.typeName);
    if (c === undefined) {
      const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
      c = new Ctor(this.endpoint, grpc.credentials.createInsecure(), {});
      this.clients.set(service.typeName, c);
    }
    return c;
  }

  private unary<O>(service: DescService, method: string, schema: DescMessage, init: unknown, token: string | undefined): Promise<O> {
    const client = this.client(service);
    const request: MessageShape<DescMessage> = create(schema, init as MessageInitShape<DescMessage>);
    const fn = (client as unknown as Record<string, GenericUnary>)[method];
    if (typeof fn !== 'function') throw new Error(`no client method ${method}`);
    return new Promise<O>((resolve, reject) => {
      fn.call(client, request, metadata(token), { deadline: Date.now() + this.deadlineMs }, (err, value) => {
        if (err) reject(new EtcdGrpcError(method, err.code, err.details));
        else resolve(value as O);
      });
    });
  }
}

function metadata(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('token', token);
  return md;
}
