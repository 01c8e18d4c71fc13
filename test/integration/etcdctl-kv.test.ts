// The real etcdctl (v3 API, Debian 3.4) against the built `t4 run` process: KV reads and writes,
// txn, compaction, maintenance and cluster commands, and the clear failures of what T4 does not
// implement yet. One T4 serves the main suite; keys are namespaced per test so tests do not see
// each other's data (the from-key tests use "~" prefixes, which sort after every other key here).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir, type RunResult } from '../support/child-process.js';
import { decodeB64, etcdctl, etcdctlJson } from '../support/etcdctl.js';
import { findExternal } from '../support/external.js';
import { startT4, type T4Process } from '../support/t4-process.js';


const etcdctlBin = findExternal('etcdctl');

interface Header {
  cluster_id: bigint | number;
  member_id: bigint | number;
  revision: number;
  raft_term?: number;
}
interface JsonKv {
  key: string;
  value?: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}
interface GetResponse {
  header: Header;
  kvs?: JsonKv[];
  more?: boolean;
  count?: number;
}
interface PutResponse {
  header: Header;
  prev_kv?: JsonKv;
}
interface DelResponse {
  header: Header;
  deleted?: number;
  prev_kvs?: JsonKv[];
}
interface TxnResponse {
  header: Header;
  succeeded?: boolean;
  responses?: {
    Response: {
      ResponsePut?: { header: { revision: number } };
      ResponseRange?: { header: { revision: number }; kvs?: JsonKv[]; count?: number };
      ResponseDeleteRange?: { header: { revision: number }; deleted?: number };
    };
  }[];
}
interface StatusEntry {
  Endpoint: string;
  Status: {
    header: Header;
    version: string;
    dbSize?: number;
    leader?: bigint | number;
    raftIndex?: number;
    raftTerm?: number;
    isLearner?: boolean;
  };
}
interface MemberListResponse {
  header: Header;
  members: { ID: bigint | number; name: string; clientURLs?: string[]; peerURLs?: string[]; isLearner?: boolean }[];
}

