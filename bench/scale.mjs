#!/usr/bin/env node
// `npm run bench:scale`: T4 and etcd at scale, side by side, driven by the same lean HTTP/2 gRPC
// client as `npm run bench` (bench/lib/grpc-h2.mjs). Each server runs fresh on free loopback ports
// with its own data dir under one temp dir (os.tmpdir(), same disk). It measures
//   1. memory (VmRSS after 2 s idle, and peak VmHWM) and disk use of the data dir, after loading
//      100k keys and after loading --keys-max keys (64-byte keys, 256-byte values, txns of 100 puts
//      over 16 connections, the same for both servers);
//   2. start-up with --keys-max keys: SIGTERM, wait for the exit, spawn again on the same data dir,
//      time until a Range on the last loaded key answers with it;
//   3. put and get throughput at 1..64 clients (one HTTP/2 connection each, one call in flight),
//      --point-seconds per point, on the loaded data set.
// Prints Markdown tables (ratios T4/etcd) and writes JSON and an SVG plot to bench/results/.
//
//   node bench/scale.mjs [--keys-max 1000000] [--point-seconds 3] [--clients 1,2,4,8,16,32,64]
//   node bench/scale.mjs --report bench/results/scale-<time>.json   (tables and SVG of a saved run)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TXN_PUTS, keyOf, loadKeys, runPoint, selfCheck } from './lib/scale-load.mjs';
import { memoryTable, startupTable, svgNotes, throughputSvg, throughputTable } from './lib/scale-report.mjs';
import { ScaleServer, diskUsage, fileAllocatedBytes, killAllSync } from './lib/scale-servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const FIRST_STAGE_KEYS = 100_000;
const IDLE_MS = 2000;
const ETCD_QUOTA_BYTES = 8 * 2 ** 30; // etcd's 2 GiB default could raise NOSPACE during long runs

