#!/usr/bin/env node
// `npm run bench`: T4 and etcd side by side, driven by the same lean client (bench/lib/h2-client.mjs:
// pre-encoded requests as raw HTTP/2 frames, responses scanned, not decoded). For each scenario it
// starts a fresh `t4 run` and a fresh etcd (and MinIO for single-s3), runs each workload on T4 then
// on etcd, prints one table per scenario and the issue's targets (met or not, with the numbers),
// and writes JSON and an SVG chart of the ratios per scenario to bench/results/.
// Before the servers, the client is calibrated against T4's gRPC server with an empty handler, and
// fdatasync is timed on the disk the data dirs use. See docs/performance.md ("npm run bench").
//
//   node bench/run.mjs [--ops 10000] [--seconds 20] [--workloads seq-put,watch] [--scenario single,single-s3]
//   node bench/run.mjs --report bench/results/<run>.json     (tables and SVGs of a saved run)
import { closeSync, fdatasync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { h2load, h2loadAvailable } from './lib/h2load.mjs';
import { calibrationTable, comparisonTable, percentile, ratioSvg, summarize, targetChecks, targetsTable } from './lib/report.mjs';
import { PATH, getBody, key, putBody } from './lib/requests.mjs';
import { processCpuSeconds, startEcho, startEtcd, startMinio, startT4 } from './lib/servers.mjs';
import { CLIENT_KINDS, WORKLOADS, connect, echoWorkload, useClient } from './lib/workloads.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SCENARIOS = ['single', 'single-s3'];
const DEFAULT_SCENARIOS = 'single,single-s3';

const { values: flags } = parseArgs({
  options: {
    ops: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '20' },
    workloads: { type: 'string', default: WORKLOADS.map((w) => w.name).join(',') },
    scenario: { type: 'string', default: DEFAULT_SCENARIOS },
    client: { type: 'string', default: 'h2' },
    'serving-processes': { type: 'string' },
    'calibration-seconds': { type: 'string' },
    'no-h2load': { type: 'boolean', default: false },
    out: { type: 'string', default: join(here, 'results') },
    report: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (flags.help) {
  console.log(`usage: node bench/run.mjs [options]
  --ops N                 most ops per workload and server (default 10000; for k8s-list an op is a whole list)
  --seconds S             time cap per workload and server, excluding preload (default 20)
  --workloads a,b         subset of: ${WORKLOADS.map((w) => w.name).join(', ')}
  --scenario A,B          scenarios to run, in order (default ${DEFAULT_SCENARIOS}): single (T4 on local disk),
                          single-s3 (T4 with MinIO as its durable layer); etcd is the same in each
  --client NAME           h2 (raw HTTP/2 frames, the default) | node-http2 (node:http2; slower, for comparison)
  --serving-processes N   t4 run --serving-processes N (default: t4's own default)
  --calibration-seconds S time cap of each echo calibration run (default: min(--seconds, 5))
  --no-h2load             skip the h2load ceiling even when h2load is installed
  --out DIR               where JSON and SVG go (default bench/results)
  --report FILE.json      print the tables of a saved run again and rewrite its SVG (no servers started)`);
  process.exit(0);
}

const opsMax = positiveInt(flags.ops, '--ops');
const seconds = positiveNumber(flags.seconds, '--seconds');
const calibrationSeconds = flags['calibration-seconds'] === undefined ? Math.min(seconds, 5) : positiveNumber(flags['calibration-seconds'], '--calibration-seconds');
const scenarios = flags.scenario.split(',').map((x) => x.trim()).filter(Boolean);
for (const sc of scenarios) if (!SCENARIOS.includes(sc)) usage(`--scenario: ${sc} is not one of ${SCENARIOS.join(', ')}`);
if (!CLIENT_KINDS.includes(flags.client)) usage(`--client must be one of ${CLIENT_KINDS.join(', ')}`);
useClient(flags.client);
const selected = flags.workloads.split(',').map((s) => s.trim()).filter(Boolean);
for (const name of selected) if (!WORKLOADS.some((w) => w.name === name)) usage(`unknown workload ${name}; known: ${WORKLOADS.map((w) => w.name).join(', ')}`);
const servingProcesses = flags['serving-processes'] === undefined ? undefined : wholeNumber(flags['serving-processes'], '--serving-processes');
const workloads = WORKLOADS.filter((w) => selected.includes(w.name));

function usage(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}
function positiveInt(s, flag) {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) usage(`${flag} must be a positive integer`);
  return n;
}
function wholeNumber(s, flag) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) usage(`${flag} must be a whole number`);
  return n;
}
function positiveNumber(s, flag) {
  const n = Number(s);
  if (!(n > 0)) usage(`${flag} must be a positive number`);
  return n;
}

