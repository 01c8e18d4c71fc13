// `t4 run` as a process: flag and environment validation (exit 2, message naming the flag), env
// vars and flag precedence, the data dir lock, graceful shutdown on SIGTERM/SIGINT, durability
// across restart and kill -9, log levels, and the standard gRPC health service.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from '../../src/adapters/grpc/gen/grpc/health/v1/health_pb.js';
import { formatExit, freePort, makeTempDir, sleep, Supervised, type RunResult } from '../support/child-process.js';
import { repoRoot, runT4, startT4, t4CliPath, type T4Process } from '../support/t4-process.js';

// ---------------------------------------------------------------------------------------------
// helpers

/** process.env without any T4_* variable, so the parent's environment cannot leak into a test. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('T4_')) env[k] = v;
  return { ...env, ...extra };
}

/** Blank T4_* vars: runT4/startT4 merge over process.env, and empty values are ignored by t4. */
function blankT4Env(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('T4_')) env[k] = '';
  return { ...env, ...extra };
}

function describeRun(r: RunResult): string {
  return `exit ${String(r.code)} signal ${String(r.signal)}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** The pino JSON lines in a process's output (other lines are ignored). */
function logLines(output: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of output.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const entry = JSON.parse(text) as Partial<LogLine>;
      if (typeof entry.level === 'number' && typeof entry.msg === 'string') lines.push(entry as LogLine);
    } catch {
      // not a log line
    }
  }
  return lines;
}

const INFO = 30;

/** A `t4 run` child started with exactly these args and env (no defaults added). */
function spawnT4(args: string[], env: NodeJS.ProcessEnv): Supervised {
  return new Supervised('t4', process.execPath, [t4CliPath(), 'run', ...args], { cwd: repoRoot(), env });
}

function readyAddress(proc: Supervised, timeoutMs = 30_000): Promise<string> {
  return proc.waitForLine(
    (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: unknown; address?: unknown };
        return entry.msg === 'serving etcd v3 gRPC' && typeof entry.address === 'string' ? entry.address : undefined;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
    'the "serving etcd v3 gRPC" log line',
  );
}

/** grpc.health.v1.Health/Check over a plain grpc-js client with the generated schemas. */
function healthCheck(endpoint: string, service = ''): Promise<{ status: ServingStatus } | { error: grpc.ServiceError }> {
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  return new Promise<{ status: ServingStatus } | { error: grpc.ServiceError }>((resolve) => {
    client.makeUnaryRequest<HealthCheckRequest, HealthCheckResponse>(
      '/grpc.health.v1.Health/Check',
      (req) => Buffer.from(toBinary(HealthCheckRequestSchema, req)),
      (buf) => fromBinary(HealthCheckResponseSchema, buf),
      create(HealthCheckRequestSchema, { service }),
      { deadline: Date.now() + 5_000 },
      (err, res) => resolve(err ? { error: err } : { status: (res as HealthCheckResponse).status }),
    );
  }).finally(() => client.close());
}

/** Polls the health service until SERVING (for processes whose ready log line is suppressed). */
async function waitServing(proc: Supervised, endpoint: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (!proc.running) throw proc.error(`exited before serving (${last})`);
    const res = await healthCheck(endpoint);
    if ('status' in res && res.status === ServingStatus.SERVING) return;
    last = 'status' in res ? `status ${ServingStatus[res.status]}` : res.error.message;
    await sleep(100);
  }
  throw proc.error(`not SERVING on ${endpoint} after ${timeoutMs}ms (${last})`);
}

/** True if something accepts TCP connections on 127.0.0.1:port. */
function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function client(endpoint: string): Etcd3 {
  return new Etcd3({ hosts: `http://${endpoint}` });
}

const putOps = (c: Etcd3, prefix: string, count: number) => Array.from({ length: count }, (_, i) => c.put(`${prefix}/${i}`).value('v'));

