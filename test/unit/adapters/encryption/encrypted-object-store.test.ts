import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EncryptedObjectStore } from '../../../../src/adapters/encryption/encrypted-object-store.js';
import { Keyring, type EncryptionKey } from '../../../../src/adapters/encryption/encryption-key.js';
import { encryptedSizeBytes, envelopeKeyId } from '../../../../src/adapters/encryption/envelope.js';
import { checkPrefixEncryption, PrefixEncryptionError } from '../../../../src/adapters/encryption/prefix-check.js';
import { InMemoryObjectStore } from '../../../../src/adapters/memory/in-memory-object-store.js';
import { checkpointManifestKey, LATEST_MANIFEST_KEY, walKey } from '../../../../src/domain/remote/remote-keys.js';
import { ObjectDecryptionError, PreconditionFailedError, type DecryptionFailure } from '../../../../src/ports/object-store-errors.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));
const k = (id: number, fill: number): EncryptionKey => ({ id, bytes: new Uint8Array(32).fill(fill), source: `key ${id}/${fill}` });

function decryptionError(reason: DecryptionFailure, key: string, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ObjectDecryptionError, `expected ObjectDecryptionError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.key, key);
    assert.match(e.message, new RegExp(`cannot decrypt ${key} \\(${reason}\\)`));
    if (pattern !== undefined) assert.match(e.message, pattern);
    return true;
  };
}

describe('EncryptedObjectStore', () => {
  it('stores only ciphertext: keys stay plaintext, bodies do not, sizes are the stored sizes', async () => {
    const raw = new InMemoryObjectStore();
    const store = new EncryptedObjectStore(raw, new Keyring(k(0, 1)));
    const secret = 'registry/secrets/db-password=hunter2';
    await store.put('wal/a', text(secret));
    const stored = await raw.get('wal/a');
    assert.ok(stored !== undefined);
    assert.ok(!Buffer.from(stored).includes(Buffer.from('hunter2')), 'plaintext found in the stored body');
    assert.equal(decode(await store.get('wal/a')), secret);
    const page = await store.listPage('');
    assert.deepEqual(page.objects, [{ key: 'wal/a', sizeBytes: encryptedSizeBytes(secret.length) }]);
  });

  it('conditional operations: versions are the inner store versions; identical plaintext still gets a new version', async () => {
    const raw = new InMemoryObjectStore();
    const store = new EncryptedObjectStore(raw, new Keyring(k(0, 1)));
    const v1 = await store.putIfAbsent('lock', text('same'));
    await assert.rejects(store.putIfAbsent('lock', text('other')), PreconditionFailedError);
    const read = await store.getWithVersion('lock');
    assert.equal(decode(read?.body), 'same');
    assert.equal(read?.version, v1);
    assert.equal((await raw.getWithVersion('lock'))?.version, v1);
    const v2 = await store.putIfMatch('lock', text('same'), v1);
    assert.notEqual(v2, v1, 'a fresh nonce per write: no ABA on S3 ETags even for identical plaintext');
    await assert.rejects(store.putIfMatch('lock', text('late'), v1), PreconditionFailedError);
    await assert.rejects(store.putIfMatch('missing', text('x'), v2), (e) => e instanceof PreconditionFailedError && e.reason === 'not-found');
    assert.equal(await store.get('missing'), undefined);
    assert.equal(await store.getWithVersion('missing'), undefined);
  });

  it('a keyring reads objects under old keys and writes every new object under the current key', async () => {
    const raw = new InMemoryObjectStore();
    await new EncryptedObjectStore(raw, new Keyring(k(0, 1))).put('old', text('written with key 0'));
    const rotated = new EncryptedObjectStore(raw, new Keyring(k(1, 2), [k(0, 1)]));
    assert.equal(decode(await rotated.get('old')), 'written with key 0');
    assert.equal(decode((await rotated.getWithVersion('old'))?.body), 'written with key 0');
    await rotated.put('new', text('written with key 1'));
    await rotated.putIfAbsent('new-cas', text('cas'));
    assert.equal(envelopeKeyId((await raw.get('old')) as Uint8Array), 0);
    assert.equal(envelopeKeyId((await raw.get('new')) as Uint8Array), 1);
    assert.equal(envelopeKeyId((await raw.get('new-cas')) as Uint8Array), 1);
    // A node that only has key 0 cannot read what key 1 wrote, and says why.
    const stale = new EncryptedObjectStore(raw, new Keyring(k(0, 1)));
    await assert.rejects(stale.get('new'), decryptionError('unknown-key-id', 'new', /key id 1, which this process does not have \(key ids configured: 0\)/));
  });

  it('wrong key, moved object, plaintext object, damaged and truncated objects fail with ObjectDecryptionError', async () => {
    const raw = new InMemoryObjectStore();
    const store = new EncryptedObjectStore(raw, new Keyring(k(0, 1)));
    await store.put('a', text('value of a'));
    const wrongKey = new EncryptedObjectStore(raw, new Keyring(k(0, 9)));
    await assert.rejects(wrongKey.get('a'), decryptionError('authentication-failed', 'a', /the key is wrong for this id/));
    await raw.put('b', (await raw.get('a')) as Uint8Array);
    await assert.rejects(store.get('b'), decryptionError('authentication-failed', 'b', /copied here from another object key/));
    await assert.rejects(store.getWithVersion('b'), (e) => e instanceof ObjectDecryptionError && e.operation === 'getWithVersion');
    await raw.put('plain', text('{"format_version":1}'));
    await assert.rejects(store.get('plain'), decryptionError('not-encrypted', 'plain', /plaintext object under an encrypted prefix/));
    const body = (await raw.get('a')) as Uint8Array;
    const flipped = body.slice();
    flipped[25] = (flipped[25] as number) ^ 0x10;
    await raw.put('a', flipped);
    await assert.rejects(store.get('a'), (e) => e instanceof ObjectDecryptionError && ['damaged', 'authentication-failed'].includes(e.reason));
    await raw.put('a', body.subarray(0, body.length - 20));
    await assert.rejects(store.get('a'), decryptionError('truncated', 'a', /without its final frame/));
  });

  it('delete and deleteMany pass through', async () => {
    const raw = new InMemoryObjectStore();
    const store = new EncryptedObjectStore(raw, new Keyring(k(0, 1)));
    for (const key of ['a', 'b', 'c']) await store.put(key, text(key));
    await store.delete('a');
    await store.deleteMany(['b', 'missing']);
    assert.deepEqual(raw.bucket.keys(), ['c']);
  });
});

describe('checkPrefixEncryption', () => {
  const manifest = checkpointManifestKey(1n, 21);
  const wal1 = walKey(1n, 2);
  const wal2 = walKey(1n, 22);

  async function fill(store: InMemoryObjectStore | EncryptedObjectStore): Promise<void> {
    await store.put(wal1, text('T4 wal segment 1'));
    await store.put(wal2, text('T4 wal segment 2'));
    await store.put(manifest, text('{"format_version":1}'));
    await store.put(LATEST_MANIFEST_KEY, text(`{"checkpoint_key":"${manifest}"}`));
  }

  it('passes an empty prefix, a plaintext prefix without a key, and an encrypted prefix with its keys', async () => {
    assert.deepEqual(await checkPrefixEncryption(new InMemoryObjectStore(), undefined), []);
    assert.deepEqual(await checkPrefixEncryption(new InMemoryObjectStore(), new Keyring(k(0, 1))), []);
    const plain = new InMemoryObjectStore();
    await fill(plain);
    const samples = await checkPrefixEncryption(plain, undefined);
    assert.deepEqual(samples.map((s) => s.key), [LATEST_MANIFEST_KEY, manifest, wal1, wal2]);
    const raw = new InMemoryObjectStore();
    await fill(new EncryptedObjectStore(raw, new Keyring(k(0, 1))));
    await new EncryptedObjectStore(raw, new Keyring(k(1, 2), [k(0, 1)])).put(wal2, text('segment 2 after rotation'));
    const encrypted = await checkPrefixEncryption(raw, new Keyring(k(1, 2), [k(0, 1)]));
    assert.deepEqual(encrypted.map((s) => [s.key, s.keyId, s.verified]), [[LATEST_MANIFEST_KEY, 0, true], [manifest, 0, true], [wal1, 0, true], [wal2, 1, true]]);
  });

  it('with a key, refuses a prefix holding plaintext objects, before anything is written', async () => {
    const raw = new InMemoryObjectStore();
    await fill(raw);
    const before = raw.bucket.keys();
    await assert.rejects(
      checkPrefixEncryption(raw, new Keyring(k(0, 1))),
      (e) => e instanceof PrefixEncryptionError && /manifest\/latest is not encrypted: this prefix holds plaintext objects; T4 never mixes/.test(e.message) && /ConfigError$/.test(e.name),
    );
    assert.deepEqual(raw.bucket.keys(), before);
    // Only the newest WAL object is plaintext (a node without the key wrote it): still refused.
    const mixed = new InMemoryObjectStore();
    await fill(new EncryptedObjectStore(mixed, new Keyring(k(0, 1))));
    await mixed.put(wal2, text('plaintext segment'));
    await assert.rejects(checkPrefixEncryption(mixed, new Keyring(k(0, 1))), new RegExp(`${wal2} is not encrypted`));
  });

  it('without a key, refuses an encrypted prefix, naming the key flags', async () => {
    const raw = new InMemoryObjectStore();
    await fill(new EncryptedObjectStore(raw, new Keyring(k(3, 1))));
    await assert.rejects(
      checkPrefixEncryption(raw, undefined),
      (e) => e instanceof PrefixEncryptionError && /manifest\/latest is encrypted \(T4E1 header, key id 3\) but no encryption key is configured/.test(e.message) && /--object-store-encryption-key-file or --object-store-encryption-key-env/.test(e.message),
    );
  });

  it('with the wrong key or without the key id that wrote the prefix, refuses to start', async () => {
    const raw = new InMemoryObjectStore();
    await fill(new EncryptedObjectStore(raw, new Keyring(k(0, 1))));
    await assert.rejects(checkPrefixEncryption(raw, new Keyring(k(0, 7))), (e) => e instanceof PrefixEncryptionError && /authentication-failed/.test(e.message));
    await assert.rejects(checkPrefixEncryption(raw, new Keyring(k(1, 1))), (e) => e instanceof PrefixEncryptionError && /written with key id 0, which is not configured \(current key id 1/.test(e.message));
  });
});
