import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeKeyMaterial,
  EncryptionConfigError,
  Keyring,
  loadKeyring,
  parseKeyIdValue,
  readKeyEnv,
} from '../../../../src/adapters/encryption/encryption-key.js';

const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const hex = Buffer.from(key).toString('hex');
const b64 = Buffer.from(key).toString('base64');
const rawB64 = b64.replace(/=+$/, '');
const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const configError = (pattern: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof EncryptionConfigError, `expected EncryptionConfigError, got ${String(e)}`);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes(hex) && !e.message.includes(rawB64), 'key material must never appear in an error');
  return true;
};

describe('key material decoding', () => {
  it('takes exactly 32 raw bytes as they are, even when they look like whitespace or text', () => {
    assert.deepEqual(decodeKeyMaterial(key, 'test'), key);
    const spaces = new Uint8Array(32).fill(0x20);
    assert.deepEqual(decodeKeyMaterial(spaces, 'test'), spaces);
    assert.deepEqual(decodeKeyMaterial(bytes('0123456789abcdef0123456789abcdef'), 'test'), bytes('0123456789abcdef0123456789abcdef'));
  });

  it('trims whitespace, then takes 32 raw bytes', () => {
    const raw = bytes('k'.repeat(32));
    assert.deepEqual(decodeKeyMaterial(bytes(`${'k'.repeat(32)}\n`), 'test'), raw);
    assert.deepEqual(decodeKeyMaterial(bytes(`  ${'k'.repeat(32)}\r\n`), 'test'), raw);
  });

  it('decodes 64 hex characters (either case), standard base64 and unpadded base64, with a trailing newline', () => {
    assert.deepEqual(decodeKeyMaterial(bytes(`${hex}\n`), 'test'), key);
    assert.deepEqual(decodeKeyMaterial(bytes(hex.toUpperCase()), 'test'), key);
    assert.equal(b64.length, 44);
    assert.deepEqual(decodeKeyMaterial(bytes(`${b64}\n`), 'test'), key);
    assert.equal(rawB64.length, 43);
    assert.deepEqual(decodeKeyMaterial(bytes(rawB64), 'test'), key);
    assert.deepEqual(decodeKeyMaterial(bytes(`${b64.slice(0, 20)}\n${b64.slice(20)}\n`), 'test'), key, 'line breaks inside base64 are ignored, as by Go');
  });

  it('refuses material of the wrong size, naming the form and the size but never the material', () => {
    const short = Buffer.from(key.subarray(0, 16));
    assert.throws(() => decodeKeyMaterial(bytes(short.toString('base64')), 'file /k'), configError(/file \/k: base64 decodes to 16 bytes; an AES-256 key is 32 bytes/));
    assert.throws(() => decodeKeyMaterial(bytes(short.toString('base64').replace(/=+$/, '')), 'x'), configError(/unpadded base64 decodes to 16 bytes/));
    assert.throws(() => decodeKeyMaterial(bytes(Buffer.concat([Buffer.from(key), Buffer.from([1, 2, 3])]).toString('base64')), 'x'), configError(/base64 decodes to 35 bytes/));
    assert.throws(() => decodeKeyMaterial(bytes(hex.slice(0, 62)), 'x'), configError(/62 hex characters; a key is 64 hex characters/));
    assert.throws(() => decodeKeyMaterial(bytes(`${hex}00`), 'x'), configError(/66 hex characters/));
    assert.throws(() => decodeKeyMaterial(bytes(Buffer.from(key).toString('base64url')), 'x'), configError(/base64url is not accepted/));
    assert.throws(() => decodeKeyMaterial(bytes('not a key!'), 'x'), configError(/neither 32 raw bytes, 64 hex characters nor base64/));
    assert.throws(() => decodeKeyMaterial(bytes(' \n '), 'x'), configError(/is empty/));
    assert.throws(() => decodeKeyMaterial(new Uint8Array(31).fill(0xff), 'x'), configError(/31 bytes of binary data; raw key material must be exactly 32 bytes/));
    assert.throws(() => decodeKeyMaterial(new Uint8Array(33).fill(7), 'x'), configError(/neither/));
  });
});

