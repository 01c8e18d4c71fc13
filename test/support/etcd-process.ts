// Spawns Debian's etcd (3.4) as a single-node reference server on free loopback ports.
//
//   const etcd = findExternal('etcd');
//   describe('...', { skip: etcd.skip }, () => {
//     let server: EtcdProcess;
//     before(async () => (server = await startEtcd()));
//     after(() => server?.stop());
//   });
//
// Never uses the default ports 2379/2380 (a packaged etcd service may own them).
import { join } from 'node:path';
import { requireBinary } from './external.js';
import { freePort, makeTempDir, removeDir, sleep, Supervised, type ExitInfo } from './child-process.js';

export interface StartEtcdOptions {
  /** Extra etcd flags appended after the defaults. */
  args?: string[];
  /** How long to wait for /health to report healthy. Default 30s. */
  startTimeoutMs?: number;
}

export interface EtcdProcess {
  /** "127.0.0.1:PORT" (client URL without scheme, as etcdctl --endpoints accepts). */
  readonly endpoint: string;
  readonly clientUrl: string;
  readonly dataDir: string;
  readonly pid: number;
  logs(): string;
  /** SIGTERM, wait for exit, remove the data dir. */
  stop(): Promise<ExitInfo>;
  /** SIGKILL, wait for exit, remove the data dir. */
  kill9(): Promise<void>;
}

export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdProcess> {
  const binary = requireBinary('etcd');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const dataDir = await makeTempDir('t4-etcd-');
  const args = [
    '--name', 'default',
    '--data-dir', join(dataDir, 'data'),
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `default=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    ...(opts.args ?? []),
  ];
  const proc = new Supervised('etcd', binary, args, { env: etcdEnv() });
  const finish = async (): Promise<void> => {
    await proc.kill9();
    await removeDir(dataDir);
  };
  try {
    await waitHealthy(proc, clientUrl, opts.startTimeoutMs ?? 30_000);
  } catch (err) {
    await finish();
    throw err;
  }
  return {
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    dataDir,
    pid: proc.pid,
    logs: () => proc.logs(),
    stop: async () => {
      try {
        return await proc.stop('SIGTERM');
      } finally {
        await finish();
      }
    },
    kill9: finish,
  };
}

/** process.env without ETCD_* variables (they would override or conflict with our flags). */
function etcdEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCD_')) env[key] = value;
  // etcd 3.4 refuses to start on arches other than amd64/ppc64le unless this names the arch.
  env['ETCD_UNSUPPORTED_ARCH'] = goArch();
  return env;
}

function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le' };
  return map[process.arch] ?? process.arch;
}

/** Polls etcd's HTTP /health endpoint on the client URL until it reports healthy. */
async function waitHealthy(proc: Supervised, clientUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no response yet';
  while (Date.now() < deadline) {
    if (!proc.running) throw proc.error(`exited before becoming healthy (${lastProblem})`);
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.ok && /"health"\s*:\s*"true"/.test(body)) return;
      lastProblem = `HTTP ${res.status}: ${body}`;
    } catch (err) {
      lastProblem = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
    }
    await sleep(100);
  }
  throw proc.error(`not healthy after ${timeoutMs}ms (${lastProblem})`);
}
