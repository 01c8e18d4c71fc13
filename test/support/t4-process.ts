// Spawns the built T4 server (dist/src/app/cli/main.js) as a real process for integration tests.
//
//   const t4 = await startT4();
//   after(() => t4.cleanup());
//   ... talk to t4.endpoint ("127.0.0.1:PORT") ...
//
// Restart on the same data: `await t4.kill9(); const t4b = await startT4({ dataDir: t4.dataDir })`.
// cleanup() only removes a data dir that startT4 created itself.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeDir, runCommand, Supervised, type ExitInfo, type RunResult } from './child-process.js';

export interface StartT4Options {
  /** Data directory; default: a fresh temp dir removed by cleanup(). */
  dataDir?: string;
  /** Extra CLI arguments appended after the defaults. */
  args?: string[];
  /** Extra environment variables (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the "serving etcd v3 gRPC" log line. Default 30s. */
  startTimeoutMs?: number;
  /** Log level passed as --log-level. Default "info" (the ready line is logged at info). */
  logLevel?: string;
}

export interface T4Process {
  /** "127.0.0.1:PORT", as announced by the server. */
  readonly endpoint: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Captured stdout+stderr so far. */
  logs(): string;
  /** Sends `signal` and waits for exit (SIGKILL + reject after 10s). */
  stop(signal?: NodeJS.Signals): Promise<ExitInfo>;
  kill9(): Promise<void>;
  /** Kills the process if still running and removes the data dir if startT4 created it. */
  cleanup(): Promise<void>;
}

const READY_MSG = 'serving etcd v3 gRPC';

/** Repository root: the nearest ancestor of this (compiled) file holding the t4 package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (isT4PackageDir(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the t4 repository root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function isT4PackageDir(dir: string): boolean {
  const pkg = join(dir, 'package.json');
  if (!existsSync(pkg)) return false;
  try {
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 't4';
  } catch {
    return false;
  }
}

/** Path of the built CLI entry point; throws if the project has not been built. */
export function t4CliPath(): string {
  const cli = join(repoRoot(), 'dist', 'src', 'app', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`T4 CLI not built: ${cli} is missing (run \`npm run build\`)`);
  return cli;
}

/** Runs the T4 CLI to completion, e.g. runT4(['run', '--bogus-flag']). */
export function runT4(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return runCommand(process.execPath, [t4CliPath(), ...args], {
    cwd: repoRoot(),
    env: { ...process.env, ...opts.env },
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

/** Starts `t4 run` on a random loopback port and waits until it announces its gRPC listener. */
export async function startT4(opts: StartT4Options = {}): Promise<T4Process> {
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await makeTempDir('t4-test-'));
  const args = [t4CliPath(), 'run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--log-level', opts.logLevel ?? 'info', ...(opts.args ?? [])];
  const proc = new Supervised('t4', process.execPath, args, { cwd: repoRoot(), env: { ...process.env, ...opts.env } });
  const cleanup = async (): Promise<void> => {
    await proc.kill9();
    if (ownsDataDir) await removeDir(dataDir);
  };
  let endpoint: string;
  try {
    endpoint = await proc.waitForLine(readyAddress, opts.startTimeoutMs ?? 30_000, `the "${READY_MSG}" log line`);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    endpoint,
    dataDir,
    pid: proc.pid,
    logs: () => proc.logs(),
    stop: (signal = 'SIGTERM') => proc.stop(signal),
    kill9: () => proc.kill9(),
    cleanup,
  };
}

/** The listener address if `line` is the pino JSON line announcing the gRPC listener. */
function readyAddress(line: string): string | undefined {
  if (!line.includes(READY_MSG)) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; address?: unknown };
    return entry.msg === READY_MSG && typeof entry.address === 'string' ? entry.address : undefined;
  } catch {
    return undefined;
  }
}
