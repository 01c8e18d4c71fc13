// A MinIO server for tests, behind one interface whatever runs it:
//  - `@testcontainers/minio` when a Docker engine answers (`docker info` within a few seconds);
//  - otherwise a `minio` binary on PATH or in $(go env GOPATH)/bin (.ci/run go-installs a pinned
//    release), started on 127.0.0.1 with free ports for the API and the console and a temp dir;
//  - otherwise the suite is skipped with the reason, or fails when T4_REQUIRE_EXTERNAL=1.
//
//   const minio = await findMinio();
//   describe('on MinIO', { skip: minio.skip }, () => {
//     let server: MinioServer;
//     before(async () => { server = await startMinio(minio); await server.createBucket('b'); });
//     after(() => server?.stop());
//   });
//
// Tests may create buckets (createBucket); T4 itself never does.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { S3ObjectStoreConfig } from '../../src/adapters/s3/s3-config.js';
import { freePort, makeTempDir, removeDir, runCommand, sleep, Supervised } from './child-process.js';
import { externalsRequired, whichSync } from './external.js';

/**
 * The image used when Docker is available. RELEASE.2025-09-07T16-13-09Z is the last MinIO image
 * published on Docker Hub; it postdates the If-Match-on-missing-key fix (minio/minio#21526), which
 * the contract suite checks ("putIfMatch on a missing key ... never creates the object").
 */
export const MINIO_IMAGE = 'minio/minio:RELEASE.2025-09-07T16-13-09Z';
const ROOT_USER = 't4-test-root';
const ROOT_PASSWORD = 't4-test-root-secret';
const READY_TIMEOUT_MS = 30_000;

export type MinioAvailability =
  | { readonly skip: false; readonly via: 'testcontainers' }
  | { readonly skip: false; readonly via: 'binary'; readonly binary: string }
  | { readonly skip: string };

