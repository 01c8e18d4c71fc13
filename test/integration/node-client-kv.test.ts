// The etcd3 npm client (gRPC via @grpc/grpc-js) against the built `t4 run` process: KV, the
// transaction shapes Kubernetes uses, Maintenance.Status, the request-size and txn-op limits, and
// concurrent writes. Needs no external binary. One default T4 for the KV suite, one T4 started
// with tight limits for the limit suite.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { Etcd3, type IKeyValue, type ITxnResponse } from 'etcd3';
import {
  PutRequestSchema,
  PutResponseSchema,
  type PutRequest,
  type PutResponse,
} from '../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { startT4, type T4Process } from '../support/t4-process.js';


function clientFor(t4: T4Process): Etcd3 {
  return new Etcd3({ hosts: `http://${t4.endpoint}` });
}

/** Revisions arrive as decimal strings (int64); compare them as numbers (safe in tests). */
const n = (v: string | number | undefined): number => Number(v);

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error, `rejected with a non-Error: ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to be rejected, but it succeeded');
}

function rangeKv(res: ITxnResponse, index: number): IKeyValue | undefined {
  return res.responses[index]?.response_range?.kvs[0];
}

describe('etcd3 client against t4 run', () => {
  let t4: T4Process | undefined;
  let client: Etcd3;

  before(async () => {
    t4 = await startT4();
    client = clientFor(t4);
  });
  after(async () => {
    client?.close();
    await t4?.cleanup();
  });

  it('put then get returns the value with create/mod revision and version', async () => {
    const put1 = await client.put('foo').value('bar').exec();
    const r1 = n(put1.header.revision);
    assert.ok(r1 >= 2);
    assert.equal(await client.get('foo').string(), 'bar');

    const put2 = await client.put('foo').value('baz').exec();
    assert.equal(n(put2.header.revision), r1 + 1);
    const res = await client.get('foo').exec();
    assert.equal(res.kvs.length, 1);
    const kv = res.kvs[0] as IKeyValue;
    assert.equal(kv.key.toString(), 'foo');
    assert.equal(kv.value.toString(), 'baz');
    assert.equal(n(kv.create_revision), r1);
    assert.equal(n(kv.mod_revision), r1 + 1);
    assert.equal(n(kv.version), 2);
    assert.equal(n(res.header.revision), r1 + 1);
    assert.equal(await client.get('no-such-key').string(), null);
  });

  it('put getPrevious returns the previous value; binary values round-trip', async () => {
    await client.put('prev').value('old');
    const prev = await client.put('prev').value('new').getPrevious();
    assert.equal(prev.value.toString(), 'old');
    const bytes = Buffer.from([0, 1, 2, 255, 254, 0, 10]);
    await client.put(Buffer.from([0xff, 0x00, 0x01])).value(bytes);
    const back = await client.get(Buffer.from([0xff, 0x00, 0x01])).buffer();
    assert.deepEqual(back, bytes);
  });

  it('getAll().prefix() returns only keys under the prefix, sorted, with count()', async () => {
    await Promise.all([
      client.put('pfx/b').value('2'),
      client.put('pfx/a').value('1'),
      client.put('pfx/c').value('3'),
      client.put('pfy').value('no'),
      client.put('pf').value('no'),
    ]);
    assert.deepEqual(await client.getAll().prefix('pfx/').strings(), { 'pfx/a': '1', 'pfx/b': '2', 'pfx/c': '3' });
    assert.deepEqual(await client.getAll().prefix('pfx/').keys(), ['pfx/a', 'pfx/b', 'pfx/c']);
    // count() sends count_only: the count of the whole range, no kvs
    assert.equal(await client.getAll().prefix('pfx/').count(), 3);
    const limited = await client.getAll().prefix('pfx/').limit(2).sort('Key', 'Descend').exec();
    assert.deepEqual(limited.kvs.map((kv) => kv.key.toString()), ['pfx/c', 'pfx/b']);
    assert.equal(limited.more, true);
    assert.equal(n(limited.count), 3);
  });

  it('delete a key, a prefix with previous values, and a missing key', async () => {
    await Promise.all(['del/a', 'del/b', 'del/c', 'delx'].map((k) => client.put(k).value(`v-${k}`)));
    const one = await client.delete().key('del/a').exec();
    assert.equal(n(one.deleted), 1);
    assert.equal(await client.get('del/a').string(), null);

    const prevs = await client.delete().prefix('del/').getPrevious();
    assert.deepEqual(
      prevs.map((kv) => [kv.key.toString(), kv.value.toString()]),
      [
        ['del/b', 'v-del/b'],
        ['del/c', 'v-del/c'],
      ],
    );
    assert.equal(await client.getAll().prefix('del/').count(), 0);
    assert.equal(await client.get('delx').string(), 'v-delx', 'keys outside the prefix survive');

    const head = n((await client.get('delx').exec()).header.revision);
    const none = await client.delete().key('del/missing').exec();
    assert.equal(n(none.deleted), 0);
    assert.equal(n(none.header.revision), head, 'deleting nothing does not advance the revision');
  });

  it('reads an older revision with .revision(); a future revision is refused', async () => {
    const r1 = n((await client.put('hist').value('v1').exec()).header.revision);
    await client.put('hist').value('v2');
    assert.equal(await client.get('hist').revision(r1).string(), 'v1');
    assert.equal(await client.get('hist').string(), 'v2');
    const err = await rejection(client.get('hist').revision(r1 + 10_000).string());
    assert.match(err.message, /etcdserver: mvcc: required revision is a future revision/);
  });

  it('if().then().else(): compare true runs then, compare false runs else', async () => {
    await client.put('tx/k').value('v1');
    const yes = await client.if('tx/k', 'Value', '==', 'v1').then(client.put('tx/out').value('then')).else(client.put('tx/out').value('else')).commit();
    assert.equal(yes.succeeded, true);
    assert.equal(await client.get('tx/out').string(), 'then');

    const no = await client
      .if('tx/k', 'Value', '==', 'nope')
      .and('tx/k', 'Version', '>', 0)
      .then(client.put('tx/out').value('then2'))
      .else(client.put('tx/out').value('else2'), client.get('tx/k'))
      .commit();
    assert.equal(no.succeeded, false);
    assert.equal(no.responses.length, 2);
    assert.equal(rangeKv(no, 1)?.value.toString(), 'v1');
    assert.equal(await client.get('tx/out').string(), 'else2');
    // the whole txn is one revision
    assert.equal(n((await client.get('tx/out').exec()).kvs[0]?.mod_revision), n(no.header.revision));
  });

  it('Kubernetes optimistic create/update/delete (compare mod_revision, else get)', async () => {
    const key = '/registry/pods/default/web-0';
    // create: only if absent (mod_revision == 0)
    const create = await client.if(key, 'Mod', '==', 0).then(client.put(key).value('pod-v1')).else(client.get(key)).commit();
    assert.equal(create.succeeded, true);
    const rev1 = n(create.header.revision);
    assert.equal(n(create.responses[0]?.response_put?.header.revision), rev1);

    // a second create loses and gets the current object back from the else branch
    const create2 = await client.if(key, 'Mod', '==', 0).then(client.put(key).value('pod-dup')).else(client.get(key)).commit();
    assert.equal(create2.succeeded, false);
    assert.equal(rangeKv(create2, 0)?.value.toString(), 'pod-v1');
    assert.equal(n(rangeKv(create2, 0)?.mod_revision), rev1);

    // GuaranteedUpdate with the right resourceVersion succeeds
    const update = await client.if(key, 'Mod', '==', rev1).then(client.put(key).value('pod-v2')).else(client.get(key)).commit();
    assert.equal(update.succeeded, true);
    const rev2 = n(update.header.revision);
    assert.equal(rev2, rev1 + 1);

    // a stale resourceVersion fails and returns the fresh object to retry with
    const stale = await client.if(key, 'Mod', '==', rev1).then(client.put(key).value('pod-stale')).else(client.get(key)).commit();
    assert.equal(stale.succeeded, false);
    const fresh = rangeKv(stale, 0);
    assert.equal(fresh?.value.toString(), 'pod-v2');
    assert.equal(n(fresh?.mod_revision), rev2);
    assert.equal(n(fresh?.create_revision), rev1);
    assert.equal(n(fresh?.version), 2);
    assert.equal(n(stale.header.revision), rev2, 'a failed compare writes nothing');

    // delete with preconditions
    const del = await client.if(key, 'Mod', '==', rev2).then(client.delete().key(key)).else(client.get(key)).commit();
    assert.equal(del.succeeded, true);
    assert.equal(n(del.responses[0]?.response_delete_range?.deleted), 1);
    assert.equal(n(del.header.revision), rev2 + 1);
    assert.equal(await client.get(key).string(), null);
  });

  it('maintenance.status(): version >= 3.5.13, this member leads, sane sizes and indexes', async () => {
    const status = await client.maintenance.status();
    const [major, minor, patch] = status.version.split('.').map(Number) as [number, number, number];
    assert.ok(major > 3 || (major === 3 && (minor > 5 || (minor === 5 && patch >= 13))), `version ${status.version}`);
    assert.equal(status.leader, status.header.member_id);
    assert.ok(n(status.dbSize) > 0);
    assert.ok(n(status.raftIndex) > 0);
    assert.equal(status.isLearner, false);
    const members = await client.cluster.memberList({});
    assert.equal(members.members.length, 1);
    assert.equal(members.members[0]?.ID, status.header.member_id);
    assert.deepEqual(members.members[0]?.clientURLs, [`http://${(t4 as T4Process).endpoint}`]);
  });

  // etcd clientv3 3.4 (etcdctl endpoint status/defrag, and anything using Client.Dial(ep)) sends the
  // endpoint as written, e.g. "http://127.0.0.1:2379", as the HTTP/2 :authority. etcd (Go gRPC)
  // accepts it; the stream must not be reset.
  const statusOf = (ep: string, authority: string): Promise<{ grpcStatus?: string; error?: string }> =>
    rawStatus(ep, authority);

  it('answers a raw HTTP/2 gRPC request with :authority host:port', async () => {
    const ep = (t4 as T4Process).endpoint;
    assert.deepEqual(await statusOf(ep, ep), { grpcStatus: '0' }, 'host:port authority');
  });

  it('accepts a request whose :authority is a URL (as etcd clientv3 3.4 Dial sends)', async () => {
    const ep = (t4 as T4Process).endpoint;
    assert.deepEqual(await statusOf(ep, `http://${ep}`), { grpcStatus: '0' }, 'http://host:port authority');
  });

  it('50 concurrent puts are all acknowledged with distinct, consecutive revisions', async () => {
    const head = n((await client.get('foo').exec()).header.revision);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.put(`conc/${String(i).padStart(2, '0')}`).value(`v${i}`).exec()),
    );
    const revs = results.map((r) => n(r.header.revision));
    assert.equal(new Set(revs).size, 50, `distinct revisions: ${revs.join(',')}`);
    assert.deepEqual(
      [...revs].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => head + 1 + i),
      'each put is its own revision, with no gaps',
    );
    const stored = await client.getAll().prefix('conc/').exec();
    assert.equal(stored.kvs.length, 50);
    for (const kv of stored.kvs) {
      const i = Number(kv.key.toString().slice('conc/'.length));
      assert.equal(kv.value.toString(), `v${i}`);
      assert.equal(n(kv.mod_revision), revs[i], `mod_revision of ${kv.key.toString()} is the acknowledged revision`);
    }
  });

  it('default --max-request-bytes (1.5 MiB, as etcd): 1.4 MiB put accepted, 1.6 MiB refused as too large', async () => {
    await client.put('big/default').value('x'.repeat(4096));
    assert.equal((await client.get('big/default').string())?.length, 4096);
    const almost = Math.floor(1.4 * 1024 * 1024);
    await client.put('big/1.4m').value(Buffer.alloc(almost, 'a'));
    assert.equal((await client.get('big/1.4m').buffer())?.length, almost);
    const err = await rejection(client.put('big/1.6m').value(Buffer.alloc(Math.floor(1.6 * 1024 * 1024), 'b')).exec());
    assert.match(err.message, /etcdserver: request is too large/);
    assert.equal(await client.get('big/1.6m').string(), null);
  });
});

