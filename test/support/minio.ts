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
//
// TLS: `findMinio({ tls: true })` and `startMinio(minio, { tls: true })` serve https on
// 127.0.0.1 with the test server certificate (test/support/certs.ts): `server.caBundle` is the CA
// to trust. Binary only (`--certs-dir`); the testcontainers path does not serve TLS.
//
// Least privilege: `server.restrictedCredentials(bucket, prefix)` asks MinIO's STS (AssumeRole,
// signed by the root user) for temporary credentials limited by an inline session policy, by
// default `leastPrivilegePolicy(bucket, prefix)`, the policy the README documents.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac, type BinaryLike } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { accessSync, constants, copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { S3ObjectStoreConfig } from '../../src/adapters/s3/s3-config.js';
import { testCertificates } from './certs.js';
import { freePort, makeTempDir, removeDir, runCommand, sleep, Supervised } from './child-process.js';
import { externalsRequired, goBinBinary, whichSync } from './external.js';

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

export interface StartMinioOptions {
  /** Serve https with the test server certificate (binary only). */
  readonly tls?: boolean;
}

/** Temporary credentials from MinIO's STS. */
export interface MinioSessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: string;
}

export interface MinioServer {
  readonly via: 'testcontainers' | 'binary';
  /** `http://127.0.0.1:<port>` (or the container's mapped address); `https://127.0.0.1:<port>` with TLS. */
  readonly endpoint: string;
  /** With TLS: the PEM path of the CA that signed the server's certificate; otherwise undefined. */
  readonly caBundle: string | undefined;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Creates a bucket (tests only; T4 never creates buckets). Idempotent. */
  createBucket(bucket: string): Promise<void>;
  /** An S3ObjectStore configuration for `bucket`/`prefix` on this server (root credentials; the CA bundle with TLS). */
  s3Config(bucket: string, prefix?: string): S3ObjectStoreConfig;
  /**
   * Temporary credentials (with a session token) that may do only what `policy` allows, by default
   * `leastPrivilegePolicy(bucket, prefix)`: STS AssumeRole with an inline session policy, signed by
   * the root user, so the effective permissions are exactly the policy's.
   */
  restrictedCredentials(bucket: string, prefix: string, policy?: IamPolicy): Promise<MinioSessionCredentials>;
  /** Server output so far (binary only), for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Finds a way to run MinIO; quick (a few seconds at most). With `tls`, only the binary will do (it
 * is preferred over Docker then): the testcontainers path does not serve TLS.
 */
export async function findMinio(options: StartMinioOptions = {}): Promise<MinioAvailability> {
  if (options.tls === true) {
    const binary = whichSync('minio') ?? (await goBinBinary('minio'));
    if (binary !== undefined) return { skip: false, via: 'binary', binary };
    return skipOrThrow(
      'MinIO over TLS not available: it needs a minio binary on PATH or in $(go env GOPATH)/bin (run .ci/run, or go install github.com/minio/minio@<pinned version>); the testcontainers path does not serve TLS',
    );
  }
  if (await dockerAnswers()) return { skip: false, via: 'testcontainers' };
  const binary = whichSync('minio') ?? (await goBinBinary('minio'));
  if (binary !== undefined) return { skip: false, via: 'binary', binary };
  return skipOrThrow('MinIO not available: no Docker engine answered and no minio binary on PATH or in $(go env GOPATH)/bin (run .ci/run, or go install github.com/minio/minio@<pinned version>)');
}

function skipOrThrow(reason: string): MinioAvailability {
  if (externalsRequired()) throw new Error(`${reason}; T4_REQUIRE_EXTERNAL=1 forbids skipping`);
  return { skip: reason };
}

export async function startMinio(availability: MinioAvailability, options: StartMinioOptions = {}): Promise<MinioServer> {
  if (availability.skip !== false) throw new Error(availability.skip);
  if (availability.via === 'testcontainers') {
    if (options.tls === true) throw new Error('MinIO over TLS needs the minio binary (findMinio({ tls: true }) finds it); the testcontainers path does not serve TLS');
    return startContainer();
  }
  return startBinary(availability.binary, options.tls === true);
}

/** An IAM policy document (the subset T4's docs and tests use). */
export interface IamPolicy {
  readonly Version: '2012-10-17';
  readonly Statement: readonly {
    readonly Effect: 'Allow' | 'Deny';
    readonly Action: readonly string[];
    readonly Resource: readonly string[];
    readonly Condition?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  }[];
}

/**
 * The least privilege T4 needs on `bucket`/`prefix`, exactly as the README's "Least privilege
 * (IAM)" section prints it (for bucket my-t4-bucket and prefix t4; a test compares the two): list
 * the prefix, and get, put and delete the objects under it.
 */
export function leastPrivilegePolicy(bucket: string, prefix: string): IamPolicy {
  const p = prefix.replace(/\/+$/, '');
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [`arn:aws:s3:::${bucket}`],
        Condition: { StringLike: { 's3:prefix': [`${p}/*`] } },
      },
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        Resource: [`arn:aws:s3:::${bucket}/${p}/*`],
      },
    ],
  };
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

