import { CHECKPOINT_PREFIX, LATEST_MANIFEST_KEY, parseCheckpointManifestKey, parseWalKey, WAL_PREFIX } from '../../domain/remote/remote-keys.js';
import { listAll, type ObjectStore, type ObjectStoreCallOptions } from '../../ports/object-store.js';
import { ObjectDecryptionError } from '../../ports/object-store-errors.js';
import { decryptObject } from './encrypted-object-store.js';
import { EncryptionConfigError, type Keyring } from './encryption-key.js';
import { envelopeKeyId, hasEnvelopeMagic } from './envelope.js';

/** Sampled objects up to this size are decrypted in full (a wrong key fails here); larger ones only have their header checked. */
export const PREFIX_CHECK_DECRYPT_BYTES_MAX = 1 << 20;

export interface PrefixSample {
  readonly key: string;
  /** undefined: a plaintext object. */
  readonly keyId: number | undefined;
  /** Whether the whole body was decrypted (small objects), not just its header read. */
  readonly verified: boolean;
}

/** Thrown when the prefix and the configuration disagree; nothing has been written. */
export class PrefixEncryptionError extends EncryptionConfigError {
  override readonly name: string = 'PrefixEncryptionConfigError';
}

const KEY_FLAGS = '--object-store-encryption-key-file or --object-store-encryption-key-env';

/**
 * Start-up check, before anything is written: the objects already under the prefix must be what
 * the configuration expects. Reads through the *raw* (undecorated) store: `manifest/latest`, the
 * newest checkpoint manifest, and the oldest and newest WAL objects (2 LISTs, at most 4 GETs).
 *
 *  - with a keyring: a plaintext object is refused ("not encrypted"); so is an object under a key
 *    id the keyring lacks; objects up to 1 MiB are decrypted, so a wrong key fails here too;
 *  - without a keyring: an object that starts with the T4E1 header is refused, naming the flags.
 *
 * An empty prefix passes either way. Returns what it sampled (for the start-up log line).
 */
export async function checkPrefixEncryption(inner: ObjectStore, keyring: Keyring | undefined, options: ObjectStoreCallOptions = {}): Promise<PrefixSample[]> {
  const samples: PrefixSample[] = [];
  for (const key of await sampleKeys(inner, options)) {
    const body = await inner.get(key.key, options);
    if (body === undefined) continue; // collected meanwhile
    samples.push(checkOne(key.key, key.sizeBytes, body, keyring));
  }
  return samples;
}

async function sampleKeys(inner: ObjectStore, options: ObjectStoreCallOptions): Promise<{ key: string; sizeBytes: number | undefined }[]> {
  const keys: { key: string; sizeBytes: number | undefined }[] = [{ key: LATEST_MANIFEST_KEY, sizeBytes: undefined }];
  let newestManifest: { key: string; sizeBytes: number } | undefined;
  for await (const o of listAll(inner, CHECKPOINT_PREFIX, options)) if (parseCheckpointManifestKey(o.key) !== undefined) newestManifest = o;
  if (newestManifest !== undefined) keys.push(newestManifest);
  let oldestWal: { key: string; sizeBytes: number } | undefined;
  let newestWal: { key: string; sizeBytes: number } | undefined;
  for await (const o of listAll(inner, WAL_PREFIX, options)) {
    if (parseWalKey(o.key) === undefined) continue;
    oldestWal ??= o;
    newestWal = o;
  }
  if (oldestWal !== undefined) keys.push(oldestWal);
  if (newestWal !== undefined && newestWal.key !== oldestWal?.key) keys.push(newestWal);
  return keys;
}

function checkOne(key: string, sizeBytes: number | undefined, body: Uint8Array, keyring: Keyring | undefined): PrefixSample {
  if (keyring === undefined) {
    if (hasEnvelopeMagic(body)) {
      const id = envelopeKeyId(body);
      throw new PrefixEncryptionError(
        `object store: ${key} is encrypted (T4E1 header${id === undefined ? '' : `, key id ${id}`}) but no encryption key is configured: ` +
          `start with the key that wrote this prefix (${KEY_FLAGS}); T4 never mixes plaintext and encrypted objects under one prefix`,
      );
    }
    return { key, keyId: undefined, verified: false };
  }
  if (!hasEnvelopeMagic(body)) {
    throw new PrefixEncryptionError(
      `object store: ${key} is not encrypted: this prefix holds plaintext objects; T4 never mixes plaintext and encrypted objects under one prefix. ` +
        `Start without ${KEY_FLAGS} to use this prefix as it is, or use a new, empty prefix for encrypted data`,
    );
  }
  const keyId = envelopeKeyId(body);
  if (keyId === undefined || keyring.key(keyId) === undefined) {
    throw new PrefixEncryptionError(
      `object store: ${key} was written with key id ${keyId ?? '(cut off)'}, which is not configured (${keyring.describe()}): ` +
        `add that key (--object-store-encryption-old-key-file ${keyId ?? 'ID'}:PATH) or set it as the current key`,
    );
  }
  const small = (sizeBytes ?? body.length) <= PREFIX_CHECK_DECRYPT_BYTES_MAX;
  if (small) {
    try {
      decryptObject('get', key, body, keyring);
    } catch (error) {
      if (error instanceof ObjectDecryptionError) throw new PrefixEncryptionError(`${error.message}; check ${KEY_FLAGS} (and the key id)`);
      throw error;
    }
  }
  return { key, keyId, verified: small };
}
