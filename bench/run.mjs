#!/usr/bin/env node
// `npm run bench`: T4 and etcd side by side, driven by the same lean client (bench/lib/grpc-h2.mjs:
// pre-encoded requests over node:http2, responses scanned, not decoded). Starts a fresh `t4 run`
// and a fresh etcd (and MinIO for --scenario single-s3), runs each workload on T4 then on etcd,
// prints one table, and writes JSON and an SVG chart of the ratios to bench/results/.
// Before the servers, the client is calibrated against a trivial HTTP/2 echo server, so the table
// can be read against the client's own ceiling. See docs/performance.md ("npm run bench").
//
//   node bench/run.mjs [--ops 10000] [--seconds 20] [--workloads seq-put,watch] [--scenario single|single-s3]
//   node bench/run.mjs --report bench/results/<run>.json     (tables and SVG of a saved run)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { h2load, h2loadAvailable } from './lib/h2load.mjs';
import { GrpcH2 } from './lib/grpc-h2.mjs';
import { calibrationTable, comparisonTable, ratioSvg, summarize } from './lib/report.mjs';
import { PATH, getBody, key, putBody } from './lib/requests.mjs';
import { processCpuSeconds, startEcho, startEtcd, startMinio, startT4 } from './lib/servers.mjs';
import { WORKLOADS, echoWorkload } from './lib/workloads.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SCENARIOS = ['single', 'single-s3'];

const { values: flags } = parseArgs({
  options: {
    ops: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '20' },
    workloads: { type: 'string', default: WORKLOADS.map((w) => w.name).join(',') },
    scenario: { type: 'string', default: 'single' },
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
  --scenario NAME         single (T4 on local disk) | single-s3 (T4 with MinIO as its durable layer); etcd unchanged
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
if (!SCENARIOS.includes(flags.scenario)) usage(`--scenario must be one of ${SCENARIOS.join(', ')}`);
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
      const warmupOps = workload.name === 'k8s-list' || workload.name === 'watch-fanout' ? 2 : workload.clients * 10;
      await workload.measure(ctx, state, { ops: warmupOps, deadlineMs: performance.now() + 2000 });
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
  const conn = await GrpcH2.connect(server.endpoint);
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

function etcdVersion() {
  try {
    return execFileSync('etcd', ['--version']).toString().split('\n')[0].replace('etcd Version: ', '');
  } catch {
    return usage('no etcd on PATH: apt-get install etcd-server (bench/install-tools.sh does)');
  }
}

/** Calibration, then every workload on T4 and on etcd; the run's JSON document. */
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
    scenario: flags.scenario,
    flags: { ops: opsMax, seconds, workloads: selected, calibrationSeconds, servingProcesses },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadavgAtStart: loadavg().map((x) => +x.toFixed(2)),
    },
    etcdVersion: version,
    calibration: [],
    h2load: useH2load ? {} : flags['no-h2load'] ? 'skipped (--no-h2load)' : 'not installed (bench/install-tools.sh installs it)',
    workloads: [],
  };

  try {
    // 1. The client alone: an empty handler in a separate process.
    log(`calibrating the client against an HTTP/2 echo server (${calibrationSeconds} s each)`);
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

    // 2. The servers, both fresh, both idle while the other is measured.
    let s3;
    if (flags.scenario === 'single-s3') {
      const minio = await startMinio('t4-bench');
      stops.push(minio.stop);
      s3 = minio.s3;
      log(`MinIO (${minio.via}) at ${s3.endpoint}, bucket ${s3.bucket}`);
    }
    const t4 = await startT4({ s3, servingProcesses });
    stops.push(t4.stop);
    const etcd = await startEtcd();
    stops.push(etcd.stop);
    result.t4ServingProcesses = t4.servingProcesses;
    log(`${t4.name} at ${t4.endpoint} (pid ${t4.pid}, ${t4.servingProcesses} serving processes), etcd ${result.etcdVersion} at ${etcd.endpoint} (pid ${etcd.pid}); data in ${tmpdir()}`);

    for (const w of workloads) {
      const row = { workload: w.name, clients: w.clients, description: w.description };
      for (const server of [t4, etcd]) {
        const s = await runWorkload(w, server, { ops: opsMax, capSeconds: seconds });
        row[server === t4 ? 't4' : 'etcd'] = s;
        log(line(`${w.name} on ${server.name}`, s));
      }
      result.workloads.push(row);
    }
    if (useH2load) {
      for (const server of [t4, etcd]) {
        result.h2load[server.name] = await h2loadCeiling(server, scratch);
        log(`h2load (16 connections, one-key Range / Put) on ${server.name}: ${JSON.stringify(result.h2load[server.name])}`);
      }
    }
    result.t4Name = t4.name;
  } finally {
    await stopAll();
  }
  return result;
}

/** Prints the tables; writes the JSON (unless it was read from there) and the SVG beside it. */
function report(result, jsonFile, { writeJson }) {
  const t4Name = result.t4Name ?? 't4';
  const serving = result.t4ServingProcesses === undefined ? '' : ` (${result.t4ServingProcesses} serving processes)`;
  const title = `npm run bench, scenario ${result.scenario}: ${t4Name}${serving} vs etcd ${result.etcdVersion} (${result.startedAt.slice(0, 16)}Z, --ops ${result.flags.ops} --seconds ${result.flags.seconds})`;
  const calibration = calibrationTable(result.calibration);
  const comparison = comparisonTable(result.workloads, t4Name);
  const h2Rate = (r) => (r?.reqPerS !== undefined ? `${r.reqPerS} req/s` : `error ${r?.error}`);
  const h2 =
    typeof result.h2load === 'string'
      ? `h2load: ${result.h2load}`
      : `h2load, 16 connections, 1 stream each: echo ${h2Rate(result.h2load.echo)}; ${[t4Name, 'etcd']
          .filter((n) => result.h2load[n])
          .map((n) => `${n} one-key Range ${h2Rate(result.h2load[n].range)}, one-key Put ${h2Rate(result.h2load[n].put)}`)
          .join('; ')}`;
  console.log(`\n${title}\n\n${calibration}\n\n${h2}\n\n${comparison}\n`);
  console.log('client CPU: share of one core the benchmark client used during the measurement (near 100% means the client, not the server, set the pace);');
  console.log(`server CPU: share of one core the server process used (of ${result.machine.cpus * 100}% on this ${result.machine.cpus}-core machine). Latencies in ms; p999 is the slowest op when a run has fewer than 1,000.`);

  const svgFile = jsonFile.replace(/\.json$/, '') + '.svg';
  if (writeJson) writeFileSync(jsonFile, JSON.stringify({ ...result, tables: { calibration, comparison } }, null, 2) + '\n');
  writeFileSync(svgFile, ratioSvg(result.workloads, { title, t4Name }));
  console.log(`\n${writeJson ? 'wrote' : 'read'} ${jsonFile}\nwrote ${svgFile}`);
}

if (flags.report !== undefined) {
  report(JSON.parse(readFileSync(flags.report, 'utf8')), flags.report, { writeJson: false });
} else {
  const result = await measureAll();
  mkdirSync(flags.out, { recursive: true });
  const stamp = `${result.startedAt.replace(/[:.]/g, '-').slice(0, 19)}-${result.scenario}`;
  report(result, join(flags.out, `${stamp}.json`), { writeJson: true });
}