describe('etcd3 client against t4 run --max-request-bytes 1024 --max-txn-ops 4', () => {
  let t4: T4Process | undefined;
  let client: Etcd3;

  before(async () => {
    t4 = await startT4({ args: ['--max-request-bytes', '1024', '--max-txn-ops', '4'] });
    client = clientFor(t4);
  });
  after(async () => {
    client?.close();
    await t4?.cleanup();
  });

  it('a put under the limit succeeds; a 4 KiB put fails "etcdserver: request is too large" and writes nothing', async () => {
    await client.put('small').value('y'.repeat(512));
    const head = n((await client.get('small').exec()).header.revision);
    const err = await rejection(client.put('big').value('x'.repeat(4096)).exec());
    assert.match(err.message, /etcdserver: request is too large/);
    assert.equal(err.constructor.name, 'GRPCInvalidArgumentError', `gRPC InvalidArgument as etcd (got ${err.constructor.name}: ${err.message})`);
    assert.equal(await client.get('big').string(), null);
    assert.equal(n((await client.get('small').exec()).header.revision), head, 'revision unchanged');
  });

  it('a txn carrying a 4 KiB value is refused as too large as well', async () => {
    const err = await rejection(client.if('small', 'Version', '>', 0).then(client.put('bigtxn').value('x'.repeat(4096))).commit());
    assert.match(err.message, /etcdserver: request is too large/);
    assert.equal(await client.get('bigtxn').string(), null);
  });

  it('a txn with 4 ops succeeds; 5 ops fail "etcdserver: too many operations in txn request"', async () => {
    const ops = (count: number, tag: string) => Array.from({ length: count }, (_, i) => client.put(`ops/${tag}/${i}`).value('v'));
    const ok = await client.if('ops/none', 'Mod', '==', 0).then(...ops(4, 'four')).commit();
    assert.equal(ok.succeeded, true);
    assert.equal(await client.getAll().prefix('ops/four/').count(), 4);

    const err = await rejection(client.if('ops/none', 'Mod', '==', 0).then(...ops(5, 'five')).commit());
    assert.match(err.message, /etcdserver: too many operations in txn request/);
    assert.equal(err.constructor.name, 'GRPCInvalidArgumentError');
    assert.equal(await client.getAll().prefix('ops/five/').count(), 0, 'nothing of the refused txn is applied');
  });

  it('the op limit applies to the else branch and to the compares too (as etcd checkTxnRequest)', async () => {
    const elseErr = await rejection(
      client
        .if('ops/none', 'Mod', '==', 0)
        .then(client.put('ops/e/then').value('v'))
        .else(...Array.from({ length: 5 }, (_, i) => client.put(`ops/e/${i}`).value('v')))
        .commit(),
    );
    assert.match(elseErr.message, /too many operations in txn request/);

    let cmp = client.if('ops/c/0', 'Mod', '==', 0);
    for (let i = 1; i < 5; i++) cmp = cmp.and(`ops/c/${i}`, 'Mod', '==', 0);
    const cmpErr = await rejection(cmp.then(client.put('ops/c/then').value('v')).commit());
    assert.match(cmpErr.message, /too many operations in txn request/);
    assert.equal(await client.get('ops/c/then').string(), null);
  });

  // Raw grpc-js here: the etcd3 client retries RESOURCE_EXHAUSTED and then opens its circuit breaker.
  it('a message beyond the gRPC receive limit (limit + 512 KiB) is refused RESOURCE_EXHAUSTED and the server keeps serving', async () => {
    const raw = new grpc.Client((t4 as T4Process).endpoint, grpc.credentials.createInsecure());
    const rawPut = (key: string, value: Uint8Array): Promise<grpc.ServiceError | PutResponse> =>
      new Promise((resolve) => {
        raw.makeUnaryRequest<PutRequest, PutResponse>(
          '/etcdserverpb.KV/Put',
          (req) => Buffer.from(toBinary(PutRequestSchema, req)),
          (buf) => fromBinary(PutResponseSchema, buf),
          create(PutRequestSchema, { key: Buffer.from(key), value }),
          { deadline: Date.now() + 10_000 },
          (err, res) => resolve(err ?? (res as PutResponse)),
        );
      });
    try {
      const res = await rawPut('huge', Buffer.alloc(1024 * 1024, 'h'));
      assert.ok(res instanceof Error, 'a 1 MiB put is refused');
      assert.equal((res as grpc.ServiceError).code, grpc.status.RESOURCE_EXHAUSTED, (res as grpc.ServiceError).message);
      const okRes = await rawPut('after-huge', Buffer.from('ok'));
      assert.ok(!(okRes instanceof Error), `the same connection still works: ${String(okRes)}`);
    } finally {
      raw.close();
    }
    assert.equal(await client.get('huge').string(), null);
    assert.equal(await client.get('after-huge').string(), 'ok');
  });
});

function rawStatus(ep: string, authority: string): Promise<{ grpcStatus?: string; error?: string }> {
    const statusOf = (authority: string): Promise<{ grpcStatus?: string; error?: string }> =>
      new Promise((resolve) => {
        const session = http2.connect(`http://${ep}`);
        session.on('error', () => {});
        const req = session.request({
          ':method': 'POST',
          ':path': '/etcdserverpb.Maintenance/Status',
          ':authority': authority,
          ':scheme': 'http',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        let grpcStatus: string | undefined;
        req.on('response', (h) => (grpcStatus ??= h['grpc-status'] as string | undefined));
        req.on('trailers', (h) => (grpcStatus ??= h['grpc-status'] as string | undefined));
        let error: string | undefined;
        req.on('error', (e: Error) => (error = e.message));
        req.on('close', () => {
          session.close();
          resolve(error === undefined ? { grpcStatus } : { error });
        });
        req.resume();
        req.end(Buffer.from([0, 0, 0, 0, 0])); // one empty StatusRequest frame
      });
    return statusOf(authority);
}
