// The servers a benchmark run talks to, each fresh, on free loopback ports, with data on the same
// disk (os.tmpdir()): `t4 run`, Debian's etcd, MinIO for T4's object store, and a trivial gRPC
// echo server that measures the client alone. Each returns { name, endpoint, pid, stop() }.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEtcd as startEtcdProcess } from '../../dist/test/support/etcd-process.js';
import { findMinio, startMinio as startMinioProcess } from '../../dist/test/support/minio.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 30_000;

/** Waits for a JSON line on the child's stdout containing `marker`; returns it parsed. */
function readyLine(child, marker, name) {
  return new Promise((resolve, reject) => {
    let buf = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`${name}: not ready within ${READY_TIMEOUT_MS} ms\n${buf}${stderr}`)), READY_TIMEOUT_MS);
    child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.stdout.on('data', function onData(d) {
      buf += d;
      const line = buf.split('\n').find((l) => l.includes(marker));
      if (line === undefined) {
        buf = buf.slice(-8000);
        return;
      }
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.resume(); // keep draining, never block the child on a full pipe
      resolve(JSON.parse(line));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready\n${buf}${stderr}`));
    });
  });
}

/** Stops `child` with `signal` (SIGKILL after 10 s if it is still there) and removes `dir`. */
function stopChild(child, dir, signal = 'SIGKILL') {
  return new Promise((resolve) => {
    let timer;
    const done = () => {
      clearTimeout(timer);
      if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      resolve();
    };
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', done);
    child.kill(signal);
    if (signal !== 'SIGKILL') timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  });
}

/** `t4 run` on 127.0.0.1:0; `s3` (from startMinio) puts its durable layer in a MinIO bucket. */
export async function startT4({ s3, servingProcesses } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 't4-bench-'));
  const args = ['dist/src/app/cli/main.js', 'run', '--data-dir', dir, '--listen', '127.0.0.1:0', '--log-level', 'info'];
  if (servingProcesses !== undefined) args.push('--serving-processes', String(servingProcesses));
  if (s3) {
    args.push('--s3-bucket', s3.bucket, '--s3-prefix', s3.prefix, '--s3-endpoint', s3.endpoint);
    args.push('--s3-access-key-id', s3.accessKeyId, '--s3-secret-access-key', s3.secretAccessKey);
  }
  // T4_BENCH_NODE_ARGS: extra node flags for t4, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it under a workload.
  const nodeArgs = (process.env.T4_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const ready = await readyLine(child, '"msg":"serving etcd v3 gRPC"', 't4');
    return { name: s3 ? 't4+s3' : 't4', endpoint: ready.address, pid: child.pid, servingProcesses: ready.servingProcesses ?? 0, dataDir: dir, stop: () => stopChild(child, dir, nodeArgs.length > 0 ? 'SIGTERM' : 'SIGKILL') };
  } catch (error) {
    await stopChild(child, dir);
    throw error;
  }
}

/** etcd single node, default settings apart from loopback ports and the data dir. */
export async function startEtcd() {
  const etcd = await startEtcdProcess({ args: ['--log-level', 'error'] });
  return { name: 'etcd', endpoint: etcd.endpoint, pid: etcd.pid, dataDir: etcd.dataDir, stop: () => etcd.kill9() };
}

/** MinIO: the pinned binary (PATH or $GOPATH/bin), else whatever test/support/minio finds. */
export async function startMinio(bucket) {
  const binary = findBinary('minio');
  const availability = binary ? { skip: false, via: 'binary', binary } : await findMinio();
  if (availability.skip) throw new Error(availability.skip);
  const minio = await startMinioProcess(availability);
  await minio.createBucket(bucket);
  return {
    name: 'minio',
    via: minio.via,
    s3: { bucket, prefix: 'bench', endpoint: minio.endpoint, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
    stop: () => minio.stop(),
  };
}

/** A Node HTTP/2 server answering every gRPC call with an empty message (bench/lib/echo-server.mjs). */
export async function startEcho() {
  const child = spawn(process.execPath, [join(repo, 'bench', 'lib', 'echo-server.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = await readyLine(child, '"msg":"echo ready"', 'echo');
  return { name: 'echo', endpoint: ready.address, pid: child.pid, stop: () => stopChild(child) };
}

export function findBinary(name) {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...(process.env.GOPATH ?? '').split(':').filter(Boolean).map((p) => join(p, 'bin')), join(homedir(), 'go', 'bin')];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

const CLOCK_TICKS_PER_S = 100; // Linux USER_HZ

/**
 * CPU seconds (user + system) a server has used so far, from /proc: the process, its live child
 * processes (T4's serving processes, DESIGN-NOTES 7) and its children that already ended; NaN if
 * the process is gone.
 */
export function processCpuSeconds(pid) {
  const own = statFields(pid);
  if (own === undefined) return NaN;
  // fields 14-17: utime, stime, cutime (ended children), cstime
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const child of childPids(pid)) {
    const f = statFields(child);
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLOCK_TICKS_PER_S;
}

/** The pids whose parent is `pid`. */
export function childPids(pid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f !== undefined && Number(f[1]) === pid) out.push(Number(entry));
  }
  return out;
}

/** /proc/<pid>/stat from field 3 on (index 0 = state, 1 = ppid, 11 = utime), or undefined. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