async function txnError(c: Etcd3, prefix: string, ops: number): Promise<string | undefined> {
  try {
    await c.if(`${prefix}/none`, 'Mod', '==', 0).then(...putOps(c, prefix, ops)).commit();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

// ---------------------------------------------------------------------------------------------

describe('t4 run: bad flag and env values exit 2 naming the flag', () => {
  const cases: { name: string; args: string[]; env?: Record<string, string>; message: RegExp }[] = [
    { name: '--listen nonsense', args: ['--listen', 'nonsense'], message: /--listen: "nonsense" is not host:port/ },
    { name: '--listen with port 70000', args: ['--listen', '127.0.0.1:70000'], message: /--listen: "127\.0\.0\.1:70000"/ },
    { name: '--log-level loud', args: ['--log-level', 'loud'], message: /--log-level: "loud" is not a log level/ },
    { name: '--max-request-bytes -1', args: ['--max-request-bytes', '-1'], message: /--max-request-bytes: "-1" must be a whole number/ },
    { name: '--max-txn-ops 0', args: ['--max-txn-ops', '0'], message: /--max-txn-ops: "0" must be a whole number/ },
    { name: '--advertise-client-url "not a url"', args: ['--advertise-client-url', 'not a url'], message: /--advertise-client-url: "not a url"/ },
    { name: '--data-dir ""', args: ['--data-dir', ''], message: /--data-dir: must not be empty/ },
    { name: 'unknown flag', args: ['--no-such-flag', '1'], message: /unknown option '--no-such-flag'/ },
    { name: 'a stray positional argument', args: ['extra'], message: /too many arguments/ },
    { name: 'T4_LOG_LEVEL=loud', args: [], env: { T4_LOG_LEVEL: 'loud' }, message: /T4_LOG_LEVEL: "loud" is not a log level/ },
    { name: 'T4_MAX_TXN_OPS=0', args: [], env: { T4_MAX_TXN_OPS: '0' }, message: /T4_MAX_TXN_OPS: "0"/ },
  ];
  // Each case is a short-lived process (~0.4 s of module loading): run them two at a time up front.
  const results = new Map<string, RunResult>();
  let help: RunResult | undefined;
  before(async () => {
    const dataDir = await makeTempDir('t4-cli-bad-');
    const queue = [...cases];
    const helpRun = runT4(['run', '--help'], { env: blankT4Env() }).then((r) => (help = r));
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
        // --data-dir first so a case's own --data-dir overrides it
        const r = await runT4(['run', '--data-dir', dataDir, ...c.args], { env: blankT4Env(c.env), timeoutMs: 20_000 });
        results.set(c.name, r);
      }
    };
    await Promise.all([worker(), helpRun.then(worker)]);
  });

  for (const c of cases) {
    it(`${c.name} → exit 2 with a message naming it`, () => {
      const r = results.get(c.name);
      assert.ok(r, 'ran');
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, c.message, describeRun(r));
      assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'a usage error, not a stack trace');
      assert.equal(logLines(r.stdout).filter((l) => l.msg === 'serving etcd v3 gRPC').length, 0, 'never served');
    });
  }

  it('run --help exits 0 and documents every flag with its env var', () => {
    const r = help as RunResult;
    assert.equal(r.code, 0, describeRun(r));
    for (const [flag, env] of [
      ['--data-dir', 'T4_DATA_DIR'],
      ['--listen', 'T4_LISTEN'],
      ['--advertise-client-url', 'T4_ADVERTISE_CLIENT_URL'],
      ['--log-level', 'T4_LOG_LEVEL'],
      ['--node-id', 'T4_NODE_ID'],
      ['--max-request-bytes', 'T4_MAX_REQUEST_BYTES'],
      ['--max-txn-ops', 'T4_MAX_TXN_OPS'],
    ] as const) {
      assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
      assert.ok(r.stdout.replace(/\s+/g, ' ').includes(env), `help mentions ${env}`);
    }
  });
});

