/**
 * docker-compose.yml: its structure (MinIO with a health check, a one-shot job creating the bucket,
 * T4 built from the Dockerfile and started only once both are ready), and the t4 service's exact
 * command line, run against a local MinIO with only the data dir, the listen address, the
 * endpoint and the credentials swapped for the test's: it must start, serve, write to the bucket,
 * and stop cleanly. No Docker engine is needed.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { fromUtf8, utf8 } from '../../src/domain/bytes.js';
import { makeTempDir, removeDir, Supervised } from '../support/child-process.js';
import { EtcdGrpcClient } from '../support/etcd-grpc-client.js';
import { findMinio, MINIO_IMAGE, startMinio, type MinioServer } from '../support/minio.js';
import { repoRoot, t4CliPath } from '../support/t4-process.js';

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: (string | { target?: number; published?: number | string })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: string | string[] };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const root = repoRoot();
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as ComposeFile;

function service(name: string): ComposeService {
  const s = compose.services[name];
  assert.ok(s !== undefined, `docker-compose.yml has a ${name} service`);
  return s;
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? [value] : value;
}

function environment(s: ComposeService): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(s.environment)) {
    for (const entry of s.environment) {
      const eq = entry.indexOf('=');
      if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) if (v !== null) out[k] = String(v);
  }
  return out;
}

function dependsOn(s: ComposeService): Record<string, string> {
  if (Array.isArray(s.depends_on)) return Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition ?? 'service_started']));
}

/** The value after `flag` (`--flag value` or `--flag=value`) in a command line, or undefined. */
function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === flag) return args[i + 1];
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
  }
  return undefined;
}

/** `args` with the value of each flag in `values` replaced (flags not present are left out). */
function withFlagValues(args: readonly string[], values: Readonly<Record<string, string>>): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const arg = out[i]!;
    for (const [flag, value] of Object.entries(values)) {
      if (arg === flag) out[i + 1] = value;
      else if (arg.startsWith(`${flag}=`)) out[i] = `${flag}=${value}`;
    }
  }
  return out;
}

const t4Command = (): string[] => asList(service('t4').command);

describe('docker-compose.yml', () => {
  it('runs the MinIO image the tests use, with a console on 9001 and a health check', () => {
    const minio = service('minio');
    assert.equal(minio.image, MINIO_IMAGE);
    const command = asList(minio.command);
    assert.equal(command[0], 'server');
    assert.equal(flagValue(command, '--console-address'), ':9001');
    assert.ok((minio.ports ?? []).some((p) => String(p).endsWith(':9001')), 'console port 9001 is published');
    assert.ok(asList(minio.healthcheck?.test).length > 0, 'minio has a healthcheck');
    const env = environment(minio);
    assert.ok(env['MINIO_ROOT_USER'] && env['MINIO_ROOT_PASSWORD'], 'root credentials are set');
  });

  it('creates the bucket T4 uses, once MinIO is healthy, with the MinIO credentials', () => {
    const init = service('minio-init');
    assert.match(init.image ?? '', /^minio\/mc:RELEASE\./);
    assert.deepEqual(dependsOn(init), { minio: 'service_healthy' });
    const script = [...asList(init.entrypoint), ...asList(init.command)].join(' ');
    const bucket = flagValue(t4Command(), '--s3-bucket');
    assert.ok(bucket !== undefined, 't4 is given --s3-bucket');
    assert.match(bucket, /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a valid S3 bucket name (3 to 63 characters)');
    assert.match(script, new RegExp(`mc mb (--ignore-existing )?local/${bucket}(\\s|$)`));
    const env = environment(service('minio'));
    assert.ok(script.includes(`http://minio:9000 ${env['MINIO_ROOT_USER']} ${env['MINIO_ROOT_PASSWORD']}`), 'mc uses the MinIO root credentials');
  });

  it('builds t4 from the Dockerfile and starts it after MinIO is healthy and the bucket exists', () => {
    const t4 = service('t4');
    const build = typeof t4.build === 'string' ? { context: t4.build } : t4.build;
    assert.ok(build !== undefined, 't4 is built');
    const dockerfile = join(root, build.context ?? '.', build.dockerfile ?? 'Dockerfile');
    assert.ok(existsSync(dockerfile), `${dockerfile} exists`);
    assert.match(readFileSync(dockerfile, 'utf8'), /^ENTRYPOINT \["node", "dist\/src\/app\/cli\/main\.js"\]$/m);
    assert.deepEqual(dependsOn(t4), { minio: 'service_healthy', 'minio-init': 'service_completed_successfully' });
    assert.ok((t4.ports ?? []).some((p) => String(p) === '3379:3379'), 'the etcd port 3379 is published');
  });

  it("gives t4 a volume for its data dir and points it at the compose MinIO with MinIO's credentials", () => {
    const command = t4Command();
    assert.equal(command[0], 'run');
    const dataDir = flagValue(command, '--data-dir');
    assert.equal(dataDir, '/var/lib/t4');
    const mounts = (service('t4').volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target));
    assert.ok(mounts.includes(dataDir), `a volume is mounted at ${dataDir}`);
    assert.equal(flagValue(command, '--listen'), '0.0.0.0:3379');
    assert.equal(flagValue(command, '--s3-endpoint'), 'http://minio:9000');
    const minioEnv = environment(service('minio'));
    const t4Env = environment(service('t4'));
    assert.equal(flagValue(command, '--s3-access-key-id') ?? t4Env['T4_S3_ACCESS_KEY_ID'], minioEnv['MINIO_ROOT_USER']);
    assert.equal(flagValue(command, '--s3-secret-access-key') ?? t4Env['T4_S3_SECRET_ACCESS_KEY'], minioEnv['MINIO_ROOT_PASSWORD']);
  });
});