function describeRun(args: string[], r: RunResult): string {
  return `etcdctl ${args.join(' ')} -> code ${String(r.code)}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** Runs etcdctl and asserts a zero exit; returns stdout. */
async function ok(endpoint: string, args: string[], input?: string): Promise<string> {
  const r = await etcdctl(endpoint, args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, describeRun(args, r));
  return r.stdout;
}

/** Runs etcdctl and asserts a non-zero exit; returns stdout+stderr. */
async function fails(endpoint: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await etcdctl(endpoint, args, opts);
  assert.notEqual(r.code, 0, `expected failure: ${describeRun(args, r)}`);
  return `${r.stdout}\n${r.stderr}`;
}

const keysOf = (res: GetResponse): (string | undefined)[] => (res.kvs ?? []).map((kv) => decodeB64(kv.key));
const valuesOf = (res: GetResponse): (string | undefined)[] => (res.kvs ?? []).map((kv) => decodeB64(kv.value));

async function put(endpoint: string, key: string, value: string): Promise<number> {
  const res = await etcdctlJson<PutResponse>(endpoint, ['put', key, value]);
  return res.header.revision;
}

function versionAtLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] as number;
    if (Number.isNaN(a)) return false;
    if (a !== b) return a > b;
  }
  return true;
}

describe('etcdctl against t4 run', { skip: etcdctlBin.skip }, () => {
  let t4: T4Process | undefined;
  let ep = '';

  before(async () => {
    t4 = await startT4();
    ep = t4.endpoint;
  });
  after(async () => {
    await t4?.cleanup();
  });

  it('put/get on a fresh store: OK, first revision 2, -w json create/mod revision and version', async () => {
    assert.equal((await ok(ep, ['put', 'kv/a', '1'])).trim(), 'OK');
    const first = await etcdctlJson<GetResponse>(ep, ['get', 'kv/a']);
    assert.equal(first.count, 1);
    assert.deepEqual(keysOf(first), ['kv/a']);
    assert.deepEqual(valuesOf(first), ['1']);
    const kv1 = first.kvs?.[0] as JsonKv;
    // etcd starts at revision 1; the first write is revision 2.
    assert.equal(kv1.create_revision, 2);
    assert.equal(kv1.mod_revision, 2);
    assert.equal(kv1.version, 1);
    assert.equal(first.header.revision, 2);

    const rev = await put(ep, 'kv/a', '2');
    assert.equal(rev, 3);
    const second = await etcdctlJson<GetResponse>(ep, ['get', 'kv/a']);
    const kv2 = second.kvs?.[0] as JsonKv;
    assert.equal(decodeB64(kv2.value), '2');
    assert.equal(kv2.create_revision, 2, 'create_revision survives updates');
    assert.equal(kv2.mod_revision, 3);
    assert.equal(kv2.version, 2);
    assert.equal(second.header.revision, 3);

    // simple output format: key line, value line
    assert.equal(await ok(ep, ['get', 'kv/a']), 'kv/a\n2\n');
    // a missing key prints nothing and succeeds; JSON has no kvs and no count
    assert.equal(await ok(ep, ['get', 'kv/missing']), '');
    const missing = await etcdctlJson<GetResponse>(ep, ['get', 'kv/missing']);
    assert.equal(missing.kvs, undefined);
    assert.equal(missing.count, undefined);
    assert.equal(missing.header.revision, 3);
  });

  it('put --prev-kv returns the previous key-value', async () => {
    await put(ep, 'pv/k', 'old');
    const res = await etcdctlJson<PutResponse>(ep, ['put', '--prev-kv', 'pv/k', 'new']);
    assert.equal(decodeB64(res.prev_kv?.value), 'old');
    assert.equal(decodeB64(res.prev_kv?.key), 'pv/k');
    assert.equal(await ok(ep, ['get', '--print-value-only', 'pv/k']), 'new\n');
  });

  it('get --prefix returns exactly the keys under the prefix, in key order', async () => {
    for (const k of ['pre/b', 'pre/a', 'pre/c', 'prefix-not', 'pr']) await put(ep, k, `v-${k}`);
    const res = await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 'pre/']);
    assert.deepEqual(keysOf(res), ['pre/a', 'pre/b', 'pre/c']);
    assert.deepEqual(valuesOf(res), ['v-pre/a', 'v-pre/b', 'v-pre/c']);
    assert.equal(res.count, 3);
  });

  it('get key range_end returns the half-open range [key, range_end)', async () => {
    for (const k of ['rng/a', 'rng/b', 'rng/c', 'rng/d']) await put(ep, k, k);
    const res = await etcdctlJson<GetResponse>(ep, ['get', 'rng/b', 'rng/d']);
    assert.deepEqual(keysOf(res), ['rng/b', 'rng/c']);
    assert.equal(await ok(ep, ['get', 'rng/b', 'rng/d', '--keys-only']).then((s) => s.split('\n').filter(Boolean).join(',')), 'rng/b,rng/c');
    const empty = await etcdctlJson<GetResponse>(ep, ['get', 'rng/x', 'rng/z']);
    assert.equal(empty.kvs, undefined);
  });

  it('get --from-key returns every key >= the given key', async () => {
    for (const k of ['~fk/a', '~fk/b', '~fk/c']) await put(ep, k, k);
    const res = await etcdctlJson<GetResponse>(ep, ['get', '--from-key', '~fk/b']);
    assert.deepEqual(keysOf(res), ['~fk/b', '~fk/c']);
    const all = await etcdctlJson<GetResponse>(ep, ['get', '--from-key', '']);
    assert.ok(keysOf(all).includes('kv/a') && keysOf(all).includes('~fk/a'), '--from-key "" is the whole keyspace');
  });

  it('get --limit returns the first N keys with more=true and count of the whole range', async () => {
    for (const k of ['lim/1', 'lim/2', 'lim/3', 'lim/4']) await put(ep, k, k);
    const res = await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 'lim/', '--limit', '2']);
    assert.deepEqual(keysOf(res), ['lim/1', 'lim/2']);
    assert.equal(res.more, true);
    assert.equal(res.count, 4);
    const all = await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 'lim/', '--limit', '4']);
    assert.equal(all.kvs?.length, 4);
    assert.notEqual(all.more, true);
  });

  it('get --keys-only returns keys and revisions without values', async () => {
    await put(ep, 'ko/a', 'secret-a');
    await put(ep, 'ko/b', 'secret-b');
    const res = await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 'ko/', '--keys-only']);
    assert.deepEqual(keysOf(res), ['ko/a', 'ko/b']);
    for (const kv of res.kvs ?? []) {
      assert.equal(kv.value, undefined, 'no value with --keys-only');
      assert.ok(kv.mod_revision > 0 && kv.version === 1);
    }
    const text = await ok(ep, ['get', '--prefix', 'ko/', '--keys-only']);
    assert.doesNotMatch(text, /secret/);
  });

  it('get --count-only returns the count and no kvs', async (t) => {
    const help = await etcdctl(ep, ['get', '--help']);
    if (!`${help.stdout}${help.stderr}`.includes('--count-only')) {
      t.skip('this etcdctl has no --count-only (added in etcdctl 3.5); count_only is covered by node-client-kv via etcd3 count()');
      return;
    }
    for (const k of ['co/1', 'co/2', 'co/3']) await put(ep, k, k);
    const res = await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 'co/', '--count-only']);
    assert.equal(res.count, 3);
    assert.equal(res.kvs, undefined);
  });

  it('get --sort-by/--order sorts by key, create, modify, version and value', async () => {
    // creation order s/b, s/c, s/a; then s/b updated twice (version 3, newest mod)
    await put(ep, 's/b', 'm');
    await put(ep, 's/c', 'z');
    await put(ep, 's/a', 'x');
    await put(ep, 's/b', 'm2');
    await put(ep, 's/b', 'a');
    const sorted = async (target: string, order: string): Promise<(string | undefined)[]> =>
      keysOf(await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 's/', `--sort-by=${target}`, `--order=${order}`]));
    assert.deepEqual(await sorted('KEY', 'ASCEND'), ['s/a', 's/b', 's/c']);
    assert.deepEqual(await sorted('KEY', 'DESCEND'), ['s/c', 's/b', 's/a']);
    assert.deepEqual(await sorted('CREATE', 'ASCEND'), ['s/b', 's/c', 's/a']);
    assert.deepEqual(await sorted('CREATE', 'DESCEND'), ['s/a', 's/c', 's/b']);
    assert.deepEqual(await sorted('MODIFY', 'DESCEND'), ['s/b', 's/a', 's/c']);
    assert.deepEqual(await sorted('MODIFY', 'ASCEND'), ['s/c', 's/a', 's/b']);
    assert.deepEqual((await sorted('VERSION', 'DESCEND'))[0], 's/b');
    assert.deepEqual(await sorted('VALUE', 'ASCEND'), ['s/b', 's/a', 's/c']); // a < x < z
    assert.deepEqual(await sorted('VALUE', 'DESCEND'), ['s/c', 's/a', 's/b']);
    // with --limit the sort applies to the whole range before limiting
    const top = await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 's/', '--sort-by=VALUE', '--order=DESCEND', '--limit', '1']);
    assert.deepEqual(keysOf(top), ['s/c']);
    assert.equal(top.count, 3);
  });

  it('get --rev reads the key as of an older revision; a future revision fails', async () => {
    const r1 = await put(ep, 'rev/k', 'one');
    const r2 = await put(ep, 'rev/k', 'two');
    const r3 = (await etcdctlJson<DelResponse>(ep, ['del', 'rev/k'])).header.revision;
    assert.deepEqual([r2, r3], [r1 + 1, r1 + 2]);
    assert.equal(await ok(ep, ['get', 'rev/k', '--print-value-only', `--rev=${r1}`]), 'one\n');
    const at2 = await etcdctlJson<GetResponse>(ep, ['get', 'rev/k', `--rev=${r2}`]);
    assert.deepEqual(valuesOf(at2), ['two']);
    assert.equal(at2.kvs?.[0]?.version, 2);
    assert.equal(at2.kvs?.[0]?.create_revision, r1);
    assert.equal(await ok(ep, ['get', 'rev/k', `--rev=${r3}`]), '', 'deleted at r3');
    assert.equal(await ok(ep, ['get', 'rev/k', `--rev=${r1 - 1}`]), '', 'not yet created');
    const out = await fails(ep, ['get', 'rev/k', `--rev=${r3 + 1000}`]);
    assert.match(out, /etcdserver: mvcc: required revision is a future revision/);
  });

  it('del removes a single key and prints the count deleted; a missing key deletes 0', async () => {
    await put(ep, 'del/one', '1');
    await put(ep, 'del/one2', '2');
    assert.equal((await ok(ep, ['del', 'del/one'])).trim(), '1');
    assert.equal(await ok(ep, ['get', 'del/one']), '');
    assert.equal(await ok(ep, ['get', 'del/one2', '--print-value-only']), '2\n', 'only the exact key is deleted');
    const before = (await etcdctlJson<GetResponse>(ep, ['get', 'kv/a'])).header.revision;
    assert.equal((await ok(ep, ['del', 'del/none'])).trim(), '0');
    const afterRev = (await etcdctlJson<GetResponse>(ep, ['get', 'kv/a'])).header.revision;
    assert.equal(afterRev, before, 'deleting nothing does not advance the revision');
  });

  it('del --prefix removes every key under the prefix and nothing else', async () => {
    for (const k of ['dp/a', 'dp/b', 'dp/c', 'dpx']) await put(ep, k, k);
    const res = await etcdctlJson<DelResponse>(ep, ['del', '--prefix', 'dp/']);
    assert.equal(res.deleted, 3);
    assert.equal((await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 'dp/'])).kvs, undefined);
    assert.equal(await ok(ep, ['get', 'dpx', '--print-value-only']), 'dpx\n');
  });

  it('del --prev-kv returns the deleted key-values; del --from-key deletes every key >= key', async () => {
    for (const k of ['~fkdel/a', '~fkdel/b', '~fkdel/c']) await put(ep, k, `val-${k}`);
    const res = await etcdctlJson<DelResponse>(ep, ['del', '--prev-kv', '--from-key', '~fkdel/b']);
    assert.equal(res.deleted, 2);
    assert.deepEqual(
      (res.prev_kvs ?? []).map((kv) => [decodeB64(kv.key), decodeB64(kv.value)]),
      [
        ['~fkdel/b', 'val-~fkdel/b'],
        ['~fkdel/c', 'val-~fkdel/c'],
      ],
    );
    assert.deepEqual(keysOf(await etcdctlJson<GetResponse>(ep, ['get', '--prefix', '~fkdel/'])), ['~fkdel/a']);
    // simple format: count, then key/value pairs
    await put(ep, 'dpk/x', 'gone');
    assert.equal(await ok(ep, ['del', '--prev-kv', 'dpk/x']), '1\ndpk/x\ngone\n');
  });

  it('txn from stdin: compare true runs the success branch', async () => {
    await put(ep, 'txn/k', 'v1');
    const out = await ok(ep, ['txn'], 'value("txn/k") = "v1"\n\nput txn/res yes\nget txn/k\n\nput txn/res no\n\n');
    assert.match(out, /^SUCCESS\n/);
    assert.match(out, /\nOK\n/);
    assert.match(out, /txn\/k\nv1\n/);
    assert.equal(await ok(ep, ['get', 'txn/res', '--print-value-only']), 'yes\n');
  });

  it('txn from stdin: compare false runs the failure branch (JSON shows succeeded=false and per-op responses)', async () => {
    await put(ep, 'txn/k2', 'v1');
    const res = await etcdctlJson<TxnResponse>(
      ep,
      ['txn'],
      { input: 'value("txn/k2") = "other"\n\nput txn/res2 yes\n\nput txn/res2 no\nget txn/k2\ndel txn/k2\n\n' },
    );
    assert.notEqual(res.succeeded, true);
    const responses = res.responses ?? [];
    assert.equal(responses.length, 3);
    assert.ok(responses[0]?.Response.ResponsePut, 'failure branch put');
    assert.deepEqual(
      (responses[1]?.Response.ResponseRange?.kvs ?? []).map((kv) => decodeB64(kv.value)),
      ['v1'],
      'the get in the txn sees the store before the txn deletes it',
    );
    assert.equal(responses[2]?.Response.ResponseDeleteRange?.deleted, 1);
    assert.equal(await ok(ep, ['get', 'txn/res2', '--print-value-only']), 'no\n');
    assert.equal(await ok(ep, ['get', 'txn/k2']), '');
    // one txn is one revision
    const after = await etcdctlJson<GetResponse>(ep, ['get', 'txn/res2']);
    assert.equal(after.kvs?.[0]?.mod_revision, res.header.revision);
  });

  it('txn -i (interactive) with several compares: mod, version, create; all must hold', async () => {
    const created = await put(ep, 'txn/m', 'a');
    const modded = await put(ep, 'txn/m', 'b');
    const good = `mod("txn/m") = "${modded}"\nversion("txn/m") = "2"\ncreate("txn/m") = "${created}"\n\nput txn/i ok\n\nput txn/i bad\n\n`;
    const out = await ok(ep, ['txn', '-i'], good);
    assert.match(out, /SUCCESS/);
    assert.equal(await ok(ep, ['get', 'txn/i', '--print-value-only']), 'ok\n');
    const bad = `mod("txn/m") = "${modded}"\nversion("txn/m") = "3"\n\nput txn/i ok2\n\nput txn/i bad2\n\n`;
    const out2 = await ok(ep, ['txn', '-i'], bad);
    assert.match(out2, /FAILURE/);
    assert.equal(await ok(ep, ['get', 'txn/i', '--print-value-only']), 'bad2\n');
    // comparisons against a missing key: mod = 0 holds (the Kubernetes "create if absent" shape)
    const out3 = await ok(ep, ['txn'], 'mod("txn/absent") = "0"\n\nput txn/absent created\n\n\n');
    assert.match(out3, /^SUCCESS/);
    assert.equal(await ok(ep, ['get', 'txn/absent', '--print-value-only']), 'created\n');
  });

  it('endpoint status: version >= 3.5.13 and this member is the leader', async () => {
    const [entry] = await etcdctlJson<StatusEntry[]>(ep, ['endpoint', 'status']);
    assert.ok(entry, 'one status entry');
    assert.equal(entry.Endpoint, ep);
    assert.ok(versionAtLeast(entry.Status.version, [3, 5, 13]), `version ${entry.Status.version} >= 3.5.13`);
    assert.equal(String(entry.Status.leader), String(entry.Status.header.member_id), 'is leader');
    assert.ok((entry.Status.dbSize ?? 0) > 0, 'dbSize > 0');
    assert.ok(entry.Status.header.revision > 1);
    const table = await ok(ep, ['endpoint', 'status', '-w', 'table']);
    assert.match(table, /IS LEADER/);
    assert.match(table, /\|\s*true\s*\|\s*false\s*\|/, 'IS LEADER true, IS LEARNER false');
  });

  // etcdctl 3.4 dials each endpoint of `endpoint status`/`defrag` itself (clientv3 Client.Dial) and
  // then sends the endpoint string as given, e.g. "http://127.0.0.1:2379", as the HTTP/2 :authority.
  // etcd accepts that; a server must too, or `--cluster` (which always uses the advertised
  // http:// URLs) and the common `--endpoints=http://host:port` spelling break.
  it('endpoint status with --endpoints=http://host:port (scheme-prefixed, as commonly written)', async () => {
    const url = `http://${ep}`;
    const [entry] = await etcdctlJson<StatusEntry[]>(url, ['endpoint', 'status']);
    assert.equal(entry?.Endpoint, url);
    assert.ok(versionAtLeast(entry?.Status.version ?? '', [3, 5, 13]));
  });

  it('endpoint status --cluster (reaches members through their advertised client URLs)', async () => {
    const [entry] = await etcdctlJson<StatusEntry[]>(ep, ['endpoint', 'status', '--cluster']);
    assert.equal(entry?.Endpoint, `http://${ep}`);
    assert.equal(String(entry?.Status.leader), String(entry?.Status.header.member_id));
  });

  it('endpoint health --cluster reports the advertised member healthy', async () => {
    const r = await etcdctl(ep, ['endpoint', 'health', '--cluster']);
    assert.equal(r.code, 0, describeRun(['endpoint', 'health', '--cluster'], r));
    assert.match(`${r.stdout}${r.stderr}`, new RegExp(`http://${ep.replace(/\./g, '\\.')} is healthy`));
  });

  it('defrag with --endpoints=http://host:port', async () => {
    const out = await ok(`http://${ep}`, ['defrag']);
    assert.match(out, /Finished defragmenting etcd member\[http:\/\//);
  });

  it('endpoint health reports healthy', async () => {
    const r = await etcdctl(ep, ['endpoint', 'health']);
    assert.equal(r.code, 0, describeRun(['endpoint', 'health'], r));
    assert.match(`${r.stdout}${r.stderr}`, new RegExp(`${ep.replace(/\./g, '\\.')} is healthy`));
  });

  it('member list shows one started member with the advertised client URL and the status member id', async () => {
    const text = await ok(ep, ['member', 'list']);
    const lines = text.trim().split('\n');
    assert.equal(lines.length, 1, text);
    assert.match(lines[0] as string, new RegExp(`, started, .*, http://${ep.replace(/\./g, '\\.')}, false$`));
    const res = await etcdctlJson<MemberListResponse>(ep, ['member', 'list']);
    assert.equal(res.members.length, 1);
    assert.deepEqual(res.members[0]?.clientURLs, [`http://${ep}`]);
    const [status] = await etcdctlJson<StatusEntry[]>(ep, ['endpoint', 'status']);
    assert.equal(String(res.members[0]?.ID), String(status?.Status.header.member_id));
  });

  it('defrag succeeds and the data is intact afterwards', async () => {
    await put(ep, 'defrag/k', 'still-here');
    const out = await ok(ep, ['defrag']);
    assert.match(out, /Finished defragmenting etcd member\[/);
    assert.equal(await ok(ep, ['get', 'defrag/k', '--print-value-only']), 'still-here\n');
  });

  it('alarm list is empty', async () => {
    assert.equal(await ok(ep, ['alarm', 'list']), '');
    const res = await etcdctlJson<{ header: Header; alarms?: unknown[] }>(ep, ['alarm', 'list']);
    assert.equal((res.alarms ?? []).length, 0);
  });

  it('get --user root:x: the server answers Authenticate with "authentication is not enabled"', async () => {
    // etcdctl 3.4's client tolerates ErrAuthNotEnabled and continues without a token, so against
    // etcd 3.4 itself this command prints the warning and then succeeds; T4 must answer the same
    // code and text for the client to recognise it.
    await put(ep, 'auth/k', 'v');
    const r = await etcdctl(ep, ['get', 'auth/k', '--user', 'root:x']);
    assert.match(r.stderr, /code = FailedPrecondition desc = etcdserver: authentication is not enabled/, describeRun(['get', '--user'], r));
    if (r.code === 0) {
      assert.equal(r.stdout, 'auth/k\nv\n', 'etcdctl 3.4 continues without auth, as against etcd');
    } else {
      assert.match(r.stderr, /authentication is not enabled/);
    }
  });

  // Watch is served now: test/integration/etcdctl-watch.test.ts.

  it('snapshot save fails with Unimplemented and says snapshots are not supported', async () => {
    const dir = await makeTempDir('t4-snap-');
    const file = join(dir, 'snap.db');
    const out = await fails(ep, ['snapshot', 'save', file]);
    assert.match(out, /code = Unimplemented/);
    assert.match(out, /Snapshot is not supported/);
    assert.equal(existsSync(file), false, 'no snapshot file is left behind');
  });

  // Compaction last: it makes older revisions of every key above unreadable.
  it('compact N: reads below N fail "required revision has been compacted", at N still work', async () => {
    const r1 = await put(ep, 'cmp/k', 'one');
    const r2 = await put(ep, 'cmp/k', 'two');
    const r3 = await put(ep, 'cmp/k', 'three');
    assert.equal((await ok(ep, ['compact', String(r2)])).trim(), `compacted revision ${r2}`);
    const out = await fails(ep, ['get', 'cmp/k', `--rev=${r1}`]);
    assert.match(out, /etcdserver: mvcc: required revision has been compacted/);
    assert.equal(await ok(ep, ['get', 'cmp/k', '--print-value-only', `--rev=${r2}`]), 'two\n', 'the compaction revision itself is readable');
    assert.equal(await ok(ep, ['get', 'cmp/k', '--print-value-only']), 'three\n');
    // latest state is untouched for older keys too
    assert.equal(await ok(ep, ['get', 'kv/a', '--print-value-only']), '2\n');
    // compacting at or below the compacted revision fails; beyond the head is a future revision
    assert.match(await fails(ep, ['compact', String(r2)]), /required revision has been compacted/);
    assert.match(await fails(ep, ['compact', String(r3 + 1000)]), /required revision is a future revision/);
  });

  it('compact --physical N: afterwards get --rev below N fails and the data is intact', async () => {
    const r1 = await put(ep, 'cmpp/k', 'one');
    const r2 = await put(ep, 'cmpp/k', 'two');
    const out = await ok(ep, ['compact', '--physical', String(r2)]);
    assert.equal(out.trim(), `compacted revision ${r2}`);
    assert.match(await fails(ep, ['get', 'cmpp/k', `--rev=${r1}`]), /required revision has been compacted/);
    const now = await etcdctlJson<GetResponse>(ep, ['get', 'cmpp/k']);
    assert.deepEqual(valuesOf(now), ['two']);
    assert.equal(now.kvs?.[0]?.version, 2);
    assert.equal(now.kvs?.[0]?.create_revision, r1, 'create_revision kept after compaction');
    const prefix = await etcdctlJson<GetResponse>(ep, ['get', '--prefix', 's/']);
    assert.equal(prefix.count, 3, 'live keys survive physical compaction');
    // a write after compaction continues the revision sequence
    assert.equal(await put(ep, 'cmpp/k', 'three'), r2 + 1);
  });
});

describe('etcdctl member list with --advertise-client-url', { skip: etcdctlBin.skip }, () => {
  let t4: T4Process | undefined;
  before(async () => {
    t4 = await startT4({ args: ['--advertise-client-url', 'http://t4.example.internal:3379', '--node-id', 'node-adv'] });
  });
  after(async () => {
    await t4?.cleanup();
  });

  it('reports the advertised URL and the node id as the member name', async () => {
    const ep = (t4 as T4Process).endpoint;
    const text = await ok(ep, ['member', 'list']);
    assert.match(text.trim(), /^[0-9a-f]+, started, node-adv, , http:\/\/t4\.example\.internal:3379, false$/);
    const res = await etcdctlJson<MemberListResponse>(ep, ['member', 'list']);
    assert.deepEqual(res.members[0]?.clientURLs, ['http://t4.example.internal:3379']);
    assert.equal(res.members[0]?.name, 'node-adv');
  });
});