describe('t4 run: environment variables and flag precedence', () => {
  const procs: Supervised[] = [];
  const clients: Etcd3[] = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const p of procs) await p.kill9();
  });

  it('T4_DATA_DIR, T4_LISTEN and T4_MAX_TXN_OPS configure a node started with no flags at all', async () => {
    const port = await freePort();
    const dir = await makeTempDir('t4-cli-env-');
    const proc = spawnT4([], cleanEnv({ T4_DATA_DIR: dir, T4_LISTEN: `127.0.0.1:${port}`, T4_MAX_TXN_OPS: '4' }));
    procs.push(proc);
    const address = await readyAddress(proc);
    assert.equal(address, `127.0.0.1:${port}`);
    const starting = logLines(proc.logs()).find((l) => l.msg === 'starting t4');
    assert.equal(starting?.['listen'], `127.0.0.1:${port}`);
    assert.equal(starting?.['dataDir'], dir);
    assert.ok(existsSync(join(dir, 'LOCK')), 'the data dir from T4_DATA_DIR holds the lock');

    const c = client(address);
    clients.push(c);
    assert.equal(await txnError(c, 'env4', 4), undefined, '4 ops within T4_MAX_TXN_OPS=4');
    assert.match((await txnError(c, 'env5', 5)) ?? 'no error', /etcdserver: too many operations in txn request/);
  });

  it('T4_LOG_LEVEL=warn suppresses info lines', async () => {
    const port = await freePort();
    const dir = await makeTempDir('t4-cli-envlog-');
    const proc = spawnT4(['--data-dir', dir, '--listen', `127.0.0.1:${port}`], cleanEnv({ T4_LOG_LEVEL: 'warn' }));
    procs.push(proc);
    await waitServing(proc, `127.0.0.1:${port}`);
    const c = client(`127.0.0.1:${port}`);
    clients.push(c);
    await c.put('k').value('v');
    assert.equal(await c.get('k').string(), 'v');
    const infos = logLines(proc.logs()).filter((l) => l.level <= INFO);
    assert.deepEqual(infos, [], `no info lines at warn:\n${proc.logs()}`);
  });

  it('flags beat their env vars: --listen, --max-txn-ops and --log-level over T4_LISTEN, T4_MAX_TXN_OPS, T4_LOG_LEVEL', async () => {
    const [envPort, flagPort] = [await freePort(), await freePort()];
    const dir = await makeTempDir('t4-cli-prec-');
    const proc = spawnT4(
      ['--data-dir', dir, '--listen', `127.0.0.1:${flagPort}`, '--max-txn-ops', '8', '--log-level', 'info'],
      cleanEnv({ T4_LISTEN: `127.0.0.1:${envPort}`, T4_MAX_TXN_OPS: '4', T4_LOG_LEVEL: 'warn' }),
    );
    procs.push(proc);
    // the ready line is an info line: seeing it shows --log-level info beat T4_LOG_LEVEL=warn
    const address = await readyAddress(proc);
    assert.equal(address, `127.0.0.1:${flagPort}`);
    assert.equal(await acceptsConnections(envPort), false, 'nothing listens on the T4_LISTEN port');
    const c = client(address);
    clients.push(c);
    assert.equal(await txnError(c, 'prec5', 5), undefined, '5 ops allowed by --max-txn-ops 8 despite T4_MAX_TXN_OPS=4');
    assert.match((await txnError(c, 'prec9', 9)) ?? 'no error', /too many operations in txn request/);
  });
});

describe('t4 run --log-level warn', () => {
  let proc: Supervised | undefined;
  let dir = '';
  let endpoint = '';
  before(async () => {
    const port = await freePort();
    dir = await makeTempDir('t4-cli-warn-');
    endpoint = `127.0.0.1:${port}`;
    proc = spawnT4(['--data-dir', dir, '--listen', endpoint, '--log-level', 'warn'], cleanEnv());
    await waitServing(proc, endpoint);
  });
  after(async () => {
    await proc?.kill9();
  });

  it('serves without writing any info line', async () => {
    const c = client(endpoint);
    try {
      await c.put('w').value('1');
      assert.equal(await c.get('w').string(), '1');
    } finally {
      c.close();
    }
    const p = proc as Supervised;
    assert.deepEqual(
      logLines(p.logs()).filter((l) => l.level <= INFO),
      [],
      `no info lines:\n${p.logs()}`,
    );
  });

  it('still writes error lines (a second node on the same data dir at warn)', async () => {
    const r = await runT4(['run', '--data-dir', dir, '--listen', '127.0.0.1:0', '--log-level', 'warn'], { env: blankT4Env(), timeoutMs: 15_000 });
    assert.notEqual(r.code, 0, describeRun(r));
    const lines = logLines(r.stdout);
    assert.ok(lines.some((l) => l.level >= 50), `an error line:\n${describeRun(r)}`);
    assert.deepEqual(lines.filter((l) => l.level <= INFO), [], `no info lines (e.g. "starting t4"):\n${describeRun(r)}`);
  });

  it('on SIGTERM exits 0 without info lines', async () => {
    const p = proc as Supervised;
    const exit = await p.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, `${formatExit(exit)}\n${p.logs()}`);
    assert.deepEqual(logLines(p.logs()).filter((l) => l.level <= INFO), []);
  });
});