const minioAvailability = await findMinio();

describe("the t4 service's command line, against a local MinIO", { skip: minioAvailability.skip }, () => {
  let minio: MinioServer | undefined;
  let dataDir: string | undefined;
  let proc: Supervised | undefined;

  before(async () => {
    minio = await startMinio(minioAvailability);
  });
  after(async () => {
    await proc?.kill9();
    if (dataDir !== undefined) await removeDir(dataDir);
    await minio?.stop();
  });

  it('starts, serves, writes to the bucket under its prefix, and stops on SIGTERM', async () => {
    assert.ok(minio !== undefined);
    const command = t4Command();
    const bucket = flagValue(command, '--s3-bucket')!;
    const prefix = flagValue(command, '--s3-prefix') ?? '';
    await minio.createBucket(bucket);
    dataDir = await makeTempDir('t4-compose-');
    const args = withFlagValues(command, {
      '--data-dir': dataDir,
      '--listen': '127.0.0.1:0',
      '--s3-endpoint': minio.endpoint,
      '--s3-access-key-id': minio.accessKeyId,
      '--s3-secret-access-key': minio.secretAccessKey,
    });
    const env: NodeJS.ProcessEnv = { ...process.env, ...environment(service('t4')) };
    if (env['T4_S3_ACCESS_KEY_ID'] !== undefined) env['T4_S3_ACCESS_KEY_ID'] = minio.accessKeyId;
    if (env['T4_S3_SECRET_ACCESS_KEY'] !== undefined) env['T4_S3_SECRET_ACCESS_KEY'] = minio.secretAccessKey;
    if (env['T4_S3_ENDPOINT'] !== undefined) env['T4_S3_ENDPOINT'] = minio.endpoint;
    env['T4_LOG_LEVEL'] = 'info'; // the ready line is logged at info

    proc = new Supervised('t4', process.execPath, [t4CliPath(), ...args], { cwd: root, env });
    const endpoint = await proc.waitForLine(readyAddress, 30_000, 'the "serving etcd v3 gRPC" log line');
    assert.match(endpoint, /^127\.0\.0\.1:\d+$/);

    const client = new EtcdGrpcClient(endpoint, { deadlineMs: 15_000 });
    try {
      const put = await client.put({ key: utf8('compose/a'), value: utf8('1') });
      assert.ok(Number(put.header?.revision) >= 2);
      const got = await client.range({ key: utf8('compose/a') });
      assert.equal(fromUtf8(got.kvs[0]?.value ?? new Uint8Array()), '1');
    } finally {
      client.close();
    }

    const s3 = new S3Client({
      region: minio.region,
      endpoint: minio.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
    });
    try {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
      assert.ok(keys.length > 0, `t4 wrote objects under ${bucket}/${prefix} after an acknowledged put\n${proc.logs()}`);
    } finally {
      s3.destroy();
    }

    const exit = await proc.stop('SIGTERM', 15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, proc.logs());
  });
});

/** The listener address if `line` is the pino JSON line announcing the gRPC listener. */
function readyAddress(line: string): string | undefined {
  if (!line.includes('serving etcd v3 gRPC')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; address?: unknown };
    return entry.msg === 'serving etcd v3 gRPC' && typeof entry.address === 'string' ? entry.address : undefined;
  } catch {
    return undefined;
  }
}