const { values: flags } = parseArgs({
  options: {
    'keys-max': { type: 'string', default: '1000000' },
    'point-seconds': { type: 'string', default: '3' },
    'warmup-seconds': { type: 'string' },
    clients: { type: 'string', default: '1,2,4,8,16,32,64' },
    ops: { type: 'string', default: 'put,get' },
    'load-connections': { type: 'string', default: '16' },
    out: { type: 'string', default: join(here, 'results') },
    report: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (flags.help) {
  console.log(`usage: node bench/scale.mjs [options]     (npm run bench:scale builds first)
  --keys-max N            keys loaded in the end (default 1000000); memory and disk are also measured
                          at ${FIRST_STAGE_KEYS.toLocaleString('en-US')} keys when N is larger; --keys-max 100000 skips the 1M stage
  --point-seconds S       measured seconds per throughput point, op and server (default 3)
  --warmup-seconds S      untimed warm-up before each point (default min(1, S/2))
  --clients a,b,...       client counts of the throughput sweep (default 1,2,4,8,16,32,64)
  --ops put,get           operations of the sweep (default put,get)
  --load-connections N    connections loading keys, one txn of ${TXN_PUTS} puts in flight each (default 16)
  --out DIR               where JSON and SVG go (default bench/results)
  --report FILE.json      print the tables of a saved run again and rewrite its SVG (no servers started)

Default run: about 3 minutes on 2 cores (loads are fast: ~75k keys/s); --keys-max 100000 --point-seconds 2: under 2 minutes.`);
  process.exit(0);
}

function usage(message) {
  console.error(`bench:scale: ${message}`);
  process.exit(2);
}
function positiveInt(s, flag) {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) usage(`${flag} must be a positive integer`);
  return n;
}
function positiveNumber(s, flag) {
  const n = Number(s);
  if (!(n > 0)) usage(`${flag} must be a positive number`);
  return n;
}

const keysMax = positiveInt(flags['keys-max'], '--keys-max');
const pointSeconds = positiveNumber(flags['point-seconds'], '--point-seconds');
const warmupSeconds = flags['warmup-seconds'] === undefined ? Math.min(1, pointSeconds / 2) : Number(flags['warmup-seconds']);
if (!(warmupSeconds >= 0)) usage('--warmup-seconds must be a number >= 0');
const clientsList = flags.clients.split(',').map((s) => positiveInt(s.trim(), '--clients'));
const ops = flags.ops.split(',').map((s) => s.trim()).filter(Boolean);
for (const op of ops) if (op !== 'put' && op !== 'get') usage(`--ops: unknown op ${op} (put, get)`);
const loadConnections = positiveInt(flags['load-connections'], '--load-connections');
const stageKeys = [...new Set([Math.min(FIRST_STAGE_KEYS, keysMax), keysMax])];

const log = (msg) => console.error(`[bench:scale ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const MiB = 2 ** 20;
const fmtMiB = (kib) => (kib === null ? '?' : `${(kib / 1024).toFixed(1)} MiB`);

function etcdVersion() {
  try {
    return execFileSync('etcd', ['--version']).toString().split('\n')[0].replace('etcd Version: ', '');
  } catch {
    return usage('no etcd on PATH: apt-get install etcd-server (bench/install-tools.sh does)');
  }
}

/** RSS and peak RSS after IDLE_MS of idle, and the data dir's disk use. */
async function snapshot(server) {
  await sleep(IDLE_MS);
  const { rssKiB, hwmKiB, rssAnonKiB, rssFileKiB } = server.memory();
  const disk = diskUsage(server.dataDir);
  disk.dbFileBytes = fileAllocatedBytes(server.dbFile);
  const dbMiB = disk.dbFileBytes === null ? '?' : (disk.dbFileBytes / MiB).toFixed(1);
  log(`${server.name}: RSS ${fmtMiB(rssKiB)} (anon ${fmtMiB(rssAnonKiB)}, file ${fmtMiB(rssFileKiB)}; peak ${fmtMiB(hwmKiB)}), data dir ${(disk.allocatedBytes / MiB).toFixed(1)} MiB on disk (${(disk.apparentBytes / MiB).toFixed(1)} MiB apparent, ${disk.files} files; database file ${dbMiB} MiB)`);
  return { rssKiB, hwmKiB, rssAnonKiB, rssFileKiB, disk };
}

async function load(server, from, to) {
  const total = to - from;
  const step = Math.max(1, Math.ceil(total / 10));
  let nextReport = step;
  const t0 = Date.now();
  log(`${server.name}: loading keys ${from.toLocaleString('en-US')}..${(to - 1).toLocaleString('en-US')} (txns of ${TXN_PUTS} puts, ${loadConnections} connections)`);
  const result = await loadKeys(server.endpoint, from, to, {
    connections: loadConnections,
    onProgress: (done) => {
      if (done >= nextReport && done < total) {
        nextReport += step;
        const s = (Date.now() - t0) / 1000;
        log(`${server.name}: ${(from + done).toLocaleString('en-US')} / ${to.toLocaleString('en-US')} keys (${Math.round((done * 100) / total)}% of this stage), ${Math.round(done / s).toLocaleString('en-US')} keys/s`);
      }
    },
  });
  log(`${server.name}: loaded ${total.toLocaleString('en-US')} keys in ${(result.ms / 1000).toFixed(1)} s (${result.keysPerS.toLocaleString('en-US')} keys/s)`);
  return result;
}

/** A throughput point, abandoned as an error if it has not finished well after its time. */
async function point(server, args) {
  let timer;
  const capMs = (args.seconds + args.warmupSeconds) * 1000 + 60_000;
  try {
    return await Promise.race([
      runPoint(server, args),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no result within ${capMs / 1000} s`)), capMs))),
    ]);
  } catch (error) {
    log(`${args.op} x${args.clients} on ${server.name}: ${error.stack ?? error}`);
    return { op: args.op, clients: args.clients, error: String(error.message ?? error).slice(0, 120) };
  } finally {
    clearTimeout(timer);
  }
}