const log = (msg) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** Most time each workload warms up on each server before it is measured (not counted). */
const WARMUP_SECONDS = 1.5;
/** Time allowed beyond --seconds for preloading, warm-up and calls in flight at the deadline. */
const OVERRUN_MS_MAX = 120_000;

/**
 * prepare, a short untimed warm-up, then the measured run with client and server CPU. A run that
 * is still going OVERRUN_MS_MAX after its cap (a server that stopped answering) is abandoned: its
 * connections are destroyed and it is reported as an error.
 */
async function runWorkload(workload, server, { ops, capSeconds }) {
  const ctx = { endpoint: server.endpoint };
  let state;
  let timer;
  const overrun = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${capSeconds} s + ${OVERRUN_MS_MAX / 1000} s`)), capSeconds * 1000 + OVERRUN_MS_MAX);
  });
  let force = false;
  try {
    const run = (async () => {
      state = await workload.prepare(ctx);
      // The same warm-up for both servers: up to WARMUP_SECONDS of the workload itself, so a
      // just-started server (V8 still compiling T4's hot path; caches cold on either) is measured
      // in its steady state, as it runs in production, not in its first second.
      const warmupOps = workload.name === 'k8s-list' || workload.name === 'watch-fanout' ? 20 : workload.clients * 500;
      await workload.measure(ctx, state, { ops: warmupOps, deadlineMs: performance.now() + WARMUP_SECONDS * 1000 });
      const cpu0 = process.cpuUsage();
      const server0 = processCpuSeconds(server.pid);
      const t0 = performance.now();
      const { latenciesMs, extra } = await workload.measure(ctx, state, { ops, deadlineMs: t0 + capSeconds * 1000 });
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const serverCpuMs = (processCpuSeconds(server.pid) - server0) * 1000;
      return summarize({ latenciesMs, wallMs, clientCpuMs: (cpu.user + cpu.system) / 1000, serverCpuMs, extra });
    })();
    return await Promise.race([run, overrun]);
  } catch (error) {
    force = true;
    log(`${workload.name} on ${server.name}: ${error.stack ?? error}`);
    return { error: String(error.message ?? error).slice(0, 120) };
  } finally {
    clearTimeout(timer);
    if (state) await workload.cleanup(state, force).catch(() => {});
  }
}

/** One progress line per run, on stderr. */
function line(name, s) {
  if (s.error) return `${name}: error ${s.error}`;
  const serverCpu = s.serverCpuShare === null ? '?' : `${Math.round(s.serverCpuShare * 100)}%`;
  return (
    `${name}: ${s.ops} ops in ${(s.wallMs / 1000).toFixed(1)} s, ${s.opsPerS} ops/s, p50 ${s.p50Ms} p99 ${s.p99Ms} p999 ${s.p999Ms} ms, ` +
    `client CPU ${Math.round(s.clientCpuShare * 100)}% (${s.clientCpuUsPerOp} µs/op), server CPU ${serverCpu}`
  );
}

/**
 * h2load (when installed), 16 connections: a one-key Range and a one-key Put replayed, a C
 * client's ceiling for the same server. Each request is first checked with our client, since
 * h2load sees HTTP statuses only, not grpc-status.
 */
async function h2loadCeiling(server, scratch) {
  const conn = await connect(server.endpoint);
  const k = key('h2load', 0);
  const requests = { range: [PATH.range, getBody(k)], put: [PATH.put, putBody(k)] };
  try {
    await conn.unary(PATH.put, requests.put[1]);
    await conn.unary(PATH.range, requests.range[1]);
  } finally {
    await conn.close();
  }
  const out = {};
  for (const [name, [path, body]] of Object.entries(requests)) {
    out[name] = await h2load({ endpoint: server.endpoint, path, body, bodyFile: join(scratch, `${name}.bin`), clients: 16, seconds: Math.min(seconds, 5) });
  }
  return out;
}

/**
 * fdatasync on the disk the data dirs use (os.tmpdir()): `appends` appends of a 400-byte frame,
 * each followed by fdatasync, as T4's WAL does; once called on the event loop (the syscall alone)
 * and once through libuv's thread pool (as Node's async fs does). p50 and p99 in ms.
 */
function measureFdatasync(dir, appends = 2000) {
  const path = join(dir, 'fdatasync-probe');
  const fd = openSync(path, 'w');
  const frame = Buffer.alloc(400, 0x61);
  const summary = (ms) => {
    const sorted = Float64Array.from(ms).sort();
    return { p50Ms: +percentile(sorted, 0.5).toFixed(3), p99Ms: +percentile(sorted, 0.99).toFixed(3) };
  };
  const syncMs = [];
  for (let i = 0; i < appends; i++) {
    const t0 = performance.now();
    writeSync(fd, frame);
    fdatasyncSync(fd);
    syncMs.push(performance.now() - t0);
  }
  return new Promise((resolve) => {
    const asyncMs = [];
    const step = () => {
      const t0 = performance.now();
      writeSync(fd, frame);
      fdatasync(fd, () => {
        asyncMs.push(performance.now() - t0);
        if (asyncMs.length < appends) return step();
        closeSync(fd);
        rmSync(path, { force: true });
        resolve({ appends, frameBytes: frame.length, syscall: summary(syncMs), threadPool: summary(asyncMs) });
      });
    };
    step();
  });
}

function etcdVersion() {
  try {
    return execFileSync('etcd', ['--version']).toString().split('\n')[0].replace('etcd Version: ', '');
  } catch {
    return usage('no etcd on PATH: apt-get install etcd-server (bench/install-tools.sh does)');
  }
}

/** Calibration, fdatasync, then per scenario every workload on T4 and on etcd; the run's JSON document. */
async function measureAll() {
  const stops = [];
  async function stopAll() {
    while (stops.length > 0) await stops.pop()().catch(() => {});
  }
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => stopAll().finally(() => process.exit(130)));

  const version = etcdVersion();
  const scratch = mkdtempSync(join(tmpdir(), 't4-bench-scratch-'));
  stops.push(async () => rmSync(scratch, { recursive: true, force: true }));
  const started = new Date();
  const useH2load = !flags['no-h2load'] && h2loadAvailable();
  const result = {
    startedAt: started.toISOString(),
    flags: { ops: opsMax, seconds, workloads: selected, scenarios, client: flags.client, calibrationSeconds, servingProcesses },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadavgAtStart: loadavg().map((x) => +x.toFixed(2)),
    },
    etcdVersion: version,
    calibration: [],
    fdatasync: undefined,
    h2load: useH2load ? {} : flags['no-h2load'] ? 'skipped (--no-h2load)' : 'not installed (bench/install-tools.sh installs it)',
    scenarios: [],
  };

  try {
    // 1. The client alone: T4's gRPC transport with an empty handler, in a separate process.
    log(`calibrating the client (${flags.client}) against an empty handler (${calibrationSeconds} s each)`);
    const echo = await startEcho();
    stops.push(echo.stop);
    for (const clients of [1, 16]) {
      const w = echoWorkload(`echo-${clients === 1 ? 'seq' : 'par'}`, clients);
      const s = await runWorkload(w, echo, { ops: Math.max(opsMax, 1_000_000), capSeconds: calibrationSeconds });
      result.calibration.push({ name: w.name, clients, description: w.description, s });
      log(line(w.name, s));
    }
    if (useH2load) {
      const body = getBody(key('echo', 0));
      result.h2load.echo = await h2load({ endpoint: echo.endpoint, path: PATH.range, body, bodyFile: join(scratch, 'echo.bin'), clients: 16, seconds: Math.min(seconds, 5) });
      log(`h2load on echo: ${JSON.stringify(result.h2load.echo)}`);
    }
    await stops.pop()();

    // 2. The disk: what one fdatasync costs where the data dirs are.
    result.fdatasync = await measureFdatasync(scratch);
    log(`fdatasync in ${tmpdir()}: ${JSON.stringify(result.fdatasync)}`);

    // 3. Per scenario, the servers, both fresh, each idle while the other is measured.
    for (const scenario of scenarios) {
      const run = { scenario, workloads: [] };
      let s3;
      if (scenario === 'single-s3') {
        const minio = await startMinio('t4-bench');
        stops.push(minio.stop);
        s3 = minio.s3;
        log(`MinIO (${minio.via}) at ${s3.endpoint}, bucket ${s3.bucket}`);
      }
      const t4 = await startT4({ s3, servingProcesses });
      stops.push(t4.stop);
      const etcd = await startEtcd();
      stops.push(etcd.stop);
      run.t4Name = t4.name;
      run.t4ServingProcesses = t4.servingProcesses;
      log(`scenario ${scenario}: ${t4.name} at ${t4.endpoint} (pid ${t4.pid}, ${t4.servingProcesses} serving processes), etcd ${result.etcdVersion} at ${etcd.endpoint} (pid ${etcd.pid}); data in ${tmpdir()}`);
      for (const w of workloads) {
        const row = { workload: w.name, clients: w.clients, description: w.description };
        for (const server of [t4, etcd]) {
          const s = await runWorkload(w, server, { ops: opsMax, capSeconds: seconds });
          row[server === t4 ? 't4' : 'etcd'] = s;
          log(line(`${w.name} on ${server.name}`, s));
        }
        run.workloads.push(row);
      }
      if (useH2load) {
        run.h2load = {};
        for (const server of [t4, etcd]) {
          run.h2load[server.name] = await h2loadCeiling(server, scratch);
          log(`h2load (16 connections, one-key Range / Put) on ${server.name}: ${JSON.stringify(run.h2load[server.name])}`);
        }
      }
      result.scenarios.push(run);
      // This scenario's servers stop before the next one starts.
      await stops.pop()();
      await stops.pop()();
      if (s3 !== undefined) await stops.pop()();
    }
  } finally {
    await stopAll();
  }
  result.targets = targetChecks(result);
  return result;
}

/** A run saved before scenarios were a list (one scenario per file) in today's shape. */
function normalise(result) {
  if (result.scenarios !== undefined) return result;
  const { scenario, workloads: rows, t4Name, t4ServingProcesses, h2load: h, ...rest } = result;
  const ceiling = typeof h === 'object' ? { t4: h[t4Name ?? 't4'], etcd: h.etcd } : undefined;
  return { ...rest, h2load: typeof h === 'object' ? { echo: h.echo } : h, scenarios: [{ scenario, workloads: rows, t4Name, t4ServingProcesses, h2load: ceiling }] };
}

/** Prints the tables; writes the JSON (unless it was read from there) and one SVG per scenario beside it. */
function report(input, jsonFile, { writeJson }) {
  const result = normalise(input);
  result.targets ??= targetChecks(result);
  const calibration = calibrationTable(result.calibration);
  const f = result.fdatasync;
  const fsyncLine = f === undefined ? '' : `fdatasync (${f.appends} appends of ${f.frameBytes} bytes): syscall p50 ${f.syscall.p50Ms} ms, p99 ${f.syscall.p99Ms} ms; through the thread pool p50 ${f.threadPool.p50Ms} ms, p99 ${f.threadPool.p99Ms} ms`;
  const h2Rate = (r) => (r?.reqPerS !== undefined ? `${r.reqPerS} req/s` : `error ${r?.error}`);
  console.log(`\nnpm run bench (${result.startedAt.slice(0, 16)}Z, --ops ${result.flags.ops} --seconds ${result.flags.seconds}, client ${result.flags.client ?? 'node-http2'}), etcd ${result.etcdVersion}\n`);
  console.log(`${calibration}\n`);
  if (fsyncLine) console.log(`${fsyncLine}\n`);
  if (typeof result.h2load === 'string') console.log(`h2load: ${result.h2load}\n`);
  else if (result.h2load?.echo) console.log(`h2load, 16 connections, 1 stream each, on the empty handler: ${h2Rate(result.h2load.echo)}\n`);
  const svgFiles = [];
  for (const run of result.scenarios) {
    const t4Name = run.t4Name ?? 't4';
    const serving = run.t4ServingProcesses === undefined ? '' : ` (${run.t4ServingProcesses} serving processes)`;
    const title = `npm run bench, scenario ${run.scenario}: ${t4Name}${serving} vs etcd ${result.etcdVersion} (${result.startedAt.slice(0, 16)}Z, --ops ${result.flags.ops} --seconds ${result.flags.seconds})`;
    console.log(`### scenario ${run.scenario}\n\n${comparisonTable(run.workloads, t4Name)}\n`);
    if (run.h2load) {
      console.log(`h2load, 16 connections: ${[t4Name, 'etcd'].filter((n) => run.h2load[n]).map((n) => `${n} one-key Range ${h2Rate(run.h2load[n].range)}, one-key Put ${h2Rate(run.h2load[n].put)}`).join('; ')}\n`);
    }
    const svgFile = `${jsonFile.replace(/\.json$/, '')}-${run.scenario}.svg`;
    writeFileSync(svgFile, ratioSvg(run.workloads, { title, t4Name }));
    svgFiles.push(svgFile);
  }
  console.log(`### targets (issue 8)\n\n${targetsTable(result.targets)}\n`);
  console.log('client CPU: share of one core the benchmark client used during the measurement (near 100% means the client, not the server, set the pace);');
  console.log(`server CPU: share of one core the server process used (of ${result.machine.cpus * 100}% on this ${result.machine.cpus}-core machine). Latencies in ms; p999 is the slowest op when a run has fewer than 1,000.`);
  if (writeJson) writeFileSync(jsonFile, JSON.stringify(result, null, 2) + '\n');
  console.log(`\n${writeJson ? 'wrote' : 'read'} ${jsonFile}\n${svgFiles.map((x) => `wrote ${x}`).join('\n')}`);
}

if (flags.report !== undefined) {
  report(JSON.parse(readFileSync(flags.report, 'utf8')), flags.report, { writeJson: false });
} else {
  const result = await measureAll();
  mkdirSync(flags.out, { recursive: true });
  const stamp = result.startedAt.replace(/[:.]/g, '-').slice(0, 19);
  report(result, join(flags.out, `${stamp}.json`), { writeJson: true });
}