function serverFor(via: MinioServer['via'], endpoint: string, caBundle: string | undefined, stop: () => Promise<void>, logs: () => string): MinioServer {
  const region = 'us-east-1';
  return {
    via,
    endpoint,
    caBundle,
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
        ...(caBundle === undefined ? {} : { requestHandler: { httpsAgent: new HttpsAgent({ ca: readFileSync(caBundle, 'utf8') }) } }),
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
        ...(caBundle === undefined ? {} : { caBundle }),
      };
    },
    restrictedCredentials(bucket: string, prefix: string, policy = leastPrivilegePolicy(bucket, prefix)): Promise<MinioSessionCredentials> {
      return assumeRole(endpoint, region, caBundle, policy);
    },
    logs,
    stop,
  };
}

/** The lifetime asked of STS credentials: far longer than any test. */
const SESSION_SECONDS = 3_600;

/** node:crypto as the SHA-256 / HMAC constructor SigV4 wants. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const binary = (data: SourceData): BinaryLike =>
  typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', binary(secret));
  }
  update(data: SourceData): void {
    this.hash.update(binary(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    throw new Error('NodeSha256 is single-use');
  }
}

/**
 * MinIO's STS AssumeRole (https://min.io/docs/minio/linux/developers/security-token-service/AssumeRole.html):
 * a POST of the form `Action=AssumeRole&Version=2011-06-15&DurationSeconds=..&Policy=<json>` to the
 * server's root path, SigV4-signed for service `sts` with the root credentials.
 */
async function assumeRole(endpoint: string, region: string, caBundle: string | undefined, policy: IamPolicy): Promise<MinioSessionCredentials> {
  const url = new URL(endpoint);
  const body = new URLSearchParams({ Action: 'AssumeRole', Version: '2011-06-15', DurationSeconds: String(SESSION_SECONDS), Policy: JSON.stringify(policy) }).toString();
  const signer = new SignatureV4({ service: 'sts', region, credentials: { accessKeyId: ROOT_USER, secretAccessKey: ROOT_PASSWORD }, sha256: NodeSha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    query: {},
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const response = await post(url, signed.headers, body, caBundle);
  const field = (name: string): string => {
    const value = new RegExp(`<${name}>([^<]*)</${name}>`).exec(response.body)?.[1];
    if (value === undefined || response.status !== 200) throw new Error(`MinIO STS AssumeRole failed (HTTP ${response.status}): ${response.body}`);
    return value;
  };
  return { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey'), sessionToken: field('SessionToken'), expiration: field('Expiration') };
}

/** One request over http or https (trusting only `caBundle` when given). */
function post(url: URL, headers: Record<string, string>, body: string | undefined, caBundle: string | undefined, method = 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = { method, host: url.hostname, port: url.port, path: url.pathname, headers, timeout: 5_000 };
    const done = (res: import('node:http').IncomingMessage): void => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    };
    const req =
      url.protocol === 'https:'
        ? httpsRequest({ ...options, ...(caBundle === undefined ? {} : { ca: readFileSync(caBundle, 'utf8') }) }, done)
        : httpRequest(options, done);
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.href}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function startContainer(): Promise<MinioServer> {
  const { MinioContainer } = await import('@testcontainers/minio');
  const container = await new MinioContainer(MINIO_IMAGE).withUsername(ROOT_USER).withPassword(ROOT_PASSWORD).start();
  return serverFor(
    'testcontainers',
    container.getConnectionUrl(),
    undefined,
    async () => {
      await container.stop();
    },
    () => '',
  );
}

async function startBinary(binary: string, tls: boolean): Promise<MinioServer> {
  let lastError: unknown;
  // A free port can be taken between probing and binding; try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dataDir = await makeDataDir();
    const apiPort = await freePort();
    const consolePort = await freePort();
    const certs = tls ? certsDir(dataDir) : undefined;
    mkdirSync(join(dataDir, 'data'));
    const child = new Supervised(
      'minio',
      binary,
      [
        'server',
        join(dataDir, 'data'),
        '--address',
        `127.0.0.1:${apiPort}`,
        '--console-address',
        `127.0.0.1:${consolePort}`,
        ...(certs === undefined ? [] : ['--certs-dir', certs.dir]),
      ],
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
    const endpoint = `${tls ? 'https' : 'http'}://127.0.0.1:${apiPort}`;
    const stop = async (): Promise<void> => {
      try {
        await child.stop('SIGTERM', 10_000);
      } finally {
        await removeDataDir(dataDir);
      }
    };
    try {
      await waitReady(child, endpoint, certs?.ca);
      return serverFor('binary', endpoint, certs?.ca, stop, () => child.logs());
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

/**
 * MinIO's `--certs-dir` layout: `public.crt` and `private.key` (the test server certificate, for
 * 127.0.0.1, ::1 and localhost) in a directory beside the data. Returns it and the CA to trust.
 */
function certsDir(dataDir: string): { dir: string; ca: string } {
  const certs = testCertificates();
  const dir = join(dataDir, 'certs');
  mkdirSync(dir, { recursive: true });
  copyFileSync(certs.server.cert, join(dir, 'public.crt'));
  copyFileSync(certs.server.key, join(dir, 'private.key'));
  return { dir, ca: certs.ca.cert };
}

async function waitReady(child: Supervised, endpoint: string, caBundle: string | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const url = new URL('/minio/health/ready', endpoint);
  while (Date.now() < deadline) {
    if (!child.running) throw child.error('exited before it was ready');
    try {
      const response = await post(url, {}, undefined, caBundle, 'GET');
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw child.error(`not ready within ${READY_TIMEOUT_MS} ms`);
}
