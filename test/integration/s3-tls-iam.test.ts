/**
 * The object store over TLS, and on the least privilege T4 needs (issue 6, parts 3 and 4), with
 * the built `t4 run`, `t4 status` and `t4 gc` on MinIO:
 *
 *  1. MinIO serving https with the test server certificate (test/support/certs.ts): with
 *     `--s3-ca-bundle <test CA>` T4 works; with another CA, or without the flag (the system trust
 *     store does not know the test CA), start-up fails with the certificate error; the bundle is the
 *     only trust (NODE_EXTRA_CA_CERTS holding the test CA does not help when the bundle names
 *     another CA); a bundle that is missing, not PEM, or given for an http endpoint stops start-up
 *     with exit 2 naming the file.
 *  2. Temporary credentials from MinIO's STS (AssumeRole with an inline session policy: exactly
 *     s3:GetObject, s3:PutObject, s3:DeleteObject on `<bucket>/<prefix>/*` and s3:ListBucket on
 *     the bucket for `<prefix>/*`, the README's policy) and `--s3-session-token`: writes,
 *     checkpoints and the node's GC, SIGKILL, disk lost, restart: every acknowledged write is back;
 *     `t4 status` and `t4 gc` work; and the same credentials are refused outside the prefix.
 *
 * Each part is skipped with the reason (or fails under T4_REQUIRE_EXTERNAL=1) without MinIO; TLS
 * needs the minio binary.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { S3ObjectStore } from '../../src/adapters/s3/s3-object-store.js';
import { fromUtf8, prefixEnd, utf8 } from '../../src/domain/bytes.js';
import { ObjectStoreRequestError } from '../../src/ports/object-store-errors.js';
import { testCertificates } from '../support/certs.js';
import { makeTempDir, removeDir, type RunResult } from '../support/child-process.js';
import { EtcdGrpcClient } from '../support/etcd-grpc-client.js';
import { findMinio, leastPrivilegePolicy, startMinio, type MinioServer, type MinioSessionCredentials } from '../support/minio.js';
import { repoRoot, runT4, startT4, type T4Process } from '../support/t4-process.js';

const BUCKET = 't4-tls-iam';
const START_TIMEOUT_MS = 60_000;

/**
 * The child's environment: no ambient trust or credentials that could make a test pass for the
 * wrong reason (startT4/runT4 merge this over process.env; undefined removes a variable).
 */
const CLEAN_ENV: NodeJS.ProcessEnv = {
  NODE_EXTRA_CA_CERTS: undefined,
  SSL_CERT_FILE: undefined,
  SSL_CERT_DIR: undefined,
  AWS_CA_BUNDLE: undefined,
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  T4_S3_CA_BUNDLE: undefined,
  T4_S3_SESSION_TOKEN: undefined,
};

const CERTIFICATE_ERROR = /unable to verify the first certificate|self-signed certificate in certificate chain/;

