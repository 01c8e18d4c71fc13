// Servers for `npm run bench:scale` (bench/scale.mjs): `t4 run` and Debian's etcd, each on a data
// dir the caller owns and on fixed free loopback ports, so that a server can be stopped (SIGTERM,
// wait) and started again on the same data. Unlike bench/lib/servers.mjs, stop() keeps the data dir
// and start() reports the time from spawn until a Range on a given key answers. Also: RSS and peak
// RSS from /proc/<pid>/status, and the disk usage of a directory.
import { spawn } from 'node:child_process';
import { readdirSync, lstatSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { GrpcH2 } from './grpc-h2.mjs';
import { scanRange } from './pb-scan.mjs';
import { childPids } from './servers.mjs';
import { PATH, getBody } from './requests.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const POLL_MS = 10;
const CONNECT_TIMEOUT_MS = 1000;

/** A free TCP port on 127.0.0.1 (bound and released; never 2379/2380). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => (port === 2379 || port === 2380 ? resolve(freePort()) : resolve(port)));
    });
  });
}

/** process.env without ETCD_* variables; etcd 3.4 needs ETCD_UNSUPPORTED_ARCH off amd64/ppc64le. */
function etcdEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_')) env[k] = v;
  const arch = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le' }[process.arch] ?? process.arch;
  if (arch !== 'amd64') env.ETCD_UNSUPPORTED_ARCH = arch;
  return env;
}

/** Every child ever spawned here, so an 'exit' handler can SIGKILL what is still running. */
const children = new Set();
export function killAllSync() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/**
 * One server process definition: `kind` is 't4' or 'etcd'. start() spawns it and polls until a
 * Range on `probeKey` answers (with the key present when `expectProbe`), stop() sends SIGTERM and
 * waits for the exit (SIGKILL after stopTimeoutMs).
 */
export class ScaleServer {
  #child;
  #logTail = '';

  constructor(kind, { dataDir, port, peerPort, t4LogLevel = 'info', etcdArgs = [] }) {
    this.kind = kind;
    this.name = kind;
    this.dataDir = dataDir;
    this.port = port;
    this.peerPort = peerPort;
    this.endpoint = `127.0.0.1:${port}`;
    this.t4LogLevel = t4LogLevel;
    this.etcdArgs = etcdArgs;
  }

  static async create(kind, dataDir, options = {}) {
    const port = await freePort();
    const peerPort = kind === 'etcd' ? await freePort() : undefined;
    return new ScaleServer(kind, { dataDir, port, peerPort, ...options });
  }

  get pid() {
    return this.#child?.pid;
  }

  get running() {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  #command() {
    if (this.kind === 't4') {
      return {
        file: process.execPath,
        args: ['dist/src/app/cli/main.js', 'run', '--data-dir', this.dataDir, '--listen', this.endpoint, '--log-level', this.t4LogLevel],
        env: process.env,
      };
    }
    const clientUrl = `http://${this.endpoint}`;
    const peerUrl = `http://127.0.0.1:${this.peerPort}`;
    return {
      file: 'etcd',
      args: [
        '--name', 'default',
        '--data-dir', this.dataDir,
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl,
        '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `default=${peerUrl}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-outputs', 'stderr',
        '--log-level', 'error',
        ...this.etcdArgs,
      ],
      env: etcdEnv(),
    };
  }