describe('a running t4: data dir lock and gRPC health', () => {
  let t4: T4Process | undefined;
  before(async () => {
    t4 = await startT4();
  });
  after(async () => {
    await t4?.cleanup();
  });

  it('a second t4 run on the same data dir exits non-zero saying the data dir is in use; the first keeps serving', async () => {
    const first = t4 as T4Process;
    const c = client(first.endpoint);
    try {
      await c.put('lock/before').value('1');
      const r = await runT4(['run', '--data-dir', first.dataDir, '--listen', '127.0.0.1:0'], { env: blankT4Env(), timeoutMs: 15_000 });
      assert.notEqual(r.code, 0, describeRun(r));
      assert.equal(r.signal, null);
      assert.match(r.stderr, /data dir .* is in use/, describeRun(r));
      assert.equal(logLines(r.stdout).filter((l) => l.msg === 'serving etcd v3 gRPC').length, 0, 'the second node never served');

      // the first is unaffected: still running, reads and writes work, no shutdown logged
      await c.put('lock/after').value('2');
      assert.equal(await c.get('lock/before').string(), '1');
      assert.equal(await c.get('lock/after').string(), '2');
      assert.doesNotMatch(first.logs(), /shutting down|store closed/);
      const h = await healthCheck(first.endpoint);
      assert.deepEqual(h, { status: ServingStatus.SERVING });
    } finally {
      c.close();
    }
  });

  it('t4 run on a port already in use exits 1 with "address already in use"; the first keeps serving', async () => {
    const first = t4 as T4Process;
    const dir = await makeTempDir('t4-cli-port-');
    const r = await runT4(['run', '--data-dir', dir, '--listen', first.endpoint], { env: blankT4Env(), timeoutMs: 15_000 });
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, new RegExp(`cannot listen on ${first.endpoint.replace(/\./g, '\\.')}: .*address already in use`), describeRun(r));
    assert.deepEqual(await healthCheck(first.endpoint), { status: ServingStatus.SERVING });
  });

  it('grpc.health.v1.Health/Check answers SERVING for the server ("") and for etcdserverpb.KV', async () => {
    const ep = (t4 as T4Process).endpoint;
    assert.deepEqual(await healthCheck(ep, ''), { status: ServingStatus.SERVING });
    assert.deepEqual(await healthCheck(ep, 'etcdserverpb.KV'), { status: ServingStatus.SERVING });
  });

  it('grpc.health.v1.Health/Check for an unknown service is NOT_FOUND', async () => {
    const res = await healthCheck((t4 as T4Process).endpoint, 'no.such.Service');
    assert.ok('error' in res, `expected an error, got ${JSON.stringify(res)}`);
    assert.equal(res.error.code, grpc.status.NOT_FOUND);
  });
});

