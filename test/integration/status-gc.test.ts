// `t4 status` and `t4 gc` against a real bucket (MinIO) that a `t4 run` wrote: checkpoints by
// --checkpoint-entries, what status prints, gc --keep/--dry-run, and that the prefix still
// restores everything after gc.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { utf8 } from '../../src/domain/bytes.js';
import { EtcdGrpcClient } from '../support/etcd-grpc-client.js';
import { findMinio, startMinio, type MinioServer } from '../support/minio.js';
import { runT4, startT4 } from '../support/t4-process.js';

const minio = await findMinio();
const BUCKET = 't4-status-gc';

describe('t4 status and t4 gc on MinIO', { skip: minio.skip }, () => {
  let server: MinioServer;
  before(async () => {
    server = await startMinio(minio);
    await server.createBucket(BUCKET);
  });
  after(() => server?.stop());

  const storeFlags = (prefix: string): string[] => [
    '--s3-bucket', BUCKET, '--s3-prefix', prefix, '--s3-endpoint', server.endpoint,
    '--s3-access-key-id', server.accessKeyId, '--s3-secret-access-key', server.secretAccessKey,
  ];
  const status = async (prefix: string): Promise<Record<string, unknown> & { checkpoints: { revision: number }[]; latest?: { revision: number } }> => {
    const r = await runT4(['status', '--json', ...storeFlags(prefix)]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown> & { checkpoints: { revision: number }[]; latest?: { revision: number } };
  };

  it('status of an empty prefix says there is no checkpoint', async () => {
    const r = await runT4(['status', ...storeFlags('empty')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /T4 object store status {2}s3:\/\/t4-status-gc\/empty/);
    assert.match(r.stdout, /latest checkpoint: {2}\(none; the node has not written a checkpoint yet\)/);
    assert.match(r.stdout, /wal segments: {7}0 objects/);
  });

  it('status and gc need a bucket and valid --keep (exit 2)', async () => {
    const none = await runT4(['status']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /an object store is required: --s3-bucket/);
    const keep = await runT4(['gc', '--keep', '0', ...storeFlags('x')]);
    assert.equal(keep.code, 2);
    assert.match(keep.stderr, /--keep: "0" must be a whole number of at least 1/);
  });

  it('checkpoints every N entries; gc --keep 1 deletes older checkpoints and covered WAL; the prefix still restores', async () => {
    const prefix = `run-${Date.now()}`;
    const t4 = await startT4({ args: [...storeFlags(prefix), '--checkpoint-entries', '25'] });
    const client = new EtcdGrpcClient(t4.endpoint);
    try {
      for (let i = 0; i < 100; i++) await client.put({ key: utf8(`k/${i}`), value: utf8(`v${i}`) });
      // Let the last triggered checkpoint finish, then stop gracefully.
      await new Promise((r) => setTimeout(r, 1_500));
    } finally {
      client.close();
    }
    assert.equal((await t4.stop('SIGTERM')).code, 0);
    const s1 = await status(prefix);
    assert.ok(s1.latest !== undefined && s1.latest.revision >= 76, `latest checkpoint ${JSON.stringify(s1.latest)}`);
    // The node's own GC keeps 2.
    assert.ok(s1.checkpoints.length <= 2 && s1.checkpoints.length >= 1, JSON.stringify(s1.checkpoints));

    const dry = await runT4(['gc', '--keep', '1', '--dry-run', ...storeFlags(prefix)]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /GC dry run \(nothing deleted\)/);
    assert.deepEqual((await status(prefix)).checkpoints, s1.checkpoints);

    const gc = await runT4(['gc', '--keep', '1', ...storeFlags(prefix)]);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /GC complete/);
    assert.match(gc.stdout, /checkpoints kept: 1, deleted: \d+/);
    const s2 = await status(prefix);
    assert.equal(s2.checkpoints.length, 1);
    assert.equal(s2.checkpoints[0]?.revision, s1.latest.revision);
    assert.ok((s2['walFirstRevision'] as number) <= s1.latest.revision + 1);

    // Disk gone: a new node on the same prefix has every key.
    const restored = await startT4({ args: storeFlags(prefix) });
    const again = new EtcdGrpcClient(restored.endpoint);
    try {
      const r = await again.range({ key: utf8('k/'), rangeEnd: utf8('k0'), countOnly: true });
      assert.equal(Number(r.count), 100);
      assert.equal(Number(r.header?.revision), 101);
    } finally {
      again.close();
      await restored.cleanup();
      await t4.cleanup();
    }
  });
});