  /**
   * Spawns the server and polls Range(probeKey) until it answers; { startupMs, firstConnectMs }:
   * spawn to first answered Range, and spawn to first accepted HTTP/2 connection.
   */
  async start({ probeKey, expectProbe = false, timeoutMs = 300_000 }) {
    if (this.running) throw new Error(`${this.kind} already running`);
    const { file, args, env } = this.#command();
    const t0 = performance.now();
    const child = spawn(file, args, { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#logTail = '';
    children.add(child);
    const keep = (d) => (this.#logTail = (this.#logTail + d).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('exit', () => children.delete(child));
    let spawnError;
    child.once('error', (error) => (spawnError = error)); // e.g. ENOENT: no 'exit' follows

    const body = getBody(probeKey);
    let firstConnectMs;
    let lastProblem = 'no answer yet';
    const deadline = t0 + timeoutMs;
    try {
      while (performance.now() < deadline) {
        if (spawnError) throw new Error(`${this.kind}: could not spawn ${file}: ${spawnError.message}`);
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${this.kind} exited (${child.exitCode ?? child.signalCode}) before answering a Range\n${this.#logTail}`);
        }
        const conn = await connectWithTimeout(this.endpoint).catch((error) => {
          lastProblem = error.message;
          return undefined;
        });
        if (conn !== undefined) {
          firstConnectMs ??= performance.now() - t0;
          try {
            const bytes = await Promise.race([conn.unary(PATH.range, body), sleep(CONNECT_TIMEOUT_MS * 5).then(() => Promise.reject(new Error('Range timed out')))]);
            const r = scanRange(bytes);
            if (!expectProbe || r.kvCount === 1) {
              const startupMs = performance.now() - t0;
              conn.destroy();
              return { startupMs: round1(startupMs), firstConnectMs: round1(firstConnectMs) };
            }
            lastProblem = `Range answered without the probe key (kvs ${r.kvCount})`;
          } catch (error) {
            lastProblem = error.message;
          }
          conn.destroy();
        }
        await sleep(POLL_MS);
      }
      throw new Error(`${this.kind}: no Range answer within ${timeoutMs} ms (${lastProblem})\n${this.#logTail}`);
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  /** SIGTERM, wait for the exit (SIGKILL after stopTimeoutMs); { stopMs, code, signal, killed }. */
  async stop({ stopTimeoutMs = 60_000 } = {}) {
    const child = this.#child;
    if (!child || !this.running) return { stopMs: 0, code: child?.exitCode ?? null, signal: child?.signalCode ?? null, killed: false };
    const t0 = performance.now();
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, stopTimeoutMs);
    const { code, signal } = await exited;
    clearTimeout(timer);
    return { stopMs: round1(performance.now() - t0), code, signal, killed };
  }

  /** SIGKILL and wait (cleanup on errors). */
  async kill() {
    const child = this.#child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  logTail() {
    return this.#logTail;
  }

  /** The main database file: T4's SQLite database, etcd's bbolt file (WALs and the rest excluded). */
  get dbFile() {
    return this.kind === 't4' ? join(this.dataDir, 'db', 't4.sqlite') : join(this.dataDir, 'member', 'snap', 'db');
  }

  /** { rssKiB, hwmKiB, rssAnonKiB, rssFileKiB } of the running process, or nulls. */
  memory() {
    return procMemory(this.pid);
  }
}

function round1(x) {
  return Math.round(x * 10) / 10;
}

/** GrpcH2.connect with a timeout; a connection that arrives late is destroyed. */
function connectWithTimeout(endpoint) {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new Error('connect timed out'));
    }, CONNECT_TIMEOUT_MS);
    GrpcH2.connect(endpoint).then(
      (conn) => {
        clearTimeout(timer);
        if (timedOut) conn.destroy();
        else resolve(conn);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * VmRSS, VmHWM (peak RSS), RssAnon (heap and other private memory) and RssFile (file-backed pages,
 * e.g. etcd's mmap of its bbolt file), KiB, from /proc/<pid>/status, summed over the process and
 * its child processes (T4's serving processes); nulls if the process is gone.
 */
export function procMemory(pid) {
  const own = statusMemory(pid);
  if (own.rssKiB === null) return own;
  for (const child of childPids(pid)) {
    const c = statusMemory(child);
    for (const k of Object.keys(own)) if (c[k] !== null) own[k] += c[k];
  }
  return own;
}

function statusMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => {
      const m = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
      return m ? Number(m[1]) : null;
    };
    return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM'), rssAnonKiB: field('RssAnon'), rssFileKiB: field('RssFile') };
  } catch {
    return { rssKiB: null, hwmKiB: null, rssAnonKiB: null, rssFileKiB: null };
  }
}

/**
 * Disk usage of a directory tree, like `du -s` (allocated blocks) and `du -s --apparent-size`
 * (file sizes); hard links counted once. { allocatedBytes, apparentBytes, files, largest }, largest:
 * the 8 biggest files as { path (relative to dir), allocatedBytes, apparentBytes }.
 */
export function diskUsage(dir) {
  const seen = new Set();
  let allocatedBytes = 0;
  let apparentBytes = 0;
  let files = 0;
  const all = [];
  const walk = (path) => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed while walking (a WAL segment, a temp file)
    }
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    allocatedBytes += st.blocks * 512;
    if (st.isDirectory()) {
      let names = [];
      try {
        names = readdirSync(path);
      } catch {
        return;
      }
      for (const name of names) walk(join(path, name));
    } else {
      apparentBytes += st.size;
      files++;
      all.push({ path: relative(dir, path), allocatedBytes: st.blocks * 512, apparentBytes: st.size });
    }
  };
  walk(dir);
  const largest = all.sort((a, b) => b.allocatedBytes - a.allocatedBytes).slice(0, 8);
  return { allocatedBytes, apparentBytes, files, largest };
}

/** Allocated bytes of one file, or null if it does not exist. */
export function fileAllocatedBytes(path) {
  try {
    return statSync(path).blocks * 512;
  } catch {
    return null;
  }
}
