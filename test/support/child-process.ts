// Shared plumbing for the process harnesses (t4-process.ts, etcd-process.ts, etcdctl.ts):
// running a command to completion, supervising a long-running child, free ports, temp dirs.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const MAX_LOG_IN_ERROR = 20_000;

/** Keeps the tail of a long log so error messages stay readable. */
export function tail(text: string, max = MAX_LOG_IN_ERROR): string {
  return text.length <= max ? text : `...[${text.length - max} chars cut]...\n${text.slice(-max)}`;
}

function describeCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** Runs a command to completion. Rejects only if it cannot be spawned or exceeds timeoutMs. */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${timeoutMs}ms: ${describeCommand(cmd, args)}\n--- stdout ---\n${tail(stdout)}\n--- stderr ---\n${tail(stderr)}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${describeCommand(cmd, args)}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // EPIPE if the command exits without reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

// Children still alive when the test process exits are SIGKILLed and temp dirs not yet removed
// are deleted, so a failing test never leaks a server. Supervised children are unref'd so they do
// not keep a finished test file alive.
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

/** A long-running child process whose stdout/stderr are captured for diagnostics. */
export class Supervised {
  private readonly exitPromise: Promise<ExitInfo>;
  private readonly child: ChildProcess;
  private output = '';
  private partialLine = '';
  private readonly lineListeners = new Set<(line: string) => void>();
  private exitInfo: ExitInfo | undefined;

  constructor(
    readonly label: string,
    cmd: string,
    args: readonly string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ) {
    this.child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.output += `[harness] spawn error: ${err.message}\n`;
      });
      this.child.on('close', (code, signal) => {
        live.delete(this.child);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => this.onStdout(d));
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.child.unref();
    unrefStream(this.child.stdout);
    unrefStream(this.child.stderr);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.label} has no pid (spawn failed)\n${this.logs()}`);
    return this.child.pid;
  }

  /** Resolves when the process has exited and its output is drained. */
  waitExit(): Promise<ExitInfo> {
    return keepAlive(this.exitPromise);
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Everything the process wrote to stdout and stderr so far, interleaved in arrival order. */
  logs(): string {
    return this.output + this.partialLine;
  }

  /** Error with the captured output attached. */
  error(message: string): Error {
    return new Error(`${this.label}: ${message}\n--- ${this.label} output ---\n${tail(this.logs())}`);
  }

  /** Resolves with the first stdout line for which `match` returns a value (not undefined). */
  waitForLine<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
        fn();
      };
      const listener = (line: string): void => {
        const value = match(line);
        if (value !== undefined) finish(() => resolve(value));
      };
      const timer = setTimeout(() => finish(() => reject(this.error(`timed out after ${timeoutMs}ms waiting for ${what}`))), timeoutMs);
      this.lineListeners.add(listener);
      void this.exitPromise.then((info) => finish(() => reject(this.error(`exited (${formatExit(info)}) before ${what}`))));
    });
  }

  /** Sends `signal` and waits for exit; after timeoutMs it SIGKILLs and rejects. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const result = await Promise.race([this.exitPromise, timedOut]);
    clearTimeout(timer);
    if (result !== 'timeout') return result;
    await this.kill9();
    throw this.error(`did not exit within ${timeoutMs}ms of ${signal}; killed with SIGKILL`);
  }

  /** SIGKILLs the process (no-op if already exited) and waits until it is gone. */
  async kill9(): Promise<void> {
    if (!this.exitInfo) this.child.kill('SIGKILL');
    await this.waitExit();
  }

  private onStdout(chunk: string): void {
    this.output += chunk;
    const lines = (this.partialLine + chunk).split('\n');
    this.partialLine = lines.pop() ?? '';
    for (const line of lines) for (const listener of [...this.lineListeners]) listener(line);
  }
}

/**
 * Supervised children and their pipes are unref'd, so a bare await on them would let node exit
 * mid-wait; this holds a ref'd timer until `promise` settles.
 */
function keepAlive<T>(promise: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 60_000);
  return promise.finally(() => clearInterval(timer));
}

function unrefStream(stream: unknown): void {
  const s = stream as { unref?: () => void } | null;
  s?.unref?.();
}

export function formatExit(info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `code ${String(info.code)}`;
}

/** A port that was free on 127.0.0.1 a moment ago (bind to :0, read the port, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

/** A fresh empty directory under os.tmpdir(); removed at the latest when the test process exits. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  tempDirs.delete(dir);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