describe('t4 run: shutdown, restart and durability', () => {
  const started: T4Process[] = [];
  const start = async (dataDir?: string): Promise<T4Process> => {
    const p = await startT4({ env: blankT4Env(), ...(dataDir === undefined ? {} : { dataDir }) });
    started.push(p);
    return p;
  };
  after(async () => {
    // data dirs are owned by the first process of each chain: clean up in reverse order
    for (const p of started.reverse()) await p.cleanup();
  });

  interface Snapshot {
    head: number;
    kvs: Record<string, { value: string; create: number; mod: number; version: number }>;
  }
  async function snapshot(c: Etcd3, prefix: string): Promise<Snapshot> {
    const res = await c.getAll().prefix(prefix).exec();
    const kvs: Snapshot['kvs'] = {};
    for (const kv of res.kvs) {
      kvs[kv.key.toString()] = { value: kv.value.toString(), create: Number(kv.create_revision), mod: Number(kv.mod_revision), version: Number(kv.version) };
    }
    return { head: Number(res.header.revision), kvs };
  }

  /** put a, put b, update a, put c, delete c: the head revision comes from a delete. */
  async function writeSome(c: Etcd3): Promise<Snapshot> {
    await c.put('d/a').value('a1');
    await c.put('d/b').value('b1');
    await c.put('d/a').value('a2');
    await c.put('d/c').value('c1');
    const del = await c.delete().key('d/c').exec();
    const snap = await snapshot(c, 'd/');
    assert.equal(snap.head, Number(del.header.revision));
    assert.deepEqual(Object.keys(snap.kvs), ['d/a', 'd/b']);
    return snap;
  }

  async function checkAfterRestart(p: T4Process, expected: Snapshot): Promise<void> {
    const opened = logLines(p.logs()).find((l) => l.msg === 'store opened');
    assert.equal(opened?.['revision'], expected.head, 'the "store opened" line reports the head revision');
    const c = client(p.endpoint);
    try {
      assert.deepEqual(await snapshot(c, 'd/'), expected, 'same keys, values and revisions after restart');
      const next = await c.put('d/next').value('n').exec();
      assert.equal(Number(next.header.revision), expected.head + 1, 'the next put continues the revision sequence');
    } finally {
      c.close();
    }
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: exits 0 promptly, logs the shutdown, and data persists with the same revisions`, async () => {
      const first = await start();
      const c = client(first.endpoint);
      let expected: Snapshot;
      try {
        expected = await writeSome(c);
        // an idle open client connection must not hold up the shutdown
        const t0 = Date.now();
        const exit = await first.stop(signal);
        const elapsed = Date.now() - t0;
        assert.deepEqual(exit, { code: 0, signal: null }, `${formatExit(exit)}\n${first.logs()}`);
        assert.ok(elapsed < 4_000, `stopped in ${elapsed}ms`);
      } finally {
        c.close();
      }
      const lines = logLines(first.logs());
      assert.ok(lines.some((l) => l.msg === 'shutting down' && l['signal'] === signal), `"shutting down" with signal ${signal}`);
      assert.ok(lines.some((l) => l.msg === 'store closed'), '"store closed" logged');

      const second = await start(first.dataDir);
      await checkAfterRestart(second, expected);
      assert.deepEqual(await second.stop('SIGTERM'), { code: 0, signal: null });
    });
  }

  it('SIGTERM under write load: exits 0 and every acknowledged write survives the restart', async () => {
    const first = await start();
    const c = client(first.endpoint);
    const acked = new Map<string, number>();
    let stopping = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stopping; i++) {
        const key = `load/${w}/${String(i).padStart(5, '0')}`;
        try {
          const r = await c.put(key).value(`v${i}`).options({ deadline: Date.now() + 3_000 }).exec();
          acked.set(key, Number(r.header.revision));
        } catch {
          return; // the server went away
        }
      }
    };
    let exit;
    try {
      const writers = Array.from({ length: 8 }, (_, w) => writer(w));
      const deadline = Date.now() + 15_000;
      while (acked.size < 100 && Date.now() < deadline) await sleep(10);
      assert.ok(acked.size >= 100, `only ${acked.size} writes acknowledged before SIGTERM\n${first.logs()}`);
      exit = await first.stop('SIGTERM');
      stopping = true;
      await Promise.all(writers);
    } finally {
      stopping = true;
      c.close();
    }
    assert.deepEqual(exit, { code: 0, signal: null }, `${formatExit(exit)}\n${first.logs()}`);
    const revs = [...acked.values()];
    assert.equal(new Set(revs).size, revs.length, 'acknowledged revisions are distinct');

    const second = await start(first.dataDir);
    const c2 = client(second.endpoint);
    try {
      const res = await c2.getAll().prefix('load/').exec();
      const stored = new Map(res.kvs.map((kv) => [kv.key.toString(), Number(kv.mod_revision)]));
      const lost = [...acked].filter(([key, rev]) => stored.get(key) !== rev);
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of ${acked.size} acknowledged writes missing or changed after restart`);
      assert.ok(Number(res.header.revision) >= Math.max(...revs));
    } finally {
      c2.close();
    }
  });

  it('kill -9: the lock is released and a restart has every acknowledged write and the compaction', async () => {
    const first = await start();
    const c = client(first.endpoint);
    let expected: Snapshot;
    let acked: number[];
    try {
      await writeSome(c);
      const puts = await Promise.all(Array.from({ length: 40 }, (_, i) => c.put(`d/k${String(i).padStart(2, '0')}`).value(`v${i}`).exec()));
      acked = puts.map((r) => Number(r.header.revision));
      expected = await snapshot(c, 'd/');
      await c.kv.compact({ revision: String(expected.head - 10), physical: false });
    } finally {
      c.close();
    }
    await first.kill9();
    assert.equal(expected.head, Math.max(...acked));

    const second = await start(first.dataDir);
    assert.doesNotMatch(second.logs(), /in use/);
    // the compaction survived too: below it is gone, at it is readable
    const c2 = client(second.endpoint);
    try {
      const compactedAt = expected.head - 10;
      await assert.rejects(c2.get('d/a').revision(compactedAt - 1).string(), /required revision has been compacted/);
      assert.equal(await c2.get('d/a').revision(compactedAt).string(), 'a2');
    } finally {
      c2.close();
    }
    await checkAfterRestart(second, expected);
  });
});