/** `t4 run` that is expected to stop during start-up: its result. */
async function runUntilExit(flags: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  const dataDir = await makeTempDir('t4-tls-');
  try {
    return await runT4(['run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...flags], { env, timeoutMs: 60_000 });
  } finally {
    await removeDir(dataDir);
  }
}

async function putAndRead(t4: T4Process, keys: number, tag: string): Promise<void> {
  const client = new EtcdGrpcClient(t4.endpoint);
  try {
    for (let i = 0; i < keys; i++) await client.put({ key: utf8(`tls/${i}`), value: utf8(`${tag}${i}`) });
    const all = await client.range({ key: utf8('tls/'), rangeEnd: prefixEnd(utf8('tls/')) });
    assert.equal(all.kvs.length, keys);
    for (const kv of all.kvs) assert.equal(fromUtf8(kv.value), `${tag}${fromUtf8(kv.key).slice('tls/'.length)}`);
  } finally {
    client.close();
  }
}

const minioTls = await findMinio({ tls: true });

describe('S3 over TLS with a pinned CA bundle (MinIO on https)', { skip: minioTls.skip }, () => {
  const certs = testCertificates();
  let server: MinioServer;
  let env: NodeJS.ProcessEnv;
  const nodes = new Set<T4Process>();
  before(async () => {
    server = await startMinio(minioTls, { tls: true });
    await server.createBucket(BUCKET);
    env = { ...CLEAN_ENV, T4_S3_ACCESS_KEY_ID: server.accessKeyId, T4_S3_SECRET_ACCESS_KEY: server.secretAccessKey };
  });
  after(async () => {
    for (const t4 of nodes) await t4.cleanup();
    await server?.stop();
  });
  const flags = (prefix: string): string[] => ['--s3-bucket', BUCKET, '--s3-prefix', prefix, '--s3-endpoint', server.endpoint];

  it('MinIO serves https on 127.0.0.1 with the test certificate', () => {
    assert.match(server.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.caBundle, certs.ca.cert);
  });

  it('--s3-ca-bundle with the test CA: t4 run writes over https into the bucket; t4 status reads it (T4_S3_CA_BUNDLE)', async () => {
    const prefix = `tls-ok-${Date.now()}`;
    const t4 = await startT4({ args: [...flags(prefix), '--s3-ca-bundle', certs.ca.cert], env, startTimeoutMs: START_TIMEOUT_MS });
    nodes.add(t4);
    await putAndRead(t4, 20, 'v');
    const store = new S3ObjectStore(server.s3Config(BUCKET, prefix));
    try {
      const wal = await store.listPage('wal/');
      assert.ok(wal.objects.length > 0, `no WAL objects under ${prefix}/wal/`);
    } finally {
      store.close();
    }
    assert.equal((await t4.stop('SIGTERM')).code, 0, t4.logs());
    nodes.delete(t4);
    await t4.cleanup();

    const status = await runT4(['status', '--json', ...flags(prefix)], { env: { ...env, T4_S3_CA_BUNDLE: certs.ca.cert } });
    assert.equal(status.code, 0, status.stderr);
    assert.ok((JSON.parse(status.stdout) as { walSegments: number }).walSegments > 0, status.stdout);
  });

  it('--s3-ca-bundle with another CA: start-up fails with the certificate error', async () => {
    const r = await runUntilExit([...flags(`tls-other-${Date.now()}`), '--s3-ca-bundle', certs.otherCa.cert], env);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, CERTIFICATE_ERROR);
    assert.match(r.stderr, /certificate was refused: is its CA in the S3 CA bundle \(--s3-ca-bundle\)/);
  });

  it('without --s3-ca-bundle the system trust store does not know the test CA: start-up fails with the certificate error', async () => {
    const r = await runUntilExit(flags(`tls-none-${Date.now()}`), env);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, CERTIFICATE_ERROR);
  });

  it('the bundle is the only trust: NODE_EXTRA_CA_CERTS holding the test CA is ignored when the bundle names another CA', async () => {
    const extra = { ...env, NODE_EXTRA_CA_CERTS: certs.ca.cert };
    // Control: without a bundle, Node's store (with the extra CA) is used, so the test CA is trusted.
    const control = await runT4(['status', ...flags('tls-extra')], { env: extra });
    assert.equal(control.code, 0, control.stderr);
    const pinned = await runT4(['status', ...flags('tls-extra'), '--s3-ca-bundle', certs.otherCa.cert], { env: extra });
    assert.equal(pinned.code, 1, pinned.stdout);
    assert.match(pinned.stderr, CERTIFICATE_ERROR);
  });

  it('a bundle that is missing, not PEM, or given for an http endpoint (or without a bucket) stops start-up with exit 2 naming it', async () => {
    const dir = await makeTempDir('t4-tls-bundle-');
    try {
      const missing = join(dir, 'missing.pem');
      const notPem = join(dir, 'not-a-bundle.pem');
      writeFileSync(notPem, 'just text\n');
      const r1 = await runUntilExit([...flags('x'), '--s3-ca-bundle', missing], env);
      assert.equal(r1.code, 2, r1.stderr);
      assert.match(r1.stderr, new RegExp(`cannot read the S3 CA bundle ${missing}`));
      const r2 = await runUntilExit([...flags('x'), '--s3-ca-bundle', notPem], env);
      assert.equal(r2.code, 2, r2.stderr);
      assert.match(r2.stderr, new RegExp(`the S3 CA bundle ${notPem} holds no PEM certificate`));
      const http = server.endpoint.replace('https:', 'http:');
      const r3 = await runUntilExit(['--s3-bucket', BUCKET, '--s3-endpoint', http, '--s3-ca-bundle', certs.ca.cert], env);
      assert.equal(r3.code, 2, r3.stderr);
      assert.match(r3.stderr, /CA bundle .* needs an https endpoint/);
      const r4 = await runT4(['status', '--s3-ca-bundle', certs.ca.cert], { env });
      assert.equal(r4.code, 2, r4.stderr);
      assert.match(r4.stderr, /--s3-ca-bundle needs --s3-bucket/);
    } finally {
      await removeDir(dir);
    }
  });
});

const minio = await findMinio();
const PREFIX = 't4-iam';
const WRITERS = 8;
const WRITES_PER_WRITER = 15;