describe('key sources and the keyring', () => {
  it('reads a key file, or the variable named by the env flag; the file wins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 't4-key-'));
    try {
      const file = join(dir, 'object-key.b64');
      await writeFile(file, `${b64}\n`);
      const other = Buffer.alloc(32, 9).toString('hex');
      const ring = await loadKeyring({ file, env: 'T4_TEST_KEY' }, { T4_TEST_KEY: other });
      assert.deepEqual(ring?.current.bytes, key);
      assert.equal(ring?.current.id, 0, 'the current key id is 0 unless set');
      assert.equal(ring?.current.source, `file ${file}`);
      const fromEnv = await loadKeyring({ env: 'T4_TEST_KEY', id: 4 }, { T4_TEST_KEY: other });
      assert.deepEqual(fromEnv?.current.bytes, new Uint8Array(32).fill(9));
      assert.equal(fromEnv?.current.id, 4);
      assert.equal(await loadKeyring({}, {}), undefined, 'no key configured: a plaintext prefix');
      await assert.rejects(loadKeyring({ file: join(dir, 'missing') }, {}), configError(/cannot read the object-store encryption key file .*missing: ENOENT/));
      assert.throws(() => readKeyEnv('T4_UNSET', {}), configError(/variable T4_UNSET is not set \(it is named by --object-store-encryption-key-env\)/));
      assert.throws(() => readKeyEnv('T4_EMPTY', { T4_EMPTY: '' }), configError(/T4_EMPTY is not set/));
      // Older keys, for rotation.
      const oldFile = join(dir, 'old-key');
      await writeFile(oldFile, hex);
      const rotating = await loadKeyring({ env: 'T4_TEST_KEY', id: 1, oldKeys: [{ id: 0, file: oldFile }] }, { T4_TEST_KEY: other });
      assert.deepEqual(rotating?.ids, [0, 1]);
      assert.deepEqual(rotating?.oldIds, [0]);
      assert.deepEqual(rotating?.key(0)?.bytes, key);
      assert.equal(rotating?.describe(), `current key id 1 (environment variable T4_TEST_KEY); older key ids 0 (file ${oldFile})`);
      await assert.rejects(loadKeyring({ oldKeys: [{ id: 0, file: oldFile }] }, {}), configError(/need a current key/));
      await assert.rejects(loadKeyring({ id: 2 }, {}), configError(/--object-store-encryption-key-id needs/));
      await assert.rejects(loadKeyring({ file: oldFile, id: 256 }, {}), configError(/key id must be an integer 0..255, got 256/));
      await assert.rejects(loadKeyring({ file: oldFile, oldKeys: [{ id: 0, file }] }, {}), configError(/two object-store encryption keys have id 0/));
      await assert.rejects(loadKeyring({ file: oldFile, oldKeys: [{ id: 1 }] }, {}), configError(/key id 1 has neither a file nor an environment variable/));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses two keys with one id, and keys that are not 32 bytes', () => {
    const a = { id: 1, bytes: key, source: 'a' };
    assert.throws(() => new Keyring(a, [{ id: 1, bytes: new Uint8Array(32), source: 'b' }]), configError(/two object-store encryption keys have id 1 \(a and b\)/));
    assert.throws(() => new Keyring({ id: 1, bytes: new Uint8Array(16), source: 'c' }), configError(/16 bytes/));
    assert.throws(() => new Keyring({ id: -1, bytes: key, source: 'd' }), configError(/0..255/));
    const ring = new Keyring(a, [{ id: 0, bytes: new Uint8Array(32), source: 'z' }]);
    key[0] = (key[0] as number) ^ 1;
    assert.notDeepEqual(ring.current.bytes, key, 'the keyring keeps its own copy');
    key[0] = (key[0] as number) ^ 1;
  });

  it('parses ID:VALUE flag values', () => {
    assert.deepEqual(parseKeyIdValue('--object-store-encryption-old-key-file', '0:/etc/t4/key:0'), { id: 0, value: '/etc/t4/key:0' });
    assert.deepEqual(parseKeyIdValue('--object-store-encryption-old-key-env', '255:T4_OLD'), { id: 255, value: 'T4_OLD' });
    assert.throws(() => parseKeyIdValue('--object-store-encryption-old-key-file', '/etc/t4/key'), configError(/takes ID:VALUE/));
    assert.throws(() => parseKeyIdValue('--object-store-encryption-old-key-file', '300:/k'), configError(/0..255, got 300/));
  });
});
