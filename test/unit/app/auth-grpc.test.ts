// The Auth API and its enforcement over real gRPC, against an in-process T4Node: etcd's codes and
// texts for each failure, etcdctl's enable sequence, the --auth-enabled switch, watch refusal, and
// a restart keeping users, roles and the enabled flag.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { create, type DescMessage, type DescService, type MessageInitShape } from '@bufbuild/protobuf';
import { T4Node } from '../../../src/app/node.js';
import { DEFAULT_LIMITS } from '../../../src/domain/limits.js';
import { prefixEnd, utf8 } from '../../../src/domain/bytes.js';
import type { Logger } from '../../../src/ports/logger.js';
import * as pb from '../../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { Permission_Type } from '../../../src/adapters/grpc/gen/etcd/api/authpb/auth_pb.js';
import { grpcServiceDefinition } from '../../../src/adapters/grpc/service-definition.js';
import { WatchStreamClient } from '../../support/etcd-grpc-client.js';
import { testCertificates } from '../../support/certs.js';
import type { ServerTls } from '../../../src/adapters/grpc/grpc-server.js';
import { readFileSync } from 'node:fs';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const b = utf8;

type Outcome = { ok: true; value: any } | { ok: false; code: string; details: string };

class Client {
  private readonly clients = new Map<string, grpc.Client>();
  constructor(
    private readonly endpoint: string,
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {}

  async call(service: DescService, method: string, schema: DescMessage, init: unknown, token?: string): Promise<Outcome> {
    let client = this.clients.get(service.typeName);
    if (client === undefined) {
      const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
      client = new Ctor(this.endpoint, this.credentials, {});
      this.clients.set(service.typeName, client);
    }
    const md = new grpc.Metadata();
    if (token !== undefined) md.set('token', token);
    const fn = (client as unknown as Record<string, Function>)[method]!;
    return new Promise((resolve) => {
      fn.call(client, create(schema, init as MessageInitShape<DescMessage>), md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, value: unknown) => {
        if (err) resolve({ ok: false, code: grpc.status[err.code] ?? String(err.code), details: err.details });
        else resolve({ ok: true, value });
      });
    });
  }

  auth(method: string, schema: DescMessage, init: unknown = {}, token?: string) {
    return this.call(pb.Auth, method, schema, init, token);
  }

  watch(token?: string): WatchStreamClient {
    const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(pb.Watch), 'Watch');
    const client = new Ctor(this.endpoint, grpc.credentials.createInsecure(), {});
    this.clients.set(`watch-${this.clients.size}`, client);
    const md = new grpc.Metadata();
    if (token !== undefined) md.set('token', token);
    const fn = (client as unknown as Record<string, Function>)['Watch']!;
    return new WatchStreamClient(fn.call(client, md, {}));
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}

const err = (code: string, details: string) => ({ ok: false, code, details });

async function startNode(dataDir: string, authEnabled: boolean, tls?: ServerTls): Promise<{ node: T4Node; client: Client; address: string }> {
  const node = await T4Node.open({
    dataDir,
    nodeId: 'auth-test',
    limits: DEFAULT_LIMITS,
    logger: silent,
    auth: { enabled: authEnabled, tokenTtlSeconds: 300, scryptCost: { logN: 4, r: 8, p: 1 } },
  });
  const address = await node.serve({ listen: '127.0.0.1:0', ...(tls === undefined ? {} : { tls }) });
  return { node, client: new Client(address), address };
}

