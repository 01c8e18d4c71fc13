/**
 * Client-side encryption of the object store with the built `t4 run`, `t4 status`, `t4 gc` and
 * `t4 rekey` on MinIO (issue 6, parts 1 and 2):
 *  - after writes, no object body in the bucket holds a written value in plaintext;
 *  - SIGKILL, the data dir deleted, restart with the key: every acknowledged write is back;
 *  - start-up with a wrong key, without a key, or a plaintext node on the encrypted prefix stops
 *    with a clear error and writes nothing;
 *  - rotation without downtime: the node restarts with a new current key and the old one as an
 *    older key, `t4 rekey` runs while writers keep writing, leaves no object on the old key, and
 *    the prefix then restores with the new key alone.
 * Flipped bits, truncation and relocated objects are refused by the envelope (unit tests in
 * test/unit/adapters/encryption and the contract suite through the decorator on MinIO).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { S3ObjectStore } from '../../src/adapters/s3/s3-object-store.js';
import { fromUtf8, utf8 } from '../../src/domain/bytes.js';
import { listAll } from '../../src/ports/object-store.js';
import { makeTempDir, removeDir } from '../support/child-process.js';
import { EtcdGrpcClient } from '../support/etcd-grpc-client.js';
import { findMinio, startMinio, type MinioServer } from '../support/minio.js';
import { runT4, startT4 } from '../support/t4-process.js';

const minio = await findMinio();
const BUCKET = 't4-encryption';
const MAGIC = Buffer.from('T4E1');

describe('object-store encryption with t4 run on MinIO', { skip: minio.skip }, () => {
  let server: MinioServer;
  let keys: string;
  let keyA: string;
  let keyB: string;
  before(async () => {
    server = await startMinio(minio);
    await server.createBucket(BUCKET);
    keys = await makeTempDir('t4-keys-');
    keyA = join(keys, 'a.key');
    keyB = join(keys, 'b.key');
    writeFileSync(keyA, randomBytes(32).toString('base64'), { mode: 0o600 });
    writeFileSync(keyB, randomBytes(32).toString('hex'), { mode: 0o600 });
  });
  after(async () => {
    await server?.stop();
    if (keys !== undefined) await removeDir(keys);
  });

  const store = (prefix: string) => new S3ObjectStore(server.s3Config(BUCKET, prefix));
  const storeFlags = (prefix: string): string[] => [
    '--s3-bucket', BUCKET, '--s3-prefix', prefix, '--s3-endpoint', server.endpoint,
    '--s3-access-key-id', server.accessKeyId, '--s3-secret-access-key', server.secretAccessKey,
  ];

  async function bodies(prefix: string): Promise<Map<string, Buffer>> {
    const raw = store(prefix);
    const out = new Map<string, Buffer>();
    for await (const o of listAll(raw, '')) out.set(o.key, Buffer.from((await raw.get(o.key)) ?? new Uint8Array()));
    return out;
  }

  it('stores only ciphertext and survives disk loss with the key', async () => {
    const prefix = `enc-${Date.now()}`;
    const flags = [...storeFlags(prefix), '--object-store-encryption-key-file', keyA, '--checkpoint-entries', '30'];
    const t4 = await startT4({ args: flags });
    const acked = new Map<string, number>();
    const client = new EtcdGrpcClient(t4.endpoint);
    try {
      await Promise.all(
        Array.from({ length: 4 }, async (_, w) => {
          for (let i = 0; i < 20; i++) {
            const r = await client.put({ key: utf8(`secret/${w}/${i}`), value: utf8(`plaintext-value-${w}-${i}`) });
            acked.set(`secret/${w}/${i}`, Number(r.header?.revision));
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      client.close();
    }
    await t4.kill9();
    const stored = await bodies(prefix);
    assert.ok([...stored.keys()].some((k) => k.startsWith('wal/')) && [...stored.keys()].some((k) => k.startsWith('chunks/')), [...stored.keys()].join(' '));
    for (const [key, body] of stored) {
      assert.ok(body.subarray(0, 4).equals(MAGIC), `${key} starts with T4E1`);
      assert.ok(!body.includes('plaintext-value'), `${key} holds no written value in plaintext`);
      assert.ok(!body.includes('secret/'), `${key} holds no written key in plaintext`);
    }
    await removeDir(t4.dataDir);

    const restored = await startT4({ args: flags });
    const again = new EtcdGrpcClient(restored.endpoint);
    try {
      for (const [key, revision] of acked) {
        const r = await again.range({ key: utf8(key) });
        assert.equal(fromUtf8(r.kvs[0]?.value ?? new Uint8Array()), `plaintext-value-${key.split('/')[1]}-${key.split('/')[2]}`);
        assert.equal(Number(r.kvs[0]?.modRevision), revision, key);
      }
    } finally {
      again.close();
      await restored.cleanup();
      await t4.cleanup();
    }

    // Wrong key, no key: start-up stops before writing anything, with a message that says why.
    const before = await bodies(prefix);
    for (const [args, pattern] of [
      [['--object-store-encryption-key-file', keyB], /authentication-failed|wrong key|does not decrypt|cannot decrypt/i],
      [[], /encrypted|object-store-encryption-key/i],
    ] as const) {
      const dir = await makeTempDir('t4-enc-');
      try {
        const r = await runT4(['run', '--data-dir', dir, '--listen', '127.0.0.1:0', ...storeFlags(prefix), ...args], { timeoutMs: 60_000 });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, pattern);
      } finally {
        await removeDir(dir);
      }
    }
    const status = await runT4(['status', ...storeFlags(prefix)]);
    assert.notEqual(status.code, 0, 'status without the key refuses an encrypted prefix');
    const after = await bodies(prefix);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'nothing was written by the refused starts');
    for (const [k, v] of after) assert.ok(v.equals(before.get(k) as Buffer), `${k} unchanged`);
  });

  it('an encrypted node refuses a prefix holding plaintext objects', async () => {
    const prefix = `plain-${Date.now()}`;
    const plain = await startT4({ args: storeFlags(prefix) });
    const client = new EtcdGrpcClient(plain.endpoint);
    await client.put({ key: utf8('k'), value: utf8('v') });
    client.close();
    await plain.stop('SIGTERM');
    await plain.cleanup();
    const dir = await makeTempDir('t4-enc-');
    try {
      const r = await runT4(['run', '--data-dir', dir, '--listen', '127.0.0.1:0', ...storeFlags(prefix), '--object-store-encryption-key-file', keyA], { timeoutMs: 60_000 });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not encrypted|plaintext/i);
    } finally {
      await removeDir(dir);
    }
  });

  it('rotates the key without downtime: rekey under write load leaves nothing on the old key and loses nothing', async () => {
    const prefix = `rot-${Date.now()}`;
    const oldFlags = [...storeFlags(prefix), '--object-store-encryption-key-file', keyA, '--checkpoint-entries', '40'];
    const first = await startT4({ args: oldFlags });
    let client = new EtcdGrpcClient(first.endpoint);
    const acked = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      await client.put({ key: utf8(`r/${i}`), value: utf8(`a${i}`) });
      acked.set(`r/${i}`, `a${i}`);
    }
    client.close();
    await first.stop('SIGTERM');
    // New key current (id 1), old key still readable (id 0); same data dir: a rolling restart.
    const rotated = [
      ...storeFlags(prefix), '--object-store-encryption-key-file', keyB, '--object-store-encryption-key-id', '1',
      '--object-store-encryption-old-key-file', `0:${keyA}`, '--checkpoint-entries', '40',
    ];
    const second = await startT4({ dataDir: first.dataDir, args: rotated });
    client = new EtcdGrpcClient(second.endpoint);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await client.put({ key: utf8(`w/${i % 50}`), value: utf8(`b${i}`) });
        acked.set(`w/${i % 50}`, `b${i}`);
      }
    })();
    const rekey = await runT4(['rekey', ...rotated.filter((f) => f !== '--checkpoint-entries' && f !== '40')], { timeoutMs: 120_000 });
    writing = false;
    await writer;
    client.close();
    assert.equal(rekey.code, 0, rekey.stderr + rekey.stdout);
    assert.match(rekey.stdout, /can be dropped/);
    await second.stop('SIGTERM');
    const stored = await bodies(prefix);
    for (const [key, body] of stored) assert.equal(body[4], 1, `${key} is on key id 1 (header key id ${body[4]})`);

    // The old key is no longer needed: a fresh node with only the new key restores everything.
    await removeDir(first.dataDir);
    const third = await startT4({ args: [...storeFlags(prefix), '--object-store-encryption-key-file', keyB, '--object-store-encryption-key-id', '1'] });
    const check = new EtcdGrpcClient(third.endpoint);
    try {
      for (const [key, value] of acked) {
        const r = await check.range({ key: utf8(key) });
        assert.equal(fromUtf8(r.kvs[0]?.value ?? new Uint8Array()), value, key);
      }
    } finally {
      check.close();
      await third.cleanup();
      await second.cleanup();
      await first.cleanup();
    }
  });
});
