// Object-store flags of `t4 run` (and `t4 status` / `t4 gc`): precedence, fail-closed credentials,
// refusal of contradictory or stray flags, durability settings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, REPEATED_SEPARATOR, resolveObjectStoreSettings, resolveRunConfig } from '../../../src/app/config.js';

const refuses = (fn: () => unknown, pattern: RegExp): void => assert.throws(fn, (e: unknown) => e instanceof ConfigError && pattern.test(e.message));

describe('object store configuration', () => {
  it('no bucket: local durability only, defaults for the durability settings', () => {
    const c = resolveRunConfig({}, {});
    assert.equal(c.objectStore, undefined);
    assert.deepEqual(c.durability, { walSyncUpload: true, segmentMaxBytes: 50 * 1024 * 1024, segmentMaxAgeMs: 10_000, checkpointIntervalMs: 15 * 60_000, checkpointEntries: 0 });
  });

  it('S3 with static keys from the environment, flags winning over variables', () => {
    const c = resolveRunConfig(
      { 's3-bucket': 'flag-bucket', 's3-endpoint': 'http://127.0.0.1:9000', 'wal-sync-upload': 'false', 'segment-max-age-sec': '2', 'checkpoint-entries': '1000' },
      { T4_S3_BUCKET: 'env-bucket', T4_S3_PREFIX: 't4/', T4_S3_ACCESS_KEY_ID: 'id', T4_S3_SECRET_ACCESS_KEY: 'secret' },
    );
    assert.deepEqual(c.objectStore, {
      kind: 's3',
      encryption: undefined,
      config: { bucket: 'flag-bucket', prefix: 't4/', endpoint: 'http://127.0.0.1:9000', credentials: { kind: 'static', accessKeyId: 'id', secretAccessKey: 'secret' } },
    });
    assert.equal(c.durability.walSyncUpload, false);
    assert.equal(c.durability.segmentMaxAgeMs, 2_000);
    assert.equal(c.durability.checkpointEntries, 1000);
  });

  it('S3 credentials fail closed: none, half, or two sources are refused with the fix named', () => {
    refuses(() => resolveObjectStoreSettings({ 's3-bucket': 'b-1' }, {}), /credentials not configured; set T4_S3_ACCESS_KEY_ID/);
    refuses(() => resolveObjectStoreSettings({ 's3-bucket': 'b-1', 's3-access-key-id': 'x' }, {}), /AccessKeyID and SecretAccessKey must both be set or both be empty/);
    refuses(
      () => resolveObjectStoreSettings({ 's3-bucket': 'b-1', 's3-profile': 'default', 's3-default-credentials': 'true' }, {}),
      /configured more than once/,
    );
    assert.deepEqual(resolveObjectStoreSettings({ 's3-bucket': 'b-1', 's3-default-credentials': 'true' }, {})?.config, {
      bucket: 'b-1',
      credentials: { kind: 'default-chain' },
    });
    refuses(() => resolveObjectStoreSettings({ 's3-bucket': 'b-1', 's3-default-credentials': 'maybe' }, {}), /--s3-default-credentials: "maybe" must be true or false/);
  });

  it('GCS: bucket, prefix, endpoint, credentials file; both stores at once is an error', () => {
    assert.deepEqual(resolveObjectStoreSettings({ 'gcs-bucket': 'g', 'gcs-endpoint': 'http://127.0.0.1:4443' }, { T4_GCS_PREFIX: 'p' }), {
      kind: 'gcs',
      encryption: undefined,
      config: { bucket: 'g', prefix: 'p', endpoint: 'http://127.0.0.1:4443' },
    });
    refuses(() => resolveObjectStoreSettings({ 'gcs-bucket': 'g' }, { T4_S3_BUCKET: 'b-1' }), /T4_S3_BUCKET and --gcs-bucket are both set: choose one object store/);
  });

  it('a store flag without its bucket, or a durability flag without any store, is refused', () => {
    refuses(() => resolveObjectStoreSettings({ 's3-endpoint': 'http://x:9000' }, {}), /--s3-endpoint needs --s3-bucket/);
    refuses(() => resolveObjectStoreSettings({ 'gcs-prefix': 'p' }, {}), /--gcs-prefix needs --gcs-bucket/);
    refuses(() => resolveRunConfig({ 'wal-sync-upload': 'false' }, {}), /--wal-sync-upload needs an object store/);
    // Variables without a bucket are ignored (they may be meant for another command).
    assert.equal(resolveObjectStoreSettings({}, { T4_S3_ENDPOINT: 'http://x:9000' }), undefined);
  });

  it('bad durability values name the flag', () => {
    const s3 = { 's3-bucket': 'b-1', 's3-default-credentials': 'true' };
    refuses(() => resolveRunConfig({ ...s3, 'wal-sync-upload': 'yes' }, {}), /--wal-sync-upload: "yes" must be true or false/);
    refuses(() => resolveRunConfig({ ...s3, 'segment-max-size-mb': '0' }, {}), /--segment-max-size-mb: "0" must be a whole number/);
    refuses(() => resolveRunConfig(s3, { T4_CHECKPOINT_INTERVAL_MIN: 'soon' }), /T4_CHECKPOINT_INTERVAL_MIN: "soon" must be a whole number/);
  });

  it('encryption keys: current key file or env, key id, repeatable older keys (flags joined by the CLI, env comma-separated)', () => {
    const s3 = { 's3-bucket': 'b-1', 's3-default-credentials': 'true' };
    assert.equal(resolveObjectStoreSettings(s3, {})?.encryption, undefined);
    assert.deepEqual(
      resolveObjectStoreSettings(
        { ...s3, 'object-store-encryption-key-file': '/k/new', 'object-store-encryption-key-id': '1', 'object-store-encryption-old-key-file': `0:/k/old${REPEATED_SEPARATOR}2:/k/older` },
        {},
      )?.encryption,
      { file: '/k/new', env: undefined, id: 1, oldKeys: [{ id: 0, file: '/k/old' }, { id: 2, file: '/k/older' }] },
    );
    assert.deepEqual(
      resolveObjectStoreSettings(s3, { T4_OBJECT_STORE_ENCRYPTION_KEY_ENV: 'KEY', T4_OBJECT_STORE_ENCRYPTION_OLD_KEY_ENV: '0:OLD_A, 3:OLD_B' })?.encryption,
      { file: undefined, env: 'KEY', id: undefined, oldKeys: [{ id: 0, env: 'OLD_A' }, { id: 3, env: 'OLD_B' }] },
    );
    refuses(() => resolveObjectStoreSettings({ ...s3, 'object-store-encryption-key-id': '300', 'object-store-encryption-key-file': '/k' }, {}), /must be a key id from 0 to 255/);
    refuses(() => resolveObjectStoreSettings({ ...s3, 'object-store-encryption-old-key-file': '/no/id' }, {}), /takes ID:VALUE/);
    refuses(() => resolveObjectStoreSettings({ 'object-store-encryption-key-file': '/k' }, {}), /--object-store-encryption-key-file needs --s3-bucket or --gcs-bucket/);
  });
});
