// A long-running `etcdctl watch` for tests: spawned, its output collected, stopped by the test.
//
//   const w = startEtcdctlWatch(t4.endpoint, ['watch', 'a', '--prefix', '-w', 'json']);
//   await w.waitFor((out) => out.includes('"mod_revision":5'));
//   await w.stop();
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { requireBinary } from './external.js';

export interface EtcdctlWatch {
  stdout(): string;
  stderr(): string;
  /** Writes a line to etcdctl's stdin (interactive mode, `watch -i`). */
  writeLine(line: string): void;
  /** Resolves when `pred(stdout)` holds; rejects after `timeoutMs` with the output so far. */
  waitFor(pred: (stdout: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code once etcdctl exits by itself. */
  exited(timeoutMs?: number): Promise<number | null>;
  stop(): Promise<void>;
}

export function startEtcdctlWatch(endpoint: string, args: string[]): EtcdctlWatch {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCDCTL_')) env[k] = v;
  env['ETCDCTL_API'] = '3';
  const child: ChildProcessWithoutNullStreams = spawn(requireBinary('etcdctl'), [`--endpoints=${endpoint}`, ...args], { env });
  let out = '';
  let err = '';
  let code: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve((code = c))));
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  return {
    stdout: () => out,
    stderr: () => err,
    writeLine: (line) => child.stdin.write(`${line}\n`),
    waitFor: async (pred, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pred(out)) {
        if (Date.now() > deadline || code !== undefined) {
          throw new Error(`etcdctl ${args.join(' ')}: condition not met (exit ${String(code)})\n--- stdout ---\n${out}\n--- stderr ---\n${err}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exited: (timeoutMs = 10_000) =>
      Promise.race([exit, new Promise<number | null>((_, reject) => setTimeout(() => reject(new Error(`etcdctl did not exit; stderr: ${err}`)), timeoutMs))]),
    stop: async () => {
      if (code === undefined) {
        child.kill('SIGTERM');
        await exit;
      }
    },
  };
}

/** The JSON watch responses etcdctl printed (`-w json`, one object per line). */
export function jsonResponses(stdout: string): EtcdctlWatchResponse[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l.replace(/"(cluster_id|member_id)":(\d+)/g, '"$1":"$2"')) as EtcdctlWatchResponse);
}

export interface EtcdctlWatchResponse {
  Header: { revision?: number };
  Events: { type?: number; kv: { key: string; value?: string; mod_revision: number; create_revision?: number; version?: number }; prev_kv?: { key: string; value?: string; mod_revision: number } }[] | null;
  CompactRevision: number;
  Canceled: boolean;
  Created: boolean;
}
