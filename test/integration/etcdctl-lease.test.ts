// The real etcdctl (3.4) against the built `t4 run`: lease grant / keep-alive --once / timetolive
// --keys / revoke / list, put --lease, expiry on real time (generous bounds, never tight windows),
// and leases with their keys surviving kill -9 (then expiring with their full TTL counted from the
// restart, as etcd).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sleep, type RunResult } from '../support/child-process.js';
import { decodeB64, etcdctl, etcdctlJson } from '../support/etcdctl.js';
import { findExternal } from '../support/external.js';
import { startT4, type T4Process } from '../support/t4-process.js';

const etcdctlBin = findExternal('etcdctl');

interface Header {
  revision: number;
}
/** etcdctl 3.4 prints the grant response with its header fields flattened in. */
interface GrantJson {
  revision: number;
  ID: bigint | number;
  TTL: number;
}
interface TtlJson {
  header: Header;
  id: bigint | number;
  ttl: number;
  'granted-ttl'?: number;
  keys?: string[];
}
interface GetJson {
  header: Header;
  kvs?: { key: string; value?: string; lease?: bigint | number; mod_revision: number }[];
}

const describeRun = (args: string[], r: RunResult): string =>
  `etcdctl ${args.join(' ')} -> code ${String(r.code)}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

async function ok(ep: string, args: string[]): Promise<string> {
  const r = await etcdctl(ep, args);
  assert.equal(r.code, 0, describeRun(args, r));
  return r.stdout;
}

async function fails(ep: string, args: string[]): Promise<string> {
  const r = await etcdctl(ep, args);
  assert.notEqual(r.code, 0, `expected failure: ${describeRun(args, r)}`);
  return `${r.stdout}\n${r.stderr}`;
}

/** Grants a lease with etcdctl and returns its id as etcdctl prints it (hex). */
async function grant(ep: string, ttl: number): Promise<{ hex: string; id: bigint }> {
  const out = await ok(ep, ['lease', 'grant', String(ttl)]);
  const m = /^lease ([0-9a-f]+) granted with TTL\((\d+)s\)$/m.exec(out);
  assert.ok(m, `unexpected grant output: ${out}`);
  return { hex: m[1] as string, id: BigInt(`0x${m[1] as string}`) };
}

async function keys(ep: string, prefix: string): Promise<string[]> {
  const res = await etcdctlJson<GetJson>(ep, ['get', '--prefix', prefix]);
  return (res.kvs ?? []).map((kv) => decodeB64(kv.key) as string);
}

/** Polls until `cond` holds, up to `timeoutMs`; returns how long it took. */
async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await cond()) return Date.now() - start;
    await sleep(200);
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}

describe('etcdctl lease against T4', { skip: etcdctlBin.skip }, () => {
  let t4: T4Process;
  let ep: string;
  before(async () => {
    t4 = await startT4();
    ep = t4.endpoint;
  });
  after(async () => {
    await t4?.cleanup();
  });

  it('lease grant prints the id and TTL; TTLs below 2 s become 2 s; JSON carries the same', async () => {
    const out = await ok(ep, ['lease', 'grant', '100']);
    assert.match(out, /^lease [0-9a-f]+ granted with TTL\(100s\)\n$/);
    assert.match(await ok(ep, ['lease', 'grant', '1']), /granted with TTL\(2s\)/);
    const json = await etcdctlJson<GrantJson>(ep, ['lease', 'grant', '30']);
    assert.equal(json.TTL, 30);
    assert.ok(BigInt(json.ID) > 0n);
    assert.ok(json.revision >= 1);
  });

  it('put --lease attaches; timetolive --keys lists the keys; keep-alive --once renews', async () => {
    const { hex, id } = await grant(ep, 60);
    await ok(ep, ['put', '--lease', hex, 'att/k2', 'v']);
    await ok(ep, ['put', '--lease', hex, 'att/k1', 'v']);
    const got = await etcdctlJson<GetJson>(ep, ['get', 'att/k1']);
    assert.equal(BigInt(got.kvs?.[0]?.lease ?? 0), id);
    const ttl = await ok(ep, ['lease', 'timetolive', '--keys', hex]);
    assert.match(ttl, new RegExp(`^lease ${hex} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[att/k1 att/k2\\]\\)\\n$`));
    const json = await etcdctlJson<TtlJson>(ep, ['lease', 'timetolive', '--keys', hex]);
    assert.equal(json['granted-ttl'], 60);
    assert.deepEqual((json.keys ?? []).map(decodeB64), ['att/k1', 'att/k2']);
    assert.equal(await ok(ep, ['lease', 'keep-alive', '--once', hex]), `lease ${hex} keepalived with TTL(60)\n`);
    // Re-put without a lease detaches; deleting detaches.
    await ok(ep, ['put', 'att/k1', 'w']);
    await ok(ep, ['del', 'att/k2']);
    assert.match(await ok(ep, ['lease', 'timetolive', '--keys', hex]), /attached keys\(\[\]\)/);
  });

  it('put --ignore-lease keeps the lease; put with an unknown lease fails with etcd\'s text', async () => {
    const { hex, id } = await grant(ep, 60);
    await ok(ep, ['put', '--lease', hex, 'ign/a', '1']);
    await ok(ep, ['put', '--ignore-lease', 'ign/a', '2']);
    const got = await etcdctlJson<GetJson>(ep, ['get', 'ign/a']);
    assert.equal(BigInt(got.kvs?.[0]?.lease ?? 0), id);
    assert.equal(decodeB64(got.kvs?.[0]?.value), '2');
    assert.match(await fails(ep, ['put', '--lease', '1234abcd', 'ign/b', '1']), /etcdserver: requested lease not found/);
  });

  it('lease list shows granted leases; revoke deletes the keys at one revision', async () => {
    const { hex } = await grant(ep, 60);
    for (const k of ['rv/c', 'rv/a', 'rv/b']) await ok(ep, ['put', '--lease', hex, k, 'v']);
    const list = await ok(ep, ['lease', 'list']);
    assert.match(list, /^found \d+ leases\n/);
    assert.ok(list.split('\n').includes(hex), list);
    const before = (await etcdctlJson<GetJson>(ep, ['get', 'rv/a'])).header.revision;
    assert.equal(await ok(ep, ['lease', 'revoke', hex]), `lease ${hex} revoked\n`);
    assert.deepEqual(await keys(ep, 'rv/'), []);
    assert.equal((await etcdctlJson<GetJson>(ep, ['get', 'rv/a'])).header.revision, before + 1, 'one revision for all three deletes');
    assert.ok(!(await ok(ep, ['lease', 'list'])).split('\n').includes(hex));
    assert.match(await ok(ep, ['lease', 'timetolive', hex]), new RegExp(`^lease ${hex} already expired\\n$`));
    assert.match(await fails(ep, ['lease', 'revoke', hex]), /etcdserver: requested lease not found/);
  });

  it('keep-alive --once on an unknown lease fails as against etcd (TTL 0 means not found)', async () => {
    const out = await fails(ep, ['lease', 'keep-alive', '--once', '7777777']);
    assert.match(out, /requested lease not found/);
  });

  it('a key put with a lease disappears after the lease expires', async () => {
    const { hex } = await grant(ep, 3);
    await ok(ep, ['put', '--lease', hex, 'exp/a', 'v']);
    await ok(ep, ['put', '--lease', hex, 'exp/b', 'v']);
    const took = await eventually('the leased keys disappear', async () => (await keys(ep, 'exp/')).length === 0, 20_000);
    assert.ok(took >= 500, `gone after ${took} ms: a 3 s lease must not expire at once`);
    assert.match(await ok(ep, ['lease', 'timetolive', hex]), /already expired/);
  });
});

describe('etcdctl lease across kill -9', { skip: etcdctlBin.skip }, () => {
  let t4: T4Process | undefined;
  after(async () => {
    await t4?.cleanup();
  });

  it('leases and their keys survive kill -9, get their full TTL back, and expire afterwards', async () => {
    const first = await startT4();
    t4 = first;
    const long = await grant(first.endpoint, 600);
    const short = await grant(first.endpoint, 6);
    await ok(first.endpoint, ['put', '--lease', long.hex, 'rs/long', 'v']);
    await ok(first.endpoint, ['put', '--lease', short.hex, 'rs/short', 'v']);
    await first.kill9();

    const second = await startT4({ dataDir: first.dataDir });
    t4 = { ...second, cleanup: async () => { await second.cleanup(); await first.cleanup(); } };
    const ep = second.endpoint;
    const list = (await ok(ep, ['lease', 'list'])).split('\n');
    assert.ok(list.includes(long.hex) && list.includes(short.hex), list.join('\n'));
    assert.match(await ok(ep, ['lease', 'timetolive', '--keys', long.hex]), /granted with TTL\(600s\), remaining\((59\d|600)s\), attached keys\(\[rs\/long\]\)/);
    assert.match(await ok(ep, ['lease', 'timetolive', '--keys', short.hex]), /granted with TTL\(6s\), remaining\([3-6]s\), attached keys\(\[rs\/short\]\)/);
    assert.deepEqual(await keys(ep, 'rs/'), ['rs/long', 'rs/short']);
    await eventually('the short lease expires after the restart', async () => (await keys(ep, 'rs/')).length === 1, 30_000);
    assert.deepEqual(await keys(ep, 'rs/'), ['rs/long']);
    assert.match(await ok(ep, ['lease', 'timetolive', short.hex]), /already expired/);
  });
});