describe('Auth over gRPC with --auth-enabled', () => {
  let dir: string;
  let node: T4Node;
  let c: Client;
  let root: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 't4-auth-grpc-'));
    ({ node, client: c } = await startNode(dir, true));
  });
  after(async () => {
    c.close();
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with auth disabled: Authenticate says not enabled; requests pass; AuthStatus reports revision 1', async () => {
    assert.deepEqual(await c.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'root', password: 'x' }), err('FAILED_PRECONDITION', 'etcdserver: authentication is not enabled'));
    const status = await c.auth('AuthStatus', pb.AuthStatusRequestSchema);
    assert.ok(status.ok);
    assert.equal(status.value.enabled, false);
    assert.equal(status.value.authRevision, 1n);
    assert.ok((await c.call(pb.KV, 'Put', pb.PutRequestSchema, { key: b('/a/1'), value: b('v') })).ok);
  });

  it("etcdctl's auth enable: root user does not exist, then does not have root role, then role add + grant + enable", async () => {
    assert.deepEqual(await c.auth('AuthEnable', pb.AuthEnableRequestSchema), err('FAILED_PRECONDITION', 'etcdserver: root user does not exist'));
    assert.ok((await c.auth('UserAdd', pb.AuthUserAddRequestSchema, { name: 'root', password: 'rootpw' })).ok);
    assert.deepEqual(await c.auth('AuthEnable', pb.AuthEnableRequestSchema), err('FAILED_PRECONDITION', 'etcdserver: root user does not have root role'));
    assert.ok((await c.auth('RoleAdd', pb.AuthRoleAddRequestSchema, { name: 'root' })).ok);
    assert.ok((await c.auth('UserGrantRole', pb.AuthUserGrantRoleRequestSchema, { user: 'root', role: 'root' })).ok);
    assert.ok((await c.auth('AuthEnable', pb.AuthEnableRequestSchema)).ok);
    const status = await c.auth('AuthStatus', pb.AuthStatusRequestSchema);
    assert.ok(status.ok);
    assert.equal(status.value.enabled, true);
  });

  it('Authenticate: bad password and unknown user fail alike; a good one returns a token', async () => {
    const bad = err('INVALID_ARGUMENT', 'etcdserver: authentication failed, invalid user ID or password');
    assert.deepEqual(await c.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'root', password: 'nope' }), bad);
    assert.deepEqual(await c.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'ghost', password: 'x' }), bad);
    const ok = await c.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'root', password: 'rootpw' });
    assert.ok(ok.ok);
    root = ok.value.token;
    assert.ok(root.length > 16);
  });

  it('no token: user name is empty; bad token: invalid auth token (Unauthenticated)', async () => {
    assert.deepEqual(await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/1') }), err('INVALID_ARGUMENT', 'etcdserver: user name is empty'));
    assert.deepEqual(await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/1') }, 'bogus.1'), err('UNAUTHENTICATED', 'etcdserver: invalid auth token'));
    assert.deepEqual(await c.auth('UserList', pb.AuthUserListRequestSchema), err('INVALID_ARGUMENT', 'etcdserver: user name is empty'));
    const r = await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/1') }, root);
    assert.ok(r.ok, 'root reads everything');
    assert.equal(r.value.kvs.length, 1);
  });

  it('a reader: range needs read over the whole range; writes and admin are denied with etcd texts', async () => {
    assert.ok((await c.auth('UserAdd', pb.AuthUserAddRequestSchema, { name: 'alice', password: 'pw' }, root)).ok);
    assert.ok((await c.auth('RoleAdd', pb.AuthRoleAddRequestSchema, { name: 'reader' }, root)).ok);
    const perm = { key: b('/a/'), rangeEnd: prefixEnd(b('/a/')), permType: Permission_Type.READ };
    assert.ok((await c.auth('RoleGrantPermission', pb.AuthRoleGrantPermissionRequestSchema, { name: 'reader', perm }, root)).ok);
    assert.ok((await c.auth('UserGrantRole', pb.AuthUserGrantRoleRequestSchema, { user: 'alice', role: 'reader' }, root)).ok);
    const login = await c.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'alice', password: 'pw' });
    assert.ok(login.ok);
    const alice: string = login.value.token;
    const denied = err('PERMISSION_DENIED', 'etcdserver: permission denied');
    assert.ok((await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/'), rangeEnd: prefixEnd(b('/a/')) }, alice)).ok);
    assert.deepEqual(await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/'), rangeEnd: b('/b') }, alice), denied, 'start key granted, range is not');
    assert.deepEqual(await c.call(pb.KV, 'Put', pb.PutRequestSchema, { key: b('/a/1'), value: b('x') }, alice), denied);
    assert.deepEqual(await c.call(pb.KV, 'DeleteRange', pb.DeleteRangeRequestSchema, { key: b('/a/1') }, alice), denied);
    assert.deepEqual(await c.auth('UserList', pb.AuthUserListRequestSchema, {}, alice), denied);
    assert.deepEqual(await c.auth('AuthDisable', pb.AuthDisableRequestSchema, {}, alice), denied);
    // etcd 3.4's maintenance server returns its auth errors unconverted: Unknown "auth: ...".
    assert.deepEqual(await c.call(pb.Maintenance, 'Defragment', pb.DefragmentRequestSchema, {}, alice), err('UNKNOWN', 'auth: permission denied'));
    assert.deepEqual(await c.call(pb.Maintenance, 'Defragment', pb.DefragmentRequestSchema, {}), err('UNKNOWN', 'auth: user name is empty'));
    assert.ok((await c.call(pb.Maintenance, 'Status', pb.StatusRequestSchema, {})).ok, 'Status needs no user (etcd)');
    assert.ok((await c.call(pb.KV, 'Compact', pb.CompactionRequestSchema, { revision: 1n })).ok, 'nor does Compact');
    const txn = { compare: [], success: [{ request: { case: 'requestPut', value: { key: b('/a/1'), value: b('x') } } }], failure: [] };
    assert.deepEqual(await c.call(pb.KV, 'Txn', pb.TxnRequestSchema, txn, alice), denied);

    const w = c.watch(alice);
    w.create({ key: b('/a/'), rangeEnd: b('/b') });
    const refused = await w.next();
    assert.equal(refused.created, true);
    assert.equal(refused.canceled, true);
    assert.equal(refused.watchId, -1n);
    assert.equal(refused.cancelReason, 'rpc error: code = PermissionDenied desc = etcdserver: permission denied');
    w.create({ key: b('/a/'), rangeEnd: prefixEnd(b('/a/')) });
    const created = await w.next();
    assert.equal(created.created, true);
    assert.equal(created.canceled, false);
    w.close();
    const anonymous = c.watch();
    anonymous.create({ key: b('/a/1') });
    assert.equal((await anonymous.next()).cancelReason, 'rpc error: code = InvalidArgument desc = etcdserver: user name is empty');
    anonymous.close();
    const forged = c.watch('bogus.7');
    forged.create({ key: b('/a/1') });
    assert.equal((await forged.next()).cancelReason, 'rpc error: code = Unauthenticated desc = etcdserver: invalid auth token');
    forged.close();

    // As etcd: a user may get themselves and the roles they hold, nothing else.
    const self = await c.auth('UserGet', pb.AuthUserGetRequestSchema, { name: 'alice' }, alice);
    assert.ok(self.ok);
    assert.deepEqual(self.value.roles, ['reader']);
    assert.deepEqual(await c.auth('UserGet', pb.AuthUserGetRequestSchema, { name: 'root' }, alice), denied);
    assert.ok((await c.auth('RoleGet', pb.AuthRoleGetRequestSchema, { role: 'reader' }, alice)).ok);
    assert.deepEqual(await c.auth('RoleGet', pb.AuthRoleGetRequestSchema, { role: 'root' }, alice), denied);
  });

  it('admin errors: user and role names, root protections', async () => {
    assert.deepEqual(await c.auth('UserAdd', pb.AuthUserAddRequestSchema, { name: 'alice', password: 'x' }, root), err('FAILED_PRECONDITION', 'etcdserver: user name already exists'));
    assert.deepEqual(await c.auth('UserAdd', pb.AuthUserAddRequestSchema, { name: '', password: 'x' }, root), err('INVALID_ARGUMENT', 'etcdserver: user name is empty'));
    assert.deepEqual(await c.auth('UserGet', pb.AuthUserGetRequestSchema, { name: 'bob' }, root), err('FAILED_PRECONDITION', 'etcdserver: user name not found'));
    assert.deepEqual(await c.auth('RoleGet', pb.AuthRoleGetRequestSchema, { role: 'nope' }, root), err('FAILED_PRECONDITION', 'etcdserver: role name not found'));
    assert.deepEqual(await c.auth('RoleAdd', pb.AuthRoleAddRequestSchema, { name: 'reader' }, root), err('FAILED_PRECONDITION', 'etcdserver: role name already exists'));
    assert.deepEqual(await c.auth('UserRevokeRole', pb.AuthUserRevokeRoleRequestSchema, { name: 'alice', role: 'root' }, root), err('FAILED_PRECONDITION', 'etcdserver: role is not granted to the user'));
    assert.deepEqual(
      await c.auth('RoleRevokePermission', pb.AuthRoleRevokePermissionRequestSchema, { role: 'reader', key: b('/zzz') }, root),
      err('FAILED_PRECONDITION', 'etcdserver: permission is not granted to the role'),
    );
    assert.deepEqual(await c.auth('RoleGrantPermission', pb.AuthRoleGrantPermissionRequestSchema, { name: 'reader' }, root), err('INVALID_ARGUMENT', 'etcdserver: permission not given'));
    assert.deepEqual(await c.auth('UserDelete', pb.AuthUserDeleteRequestSchema, { name: 'root' }, root), err('INVALID_ARGUMENT', 'etcdserver: invalid auth management'));
    const users = await c.auth('UserList', pb.AuthUserListRequestSchema, {}, root);
    assert.ok(users.ok);
    assert.deepEqual(users.value.users, ['alice', 'root']);
    const rootRole = await c.auth('RoleGet', pb.AuthRoleGetRequestSchema, { role: 'root' }, root);
    assert.ok(rootRole.ok);
    assert.equal(rootRole.value.perm.length, 0, 'etcd 3.4 lists no permissions for root');
  });

  it('a restart keeps users, roles and the enabled flag; tokens do not survive it', async () => {
    await node.close();
    c.close();
    ({ node, client: c } = await startNode(dir, true));
    assert.deepEqual(await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/1') }, root), err('UNAUTHENTICATED', 'etcdserver: invalid auth token'));
    const login = await c.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'alice', password: 'pw' });
    assert.ok(login.ok);
    assert.ok((await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/1') }, login.value.token)).ok);
    const again = await c.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'root', password: 'rootpw' });
    assert.ok(again.ok);
    assert.ok((await c.auth('AuthDisable', pb.AuthDisableRequestSchema, {}, again.value.token)).ok);
    assert.ok((await c.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/a/1') })).ok, 'open again');
    assert.equal(node.backend.currentRevision(), 2, 'auth changes took no KV revision');
  });
});

describe('Auth over gRPC without --auth-enabled', () => {
  it('Authenticate and AuthStatus answer as a server without auth; the rest names the flag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 't4-auth-off-'));
    const { node, client } = await startNode(dir, false);
    try {
      assert.deepEqual(await client.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'a', password: 'b' }), err('FAILED_PRECONDITION', 'etcdserver: authentication is not enabled'));
      assert.ok((await client.auth('AuthStatus', pb.AuthStatusRequestSchema)).ok);
      const off = await client.auth('UserAdd', pb.AuthUserAddRequestSchema, { name: 'root', password: 'x' });
      assert.equal(off.ok, false);
      assert.equal((off as { code: string }).code, 'FAILED_PRECONDITION');
      assert.match((off as { details: string }).details, /--auth-enabled/);
      assert.ok((await client.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('a') }, 'ignored-token')).ok, 'tokens are ignored');
    } finally {
      client.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Auth over gRPC under mutual TLS: the client certificate CN is the user when no token is sent', () => {
  it('CN names the user; a token wins over it; an unknown CN is denied', async () => {
    const certs = testCertificates();
    const dir = mkdtempSync(join(tmpdir(), 't4-auth-mtls-'));
    const tls: ServerTls = { cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key), clientCa: readFileSync(certs.ca.cert) };
    const { node, client: plain, address } = await startNode(dir, true, tls);
    plain.close();
    const as = (cn: string): Client => {
      const pair = certs.client(cn);
      return new Client(address.replace('127.0.0.1', 'localhost'), grpc.credentials.createSsl(readFileSync(certs.ca.cert), readFileSync(pair.key), readFileSync(pair.cert)));
    };
    const root = as('root');
    const carol = as('carol');
    const mallory = as('mallory');
    try {
      // Set up over mTLS as root: before auth is enabled nothing is checked.
      assert.ok((await root.auth('UserAdd', pb.AuthUserAddRequestSchema, { name: 'root', options: { noPassword: true } })).ok);
      assert.ok((await root.auth('UserGrantRole', pb.AuthUserGrantRoleRequestSchema, { user: 'root', role: 'root' })).ok);
      assert.ok((await root.auth('RoleAdd', pb.AuthRoleAddRequestSchema, { name: 'root' })).ok);
      assert.ok((await root.auth('UserAdd', pb.AuthUserAddRequestSchema, { name: 'carol', options: { noPassword: true } })).ok);
      assert.ok((await root.auth('RoleAdd', pb.AuthRoleAddRequestSchema, { name: 'r' })).ok);
      assert.ok((await root.auth('RoleGrantPermission', pb.AuthRoleGrantPermissionRequestSchema, { name: 'r', perm: { key: b('/c/'), rangeEnd: prefixEnd(b('/c/')), permType: Permission_Type.READ } })).ok);
      assert.ok((await root.auth('UserGrantRole', pb.AuthUserGrantRoleRequestSchema, { user: 'carol', role: 'r' })).ok);
      assert.ok((await root.auth('AuthEnable', pb.AuthEnableRequestSchema)).ok);

      assert.ok((await root.auth('UserList', pb.AuthUserListRequestSchema)).ok, 'CN root is an admin, no password needed');
      assert.ok((await carol.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/c/1') })).ok);
      assert.deepEqual(await carol.call(pb.KV, 'Put', pb.PutRequestSchema, { key: b('/c/1'), value: b('v') }), err('PERMISSION_DENIED', 'etcdserver: permission denied'));
      assert.deepEqual(await mallory.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/c/1') }), err('PERMISSION_DENIED', 'etcdserver: permission denied'));
      assert.deepEqual(await carol.call(pb.KV, 'Range', pb.RangeRequestSchema, { key: b('/c/1') }, 'bogus.1'), err('UNAUTHENTICATED', 'etcdserver: invalid auth token'), 'a token, when sent, decides');
      assert.deepEqual(
        await carol.auth('Authenticate', pb.AuthenticateRequestSchema, { name: 'carol', password: '' }),
        err('INVALID_ARGUMENT', 'etcdserver: authentication failed, invalid user ID or password'),
        'a no-password user cannot log in with a password',
      );
    } finally {
      for (const c of [root, carol, mallory]) c.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
