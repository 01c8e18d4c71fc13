// `t4 run --serving-processes 2` (DESIGN-NOTES 7): two serving processes share the port, answer
// Range and Watch from their own read-only SQLite connection and watch hub, and forward every other
// call to the one writer process. Checked with real clients on separate connections (so calls land
// on both processes): reads see every acknowledged write whichever process serves them, every
// watcher on every connection sees every event once and in order, compare-and-swap loses nothing,
// leases and their keep-alive streams work through forwarding, etcd's error codes survive the hop,
// a serving process that dies is replaced, a writer that dies takes its serving processes with it
// (and a restart serves every acknowledged write), and auth and TLS work in this mode too.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sleep } from '../support/child-process.js';
import { EtcdGrpcClient, grpcErrorOf, utf8 } from '../support/etcd-grpc-client.js';
import { etcdctl } from '../support/etcdctl.js';
import { findExternal } from '../support/external.js';
import { LeaseGrpcClient } from '../support/lease-grpc-client.js';
import { startT4, type T4Process } from '../support/t4-process.js';
import { testCertificates } from '../support/certs.js';

const etcdctlBin = findExternal('etcdctl');
const ARGS = ['--serving-processes', '2'];
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** The pids of `pid`'s child processes running the serving-process entry. */
function servingChildren(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('serving-process.js')) out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out.sort((a, b) => a - b);
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A client on its own connections (grpc-js would otherwise share one per target). */
function client(endpoint: string): EtcdGrpcClient {
  return new EtcdGrpcClient(endpoint, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
}

describe('serving processes: two processes serve, one writes', () => {
  let t4: T4Process;
  const clients: EtcdGrpcClient[] = [];

  before(async () => {
    t4 = await startT4({ args: ARGS });
    for (let i = 0; i < 8; i++) clients.push(client(t4.endpoint));
  });
  after(async () => {
    for (const c of clients) c.close();
    await t4?.cleanup();
  });

  it('starts two serving processes beside the writer', () => {
    assert.equal(servingChildren(t4.pid).length, 2, t4.logs());
  });

  it('a write acknowledged on one connection is read on every other, whichever process serves it', async () => {
    for (let round = 0; round < 40; round++) {
      const writer = clients[round % clients.length] as EtcdGrpcClient;
      const value = `v${round}`;
      const put = await writer.put({ key: utf8('lin/key'), value: utf8(value) });
      const acked = Number(put.header?.revision);
      const reads = await Promise.all(clients.map((c) => c.range({ key: utf8('lin/key') })));
      for (const read of reads) {
        assert.ok(Number(read.header?.revision) >= acked, `read header ${read.header?.revision} before the acknowledged ${acked}`);
        assert.equal(text(read.kvs[0]?.value ?? new Uint8Array()), value);
        assert.equal(Number(read.kvs[0]?.modRevision), acked);
      }
    }
  });

  it('every watcher on every connection sees every event of concurrent writers once, in revision order', async () => {
    const watchers = clients.slice(0, 4).map((c) => c.watch());
    for (const w of watchers) w.create({ key: utf8('w/'), rangeEnd: utf8('w0') });
    for (const w of watchers) await w.until((r) => r.created);
    const acked: number[] = [];
    await Promise.all(
      clients.map(async (c, i) => {
        for (let n = 0; n < 25; n++) {
          const put = await c.put({ key: utf8(`w/${i}/${n}`), value: utf8(`${i}.${n}`) });
          acked.push(Number(put.header?.revision));
        }
      }),
    );
    acked.sort((a, b) => a - b);
    for (const w of watchers) {
      const seen: { revision: number; key: string }[] = [];
      while (seen.length < acked.length) {
        const r = await w.next();
        for (const e of r.events) seen.push({ revision: Number(e.kv?.modRevision), key: text(e.kv?.key ?? new Uint8Array()) });
      }
      assert.deepEqual(
        seen.map((s) => s.revision),
        acked,
        'events in revision order, each acknowledged write exactly once',
      );
      await w.quiet(200);
      w.close();
    }
  });

  it('a watch from an old revision catches up from the serving process and then follows live writes', async () => {
    const first = await clients[0]!.put({ key: utf8('old/a'), value: utf8('1') });
    const from = Number(first.header?.revision);
    for (let n = 0; n < 30; n++) await clients[n % 8]!.put({ key: utf8(`old/${n}`), value: utf8(String(n)) });
    const w = clients[5]!.watch();
    w.create({ key: utf8('old/'), rangeEnd: utf8('old0'), startRevision: BigInt(from) });
    const revisions: number[] = [];
    while (revisions.length < 31) {
      const r = await w.next();
      for (const e of r.events) revisions.push(Number(e.kv?.modRevision));
    }
    const live = await clients[2]!.put({ key: utf8('old/live'), value: utf8('x') });
    while (revisions.length < 32) {
      const r = await w.next();
      for (const e of r.events) revisions.push(Number(e.kv?.modRevision));
    }
    assert.deepEqual(revisions, [...Array.from({ length: 31 }, (_, i) => from + i), Number(live.header?.revision)]);
    w.close();
  });

  it('compare-and-swap from eight connections loses no update', async () => {
    await clients[0]!.put({ key: utf8('cas/counter'), value: utf8('0') });
    let successes = 0;
    await Promise.all(
      clients.map(async (c) => {
        for (let n = 0, attempts = 0; n < 15; attempts++) {
          assert.ok(attempts < 2_000, 'compare-and-swap made no progress');
          const current = await c.range({ key: utf8('cas/counter') });
          const kv = current.kvs[0];
          assert.ok(kv !== undefined);
          const next = String(Number(text(kv.value)) + 1);
          const txn = await c.txn({
            compare: [{ key: utf8('cas/counter'), target: 2 /* MOD */, result: 0 /* EQUAL */, targetUnion: { case: 'modRevision', value: kv.modRevision } }],
            success: [{ request: { case: 'requestPut', value: { key: utf8('cas/counter'), value: utf8(next) } } }],
          });
          if (txn.succeeded) {
            successes++;
            n++;
          }
        }
      }),
    );
    const final = await clients[3]!.range({ key: utf8('cas/counter') });
    assert.equal(successes, 120);
    assert.equal(text(final.kvs[0]!.value), '120');
  });

  it("forwarded and local calls keep etcd's error codes and texts", async () => {
    const empty = await grpcErrorOf(clients[1]!.put({ key: new Uint8Array(), value: utf8('x') }));
    assert.equal(empty.code, 3);
    assert.equal(empty.details, 'etcdserver: key is not provided');
    const future = await grpcErrorOf(clients[2]!.range({ key: utf8('a'), revision: 1_000_000n }));
    assert.equal(future.code, 11);
    assert.equal(future.details, 'etcdserver: mvcc: required revision is a future revision');
    const current = await clients[0]!.put({ key: utf8('compact/me'), value: utf8('1') });
    await clients[0]!.compact({ revision: current.header!.revision });
    const compacted = await grpcErrorOf(clients[3]!.range({ key: utf8('a'), revision: current.header!.revision - 1n }));
    assert.equal(compacted.code, 11);
    assert.equal(compacted.details, 'etcdserver: mvcc: required revision has been compacted');
    const status = await clients[4]!.status();
    assert.ok(Number(status.header?.revision) >= Number(current.header?.revision));
  });

  it('leases work through forwarding: grant, keep-alive stream, attached keys, expiry seen by every process', async () => {
    const leases = new LeaseGrpcClient(t4.endpoint);
    try {
      const grant = await leases.grant({ TTL: 2n });
      await clients[0]!.put({ key: utf8('lease/k'), value: utf8('v'), lease: grant.ID });
      for (let i = 0; i < 4; i++) {
        const [reply] = await leases.keepAlive([grant.ID, grant.ID]);
        assert.equal(reply?.ID, grant.ID);
        assert.ok((reply?.TTL ?? 0n) > 0n);
        await sleep(800);
      }
      for (const c of clients) assert.equal((await c.range({ key: utf8('lease/k') })).kvs.length, 1, 'kept alive past its TTL');
      await until('the lease to expire', async () => (await clients[7]!.range({ key: utf8('lease/k') })).kvs.length === 0, 10_000);
      for (const c of clients) assert.equal((await c.range({ key: utf8('lease/k') })).kvs.length, 0);
    } finally {
      leases.close();
    }
  });

  it('etcdctl works unchanged against the serving processes', { skip: etcdctlBin.skip }, async () => {
    assert.equal((await etcdctl(t4.endpoint, ['put', 'ctl/a', '1'])).code, 0);
    const got = await etcdctl(t4.endpoint, ['get', 'ctl/', '--prefix']);
    assert.equal(got.stdout, 'ctl/a\n1\n');
    const status = await etcdctl(t4.endpoint, ['endpoint', 'status']);
    assert.equal(status.code, 0, status.stderr);
  });

  it('a serving process that dies is replaced; clients reconnect and keep working', async () => {
    const before = servingChildren(t4.pid);
    process.kill(before[0] as number, 'SIGKILL');
    await until('a replacement serving process', () => {
      const now = servingChildren(t4.pid);
      return now.length === 2 && !now.includes(before[0] as number);
    });
    assert.match(t4.logs(), /a serving process stopped; starting another/);
    const fresh = Array.from({ length: 4 }, () => client(t4.endpoint));
    try {
      for (const [i, c] of fresh.entries()) await c.put({ key: utf8(`after-respawn/${i}`), value: utf8('ok') });
      for (const c of [...fresh, ...clients]) {
        const r = await c.range({ key: utf8('after-respawn/'), rangeEnd: utf8('after-respawn0') });
        assert.equal(r.kvs.length, 4);
      }
    } finally {
      for (const c of fresh) c.close();
    }
  });

  it('SIGKILL of the writer takes its serving processes with it; a restart on the data dir and port serves every acknowledged write', async () => {
    const acked = new Map<string, string>();
    for (let i = 0; i < 50; i++) {
      await clients[i % 8]!.put({ key: utf8(`crash/${i}`), value: utf8(String(i)) });
      acked.set(`crash/${i}`, String(i));
    }
    const children = servingChildren(t4.pid);
    assert.equal(children.length, 2);
    await t4.kill9();
    await until('the serving processes to exit', () => children.every((pid) => !existsSync(`/proc/${pid}`)), 10_000);
    const port = t4.endpoint.split(':')[1] as string;
    const restarted = await startT4({ dataDir: t4.dataDir, args: [...ARGS, '--listen', `127.0.0.1:${port}`] });
    try {
      assert.equal(restarted.endpoint, t4.endpoint);
      const c = client(restarted.endpoint);
      try {
        const r = await c.range({ key: utf8('crash/'), rangeEnd: utf8('crash0') });
        assert.equal(r.kvs.length, acked.size);
        for (const kv of r.kvs) assert.equal(text(kv.value), acked.get(text(kv.key)));
      } finally {
        c.close();
      }
      const restartedChildren = servingChildren(restarted.pid);
      const exit = await restarted.stop('SIGTERM');
      assert.equal(exit.code, 0, restarted.logs());
      assert.ok(restartedChildren.every((pid) => !existsSync(`/proc/${pid}`)), 'SIGTERM stops the serving processes too');
    } finally {
      await restarted.cleanup();
    }
  });
});

describe('serving processes with --auth-enabled and client TLS', { skip: etcdctlBin.skip }, () => {
  let t4: T4Process;
  const certs = testCertificates();
  const tlsArgs = ['--cacert', certs.ca.cert];

  before(async () => {
    t4 = await startT4({
      args: [...ARGS, '--auth-enabled', '--client-tls-cert', certs.server.cert, '--client-tls-key', certs.server.key],
    });
  });
  after(async () => {
    await t4?.cleanup();
  });

  const ctl = async (args: string[], user?: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    etcdctl(t4.endpoint, [...tlsArgs, ...(user === undefined ? [] : ['--user', user]), ...args]);

  it('the etcdctl auth walkthrough works with every call forwarded to the writer', async () => {
    assert.equal((await ctl(['user', 'add', 'root:rootpw'])).code, 0);
    assert.equal((await ctl(['user', 'add', 'alice:alicepw'])).code, 0);
    assert.equal((await ctl(['role', 'add', 'app'])).code, 0);
    assert.equal((await ctl(['role', 'grant-permission', 'app', 'readwrite', 'app/', '--prefix'])).code, 0);
    assert.equal((await ctl(['user', 'grant-role', 'alice', 'app'])).code, 0);
    const enable = await ctl(['auth', 'enable']);
    assert.equal(enable.code, 0, enable.stderr);
    const put = await ctl(['put', 'app/x', '1'], 'alice:alicepw');
    assert.equal(put.code, 0, put.stderr);
    const get = await ctl(['get', 'app/x'], 'alice:alicepw');
    assert.equal(get.stdout, 'app/x\n1\n');
    const denied = await ctl(['get', 'other'], 'alice:alicepw');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /permission denied/);
    const anonymous = await ctl(['get', 'app/x']);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /user name is empty/);
  });
});