async function measureAll() {
  selfCheck();
  const version = etcdVersion();
  const root = mkdtempSync(join(tmpdir(), 't4-scale-'));
  let cleaned = false;
  const cleanupSync = () => {
    if (cleaned) return;
    cleaned = true;
    killAllSync();
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  };
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

  const result = {
    kind: 'bench:scale',
    startedAt: new Date().toISOString(),
    flags: { keysMax, pointSeconds, warmupSeconds, clients: clientsList, ops, loadConnections },
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadavgAtStart: loadavg().map((x) => +x.toFixed(2)) },
    etcdVersion: version,
    etcdArgs: ['--quota-backend-bytes', String(ETCD_QUOTA_BYTES)],
    method: {
      keys: '64-byte keys bench/scale/<zero-padded index>, 256-byte pseudo-random values (a different slice of a seeded pool per key)',
      load: `txns of ${TXN_PUTS} puts, ${loadConnections} connections, one txn in flight each; T4 then etcd, the other idle`,
      memory: `VmRSS, VmHWM (peak), RssAnon and RssFile (file-backed, e.g. mmap) of the server process from /proc/<pid>/status, ${IDLE_MS / 1000} s after the load`,
      disk: 'allocated blocks of every file under the data dir (du -s), hard links once; database file: t4 db/t4.sqlite, etcd member/snap/db (bbolt), WAL files excluded',
      startup: 'SIGTERM, wait for the exit, spawn on the same data dir and ports, poll (10 ms) a Range on the last loaded key until it answers with the key',
      throughput: `closed loops, one HTTP/2 connection and one call in flight per client; put overwrites and get reads a uniformly random loaded key; ${warmupSeconds} s untimed warm-up, ${pointSeconds} s measured; T4 then etcd per point`,
    },
    stages: [],
    startup: [],
    throughput: [],
  };

  const t4 = await ScaleServer.create('t4', join(root, 't4'));
  const etcd = await ScaleServer.create('etcd', join(root, 'etcd'), { etcdArgs: result.etcdArgs });
  const servers = [t4, etcd];
  try {
    // Fresh start on empty data dirs.
    const fresh = { what: 'first start, empty data dir', keys: 0 };
    for (const server of servers) {
      fresh[server.name] = await server.start({ probeKey: keyOf(0) });
      log(`${server.name} at ${server.endpoint} (pid ${server.pid}, data ${server.dataDir}): answered a Range ${fresh[server.name].startupMs} ms after spawn`);
    }
    result.startup.push(fresh);
    const empty = { stage: 'empty', keys: 0 };
    for (const server of servers) empty[server.name] = await snapshot(server);
    result.stages.push(empty);

    // 1. Load in stages; memory and disk after each.
    let loaded = 0;
    for (const target of stageKeys) {
      const row = { stage: `loaded ${target.toLocaleString('en-US')}`, keys: target };
      for (const server of servers) {
        const l = await load(server, loaded, target);
        row[server.name] = { load: l, ...(await snapshot(server)) };
      }
      result.stages.push(row);
      loaded = target;
    }

    // 2. Restart on the same data dir: SIGTERM, wait, spawn, first Range on the last key.
    const restart = { what: `restart with ${keysMax.toLocaleString('en-US')} keys`, keys: keysMax };
    const afterRestart = { stage: 'after restart', keys: keysMax };
    for (const server of servers) {
      const { stopMs, code, signal, killed } = await server.stop();
      log(`${server.name}: stopped (SIGTERM) in ${stopMs} ms, exit ${code ?? signal}${killed ? ' (SIGKILLed after the stop timeout)' : ''}`);
      const started = await server.start({ probeKey: keyOf(keysMax - 1), expectProbe: true });
      restart[server.name] = { ...started, stopMs, stopExit: code ?? signal, stopKilled: killed };
      log(`${server.name}: restarted with ${keysMax.toLocaleString('en-US')} keys, first Range answered ${started.startupMs} ms after spawn (first connection at ${started.firstConnectMs} ms)`);
      afterRestart[server.name] = await snapshot(server);
    }
    result.startup.push(restart);
    result.stages.push(afterRestart);

    // 3. Throughput by clients, on the loaded data.
    let round = 1;
    for (const op of ops) {
      for (const clients of clientsList) {
        const row = { op, clients };
        for (const server of servers) {
          const s = await point(server, { op, clients, seconds: pointSeconds, warmupSeconds, keyCount: keysMax, round: round++ });
          row[server.name] = s;
          if (!s.error) log(`${op} x${clients} on ${server.name}: ${s.opsPerS} ops/s, p50 ${s.p50Ms} p99 ${s.p99Ms} ms, client CPU ${Math.round(s.clientCpuShare * 100)}%, server CPU ${s.serverCpuShare === null ? '?' : Math.round(s.serverCpuShare * 100) + '%'}`);
        }
        result.throughput.push(row);
      }
    }
    const afterSweep = { stage: 'after throughput sweep', keys: keysMax };
    for (const server of servers) afterSweep[server.name] = await snapshot(server);
    result.stages.push(afterSweep);

    for (const server of servers) {
      const s = await server.stop();
      log(`${server.name}: stopped (SIGTERM) in ${s.stopMs} ms`);
    }
  } catch (error) {
    for (const server of servers) {
      const tail = server.logTail();
      if (tail) log(`${server.name} output (tail):\n${tail}`);
    }
    throw error;
  } finally {
    for (const server of servers) await server.kill().catch(() => {});
    cleanupSync();
  }
  result.finishedAt = new Date().toISOString();
  return result;
}

