// `etcdctl lock` and `etcdctl elect` against the built `t4 run`. Both are etcd's concurrency
// recipes: a session lease kept alive by a KeepAlive stream, a key put with that lease, and a
// Watch on the key ahead in line. They need Leases and Watch; if the Watch RPC still answers
// Unimplemented, every test here is skipped with that reason printed.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Supervised } from '../support/child-process.js';
import { etcdctl, etcdctlJson } from '../support/etcdctl.js';
import { findExternal, requireBinary } from '../support/external.js';
import { startT4, type T4Process } from '../support/t4-process.js';

const etcdctlBin = findExternal('etcdctl');

interface GetJson {
  kvs?: { key: string; value?: string; lease?: bigint | number }[];
}

function etcdctlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCDCTL_')) env[k] = v;
  env['ETCDCTL_API'] = '3';
  return env;
}

/** A long-running etcdctl (lock holder, candidate) whose output lines the test can wait for. */
function spawnEtcdctl(label: string, endpoint: string, args: string[]): Supervised {
  return new Supervised(label, requireBinary('etcdctl'), [`--endpoints=${endpoint}`, ...args], { env: etcdctlEnv() });
}

async function leasedKeys(endpoint: string, prefix: string): Promise<{ key: string; value: string; lease: bigint }[]> {
  const res = await etcdctlJson<GetJson>(endpoint, ['get', '--prefix', prefix]);
  return (res.kvs ?? []).map((kv) => ({
    key: Buffer.from(kv.key, 'base64').toString(),
    value: Buffer.from(kv.value ?? '', 'base64').toString(),
    lease: BigInt(kv.lease ?? 0),
  }));
}

/** Waits for an output line equal to `line`, including lines printed before the call. */
async function printed(proc: Supervised, line: string, what: string): Promise<void> {
  if (proc.logs().split('\n').includes(line)) return;
  await proc.waitForLine((l) => (l === line ? l : undefined), 30_000, what);
}

async function eventually(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}

describe('etcdctl lock and elect against T4', { skip: etcdctlBin.skip }, () => {
  let t4: T4Process;
  let ep: string;
  let watchMissing: string | undefined;
  const children: Supervised[] = [];

  before(async () => {
    t4 = await startT4();
    ep = t4.endpoint;
    // etcdctl watch exits at once with the server's error when Watch is not served; when Watch is
    // served it keeps running, so a short timeout ends the probe.
    const probe = await etcdctl(ep, ['watch', 'lock-elect-probe'], { timeoutMs: 1_500 }).catch(() => undefined);
    if (probe !== undefined && /Unimplemented/.test(`${probe.stdout}${probe.stderr}`)) {
      watchMissing = 'the Watch RPC answers Unimplemented in this build: lock and elect need Watch';
    }
  });
  after(async () => {
    for (const c of children) await c.kill9();
    await t4?.cleanup();
  });

  const needWatch = (t: TestContext): boolean => {
    if (watchMissing === undefined) return true;
    t.diagnostic(`skipped: ${watchMissing}`);
    t.skip(watchMissing);
    return false;
  };

  it('lock runs a command while holding the lock, then releases it', async (t) => {
    if (!needWatch(t)) return;
    const r = await etcdctl(ep, ['lock', 'lk/one', 'echo', 'held'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'held');
    assert.deepEqual(await leasedKeys(ep, 'lk/one'), [], 'the lock key is gone (session lease revoked)');
  });

  it('a second locker waits until the first releases (mutual exclusion)', async (t) => {
    if (!needWatch(t)) return;
    const holder = spawnEtcdctl('lock-holder', ep, ['lock', 'lk/mutex']);
    children.push(holder);
    const ownerKey = await holder.waitForLine((l) => (l.startsWith('lk/mutex/') ? l : undefined), 30_000, 'the lock key printed by the holder');
    const [held] = await leasedKeys(ep, 'lk/mutex/');
    assert.equal(held?.key, ownerKey);
    assert.ok((held?.lease ?? 0n) !== 0n, 'the lock key is attached to the session lease');

    const waiterStarted = Date.now();
    const waiter = etcdctl(ep, ['lock', 'lk/mutex', 'echo', 'second'], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    let waiterDone = false;
    void waiter.then(() => (waiterDone = true));
    assert.equal(waiterDone, false, 'the second locker must wait while the first holds the lock');
    await holder.stop('SIGINT');
    const r = await waiter;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'second');
    assert.ok(Date.now() - waiterStarted >= 2_000);
  });

  it('a lock held by a killed client is released when its session lease expires', async (t) => {
    if (!needWatch(t)) return;
    const holder = spawnEtcdctl('lock-killed', ep, ['lock', '--ttl', '3', 'lk/killed']);
    children.push(holder);
    await holder.waitForLine((l) => (l.startsWith('lk/killed/') ? l : undefined), 30_000, 'the lock key');
    await holder.kill9(); // no revoke: only expiry frees the lock
    const r = await etcdctl(ep, ['lock', 'lk/killed', 'echo', 'after-expiry'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'after-expiry');
  });

  it('elect: a candidate becomes leader, an observer sees it, resigning hands over to the next', async (t) => {
    if (!needWatch(t)) return;
    const first = spawnEtcdctl('candidate-1', ep, ['elect', 'el/name', 'p1']);
    children.push(first);
    await printed(first, 'p1', 'candidate 1 elected (prints its proposal)');
    const observer = spawnEtcdctl('observer', ep, ['elect', '-l', 'el/name']);
    children.push(observer);
    await printed(observer, 'p1', 'the observer sees p1');

    const second = spawnEtcdctl('candidate-2', ep, ['elect', 'el/name', 'p2']);
    children.push(second);
    await eventually('both candidates have keys', async () => (await leasedKeys(ep, 'el/name/')).length === 2, 30_000);
    assert.ok(!second.logs().split('\n').includes('p2'), 'candidate 2 is not leader while candidate 1 is');

    await first.stop('SIGINT'); // resigns: its key is deleted
    await printed(second, 'p2', 'candidate 2 elected after candidate 1 resigned');
    await printed(observer, 'p2', 'the observer sees p2');
    const keys = await leasedKeys(ep, 'el/name/');
    assert.deepEqual(keys.map((k) => k.value), ['p2']);
  });
});