export interface MinioServer {
  readonly via: 'testcontainers' | 'binary';
  /** `http://127.0.0.1:<port>` (or the container's mapped address). */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Creates a bucket (tests only; T4 never creates buckets). Idempotent. */
  createBucket(bucket: string): Promise<void>;
  /** An S3ObjectStore configuration for `bucket`/`prefix` on this server. */
  s3Config(bucket: string, prefix?: string): S3ObjectStoreConfig;
  /** Server output so far (binary only), for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

/** Finds a way to run MinIO; quick (a few seconds at most). */
export async function findMinio(): Promise<MinioAvailability> {
  if (await dockerAnswers()) return { skip: false, via: 'testcontainers' };
  const binary = whichSync('minio') ?? (await goBinMinio());
  if (binary !== undefined) return { skip: false, via: 'binary', binary };
  const reason = 'MinIO not available: no Docker engine answered and no minio binary on PATH or in $(go env GOPATH)/bin (run .ci/run, or go install github.com/minio/minio@<pinned version>)';
  if (externalsRequired()) throw new Error(`${reason}; T4_REQUIRE_EXTERNAL=1 forbids skipping`);
  return { skip: reason };
}

export async function startMinio(availability: MinioAvailability): Promise<MinioServer> {
  if (availability.skip !== false) throw new Error(availability.skip);
  return availability.via === 'testcontainers' ? startContainer() : startBinary(availability.binary);
}

async function dockerAnswers(): Promise<boolean> {
  if (whichSync('docker') === undefined) return false;
  try {
    const result = await runCommand('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 5_000 });
    return result.code === 0 && result.stdout.trim() !== '';
  } catch {
    return false;
  }
}

async function goBinMinio(): Promise<string | undefined> {
  const dirs: string[] = [];
  for (const p of (process.env['GOPATH'] ?? '').split(':')) if (p !== '') dirs.push(join(p, 'bin'));
  if (whichSync('go') !== undefined) {
    try {
      const result = await runCommand('go', ['env', 'GOPATH'], { timeoutMs: 10_000 });
      const gopath = result.stdout.trim().split(':')[0];
      if (result.code === 0 && gopath) dirs.push(join(gopath, 'bin'));
    } catch {
      // fall through to the default GOPATH
    }
  }
  dirs.push(join(homedir(), 'go', 'bin'));
  for (const dir of dirs) {
    const candidate = join(dir, 'minio');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function serverFor(via: MinioServer['via'], endpoint: string, stop: () => Promise<void>, logs: () => string): MinioServer {
  const region = 'us-east-1';
  return {
    via,
    endpoint,
    region,
    accessKeyId: ROOT_USER,
    secretAccessKey: ROOT_PASSWORD,
    async createBucket(bucket: string): Promise<void> {
      const client = new S3Client({
        region,
        endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: ROOT_USER, secretAccessKey: ROOT_PASSWORD },
        maxAttempts: 3,
      });
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
      } finally {
        client.destroy();
      }
    },
    s3Config(bucket: string, prefix = ''): S3ObjectStoreConfig {
      return {
        bucket,
        prefix,
        endpoint,
        region,
        credentials: { kind: 'static', accessKeyId: ROOT_USER, secretAccessKey: ROOT_PASSWORD },
        maxAttempts: 3,
        connectionTimeoutMs: 2_000,
        requestTimeoutMs: 30_000,
      };
    },
    logs,
    stop,
  };
}

async function startContainer(): Promise<MinioServer> {
  const { MinioContainer } = await import('@testcontainers/minio');
  const container = await new MinioContainer(MINIO_IMAGE).withUsername(ROOT_USER).withPassword(ROOT_PASSWORD).start();
  return serverFor(
    'testcontainers',
    container.getConnectionUrl(),
    async () => {
      await container.stop();
    },
    () => '',
  );
}

async function startBinary(binary: string): Promise<MinioServer> {
  let lastError: unknown;
  // A free port can be taken between probing and binding; try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dataDir = await makeDataDir();
    const apiPort = await freePort();
    const consolePort = await freePort();
    const child = new Supervised(
      'minio',
      binary,
      ['server', dataDir, '--address', `127.0.0.1:${apiPort}`, '--console-address', `127.0.0.1:${consolePort}`],
      {
        env: {
          ...process.env,
          MINIO_ROOT_USER: ROOT_USER,
          MINIO_ROOT_PASSWORD: ROOT_PASSWORD,
          MINIO_UPDATE: 'off',
          MINIO_BROWSER: 'off',
        },
      },
    );
    const endpoint = `http://127.0.0.1:${apiPort}`;
    const stop = async (): Promise<void> => {
      try {
        await child.stop('SIGTERM', 10_000);
      } finally {
        await removeDataDir(dataDir);
      }
    };
    try {
      await waitReady(child, endpoint);
      return serverFor('binary', endpoint, stop, () => child.logs());
    } catch (error) {
      lastError = error;
      await child.kill9();
      await removeDataDir(dataDir);
    }
  }
  throw lastError;
}

/**
 * MinIO syncs every PUT; on tmpfs (/dev/shm) that costs nothing, which halves the contract suite's
 * run time on 2 cores. Falls back to os.tmpdir(). Removed on stop, or when the test process exits.
 */
async function makeDataDir(): Promise<string> {
  try {
    accessSync(SHM, constants.W_OK);
    const dir = await mkdtemp(join(SHM, 't4-minio-'));
    shmDirs.add(dir);
    return dir;
  } catch {
    return makeTempDir('t4-minio-');
  }
}

async function removeDataDir(dir: string): Promise<void> {
  if (shmDirs.delete(dir)) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  else await removeDir(dir);
}

const SHM = '/dev/shm';
const shmDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of shmDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

async function waitReady(child: Supervised, endpoint: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!child.running) throw child.error('exited before it was ready');
    try {
      const response = await fetch(`${endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw child.error(`not ready within ${READY_TIMEOUT_MS} ms`);
}