function report(result, jsonFile, { writeJson }) {
  const title = `npm run bench:scale: t4 vs etcd ${result.etcdVersion} (${result.startedAt.slice(0, 16)}Z, --keys-max ${result.flags.keysMax} --point-seconds ${result.flags.pointSeconds})`;
  const tables = { memory: memoryTable(result.stages), startup: startupTable(result.startup), throughput: throughputTable(result.throughput) };
  console.log(`\n${title}\n\nMemory (RSS after ${IDLE_MS / 1000} s idle; anon = RssAnon, without file-backed pages such as an mmap'd database; peak = VmHWM since the process started) and disk (data dir; db file = t4 db/t4.sqlite, etcd member/snap/db):\n\n${tables.memory}\n`);
  console.log(`Start-up (spawn to the first answered Range):\n\n${tables.startup}\n`);
  console.log(`Throughput by clients (${result.flags.pointSeconds} s per point, random keys of ${result.flags.keysMax.toLocaleString('en-US')}):\n\n${tables.throughput}\n`);
  console.log('client CPU: share of one core the benchmark client used (near 100%: the client, not the server, set the pace); server CPU: share of one core the server used.');
  const svgFile = jsonFile.replace(/\.json$/, '') + '.svg';
  if (writeJson) writeFileSync(jsonFile, JSON.stringify({ ...result, tables }, null, 2) + '\n');
  writeFileSync(svgFile, throughputSvg(result.throughput, { title, notes: svgNotes(result) }));
  console.log(`\n${writeJson ? 'wrote' : 'read'} ${jsonFile}\nwrote ${svgFile}`);
}

if (flags.report !== undefined) {
  report(JSON.parse(readFileSync(flags.report, 'utf8')), flags.report, { writeJson: false });
} else {
  const result = await measureAll();
  mkdirSync(flags.out, { recursive: true });
  const stamp = `scale-${result.startedAt.replace(/[:.]/g, '-').slice(0, 19)}-${result.flags.keysMax}`;
  report(result, join(flags.out, `${stamp}.json`), { writeJson: true });
}