describe('least privilege: t4 on STS credentials limited to Get/Put/DeleteObject and ListBucket on its prefix', { skip: minio.skip }, () => {
  let server: MinioServer;
  let creds: MinioSessionCredentials;
  let env: NodeJS.ProcessEnv;
  const nodes = new Set<T4Process>();
  before(async () => {
    server = await startMinio(minio);
    await server.createBucket(BUCKET);
    await server.createBucket(`${BUCKET}-other`);
    creds = await server.restrictedCredentials(BUCKET, PREFIX);
    env = { ...CLEAN_ENV, T4_S3_ACCESS_KEY_ID: creds.accessKeyId, T4_S3_SECRET_ACCESS_KEY: creds.secretAccessKey };
  });
  after(async () => {
    for (const t4 of nodes) await t4.cleanup();
    await server?.stop();
  });
  // The session token as a flag (the keys come from the environment, as an operator would pass them).
  const flags = (): string[] => ['--s3-bucket', BUCKET, '--s3-prefix', PREFIX, '--s3-endpoint', server.endpoint, '--s3-session-token', creds.sessionToken];
  const restrictedStore = (bucket: string, prefix: string): S3ObjectStore =>
    new S3ObjectStore({
      ...server.s3Config(bucket, prefix),
      credentials: { kind: 'static', accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
    });
  const node = async (): Promise<T4Process> => {
    const t4 = await startT4({ args: [...flags(), '--checkpoint-entries', '20'], env, startTimeoutMs: START_TIMEOUT_MS });
    nodes.add(t4);
    return t4;
  };

  it('the README documents exactly the policy these credentials carry', () => {
    const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
    const section = readme.split(/^## /m).find((s) => s.startsWith('Least privilege (IAM)'));
    assert.ok(section !== undefined, 'README.md has no "## Least privilege (IAM)" section');
    const json = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
    assert.ok(json !== undefined, 'the "Least privilege (IAM)" section has no json block');
    assert.deepEqual(JSON.parse(json), leastPrivilegePolicy('my-t4-bucket', 't4'));
  });

  it('the restriction is real: inside the prefix the credentials work, outside it they are refused (AccessDenied)', async () => {
    const inside = restrictedStore(BUCKET, PREFIX);
    const outside = restrictedStore(BUCKET, 'elsewhere');
    const otherBucket = restrictedStore(`${BUCKET}-other`, PREFIX);
    const root = new S3ObjectStore(server.s3Config(BUCKET, 'elsewhere'));
    try {
      await inside.put('probe', utf8('x'));
      assert.equal(fromUtf8((await inside.get('probe'))!), 'x');
      await inside.delete('probe');
      const denied = (e: unknown): boolean => e instanceof ObjectStoreRequestError && e.code === 'AccessDenied';
      await assert.rejects(outside.put('probe', utf8('x')), denied);
      await assert.rejects(outside.listPage(''), denied);
      await assert.rejects(otherBucket.put('probe', utf8('x')), denied);
      await assert.rejects(otherBucket.listPage(''), denied);
      // The same write with the root credentials succeeds: the refusal is the policy's.
      await root.put('probe', utf8('x'));
      await assert.rejects(outside.get('probe'), denied);
      await assert.rejects(outside.delete('probe'), denied);
      await root.delete('probe');
    } finally {
      for (const s of [inside, outside, otherBucket, root]) s.close();
    }
  });

  it('writes, checkpoints and GC, SIGKILL, disk lost, restart: every acknowledged write is back; t4 status and t4 gc work', async () => {
    const t4 = await node();
    const acked = new Map<string, { value: string; revision: number }>();
    const client = new EtcdGrpcClient(t4.endpoint);
    try {
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          for (let n = 0; n < WRITES_PER_WRITER; n++) {
            const key = `iam/${w}/${n % 5}`;
            const value = `w${w}n${n}`;
            const res = await client.put({ key: utf8(key), value: utf8(value) });
            acked.set(key, { value, revision: Number(res.header?.revision) });
          }
        }),
      );
      // Let the checkpoints that --checkpoint-entries triggered (and the node's GC after them) run.
      await new Promise((r) => setTimeout(r, 2_000));
    } finally {
      client.close();
    }
    const firstLogs = t4.logs();
    await t4.cleanup(); // SIGKILL and the data dir is gone
    nodes.delete(t4);

    const restored = await node();
    const c2 = new EtcdGrpcClient(restored.endpoint);
    try {
      for (const [key, w] of acked) {
        const res = await c2.range({ key: utf8(key) });
        const kv = res.kvs[0];
        assert.ok(kv !== undefined, `${key} is gone after the restore`);
        assert.equal(fromUtf8(kv.value), w.value, key);
        assert.equal(Number(kv.modRevision), w.revision, key);
      }
      assert.equal(acked.size, WRITERS * 5);
    } finally {
      c2.close();
    }
    assert.equal((await restored.stop('SIGTERM')).code, 0, restored.logs());
    nodes.delete(restored);
    const logs = `${firstLogs}\n${restored.logs()}`;
    assert.doesNotMatch(logs, /AccessDenied|refused|"level":50/, logs.slice(-4_000));
    await restored.cleanup();

    const status = await runT4(['status', '--json', ...flags()], { env });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { checkpoints: unknown[]; walSegments: number };
    assert.ok(s.checkpoints.length >= 2, `expected the node's checkpoints: ${status.stdout}`);
    const gc = await runT4(['gc', '--keep', '1', ...flags()], { env });
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /checkpoints kept: 1, deleted: [1-9]/);
    const after = await runT4(['status', '--json', ...flags()], { env });
    assert.equal(after.code, 0, after.stderr);
    assert.equal((JSON.parse(after.stdout) as { checkpoints: unknown[] }).checkpoints.length, 1);
  });
});
