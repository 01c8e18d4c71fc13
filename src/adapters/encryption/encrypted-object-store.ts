import type {
  ConditionalObjectStore,
  ListPageOptions,
  ObjectListPage,
  ObjectStoreCallOptions,
  ObjectVersion,
  VersionedObject,
} from '../../ports/object-store.js';
import { ObjectDecryptionError } from '../../ports/object-store-errors.js';
import type { Keyring } from './encryption-key.js';
import { EnvelopeError, openEnvelope, sealEnvelope } from './envelope.js';

/**
 * Client-side encryption at rest around any ConditionalObjectStore (STYLE 11: a decorator):
 * `new InstrumentedConditionalObjectStore(new EncryptedObjectStore(new S3ObjectStore(cfg), keyring), clock)`.
 *
 *  - Bodies are T4E1 envelopes (./envelope.ts); keys stay plaintext, so LIST, delete and GC work
 *    unchanged. The object key is authenticated: a body copied to another key does not open.
 *  - Every write (put, putIfAbsent, putIfMatch) encrypts the whole body with the keyring's current
 *    key; every read decrypts with the key whose id the object's header names, so objects written
 *    under an older key stay readable during a rotation (./rekey.ts moves them to the current key).
 *  - Conditional operations keep their meaning: getWithVersion returns the decrypted body with the
 *    inner store's version, and a conditional write is one conditional write of the whole
 *    encrypted body. Every write has a fresh random nonce, so even identical plaintext gets a new
 *    version (no S3 ETag ABA).
 *  - listPage reports the stored (ciphertext) sizes: header 17 B + 20 B per 64 KiB frame + 20 B
 *    for the final frame over the plaintext size (envelope.ts `encryptedSizeBytes`). That is what
 *    the bucket holds and bills; `plaintextSizeBytes` inverts it for objects T4 wrote.
 *  - A read that cannot be decrypted rejects with ObjectDecryptionError (wrong key, unknown key id,
 *    plaintext object, damaged, truncated): never with a partial or unauthenticated body.
 */
export class EncryptedObjectStore implements ConditionalObjectStore {
  constructor(
    readonly inner: ConditionalObjectStore,
    readonly keyring: Keyring,
  ) {}

  async put(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<void> {
    await this.inner.put(key, this.seal(key, body), options);
  }

  async get(key: string, options?: ObjectStoreCallOptions): Promise<Uint8Array | undefined> {
    const body = await this.inner.get(key, options);
    return body === undefined ? undefined : this.open('get', key, body);
  }

  delete(key: string, options?: ObjectStoreCallOptions): Promise<void> {
    return this.inner.delete(key, options);
  }

  deleteMany(keys: readonly string[], options?: ObjectStoreCallOptions): Promise<void> {
    return this.inner.deleteMany(keys, options);
  }

  /** Sizes are the stored, encrypted sizes (see the class comment). */
  listPage(prefix: string, options?: ListPageOptions): Promise<ObjectListPage> {
    return this.inner.listPage(prefix, options);
  }

  async getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined> {
    const got = await this.inner.getWithVersion(key, options);
    return got === undefined ? undefined : { body: this.open('getWithVersion', key, got.body), version: got.version };
  }

  putIfAbsent(key: string, body: Uint8Array, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.inner.putIfAbsent(key, this.seal(key, body), options);
  }

  putIfMatch(key: string, body: Uint8Array, expected: ObjectVersion, options?: ObjectStoreCallOptions): Promise<ObjectVersion> {
    return this.inner.putIfMatch(key, this.seal(key, body), expected, options);
  }

  private seal(key: string, body: Uint8Array): Uint8Array {
    return sealEnvelope(key, body, this.keyring.current);
  }

  private open(operation: 'get' | 'getWithVersion', key: string, body: Uint8Array): Uint8Array {
    return decryptObject(operation, key, body, this.keyring);
  }
}

/** Opens one stored body with `keyring`, as the decorator does; ObjectDecryptionError when it cannot. */
export function decryptObject(operation: 'get' | 'getWithVersion', key: string, body: Uint8Array, keyring: Keyring): Uint8Array {
  try {
    return openEnvelope(key, body, (id) => keyring.key(id), () => keyring.ids);
  } catch (error) {
    if (error instanceof EnvelopeError) throw new ObjectDecryptionError(operation, key, error.reason, error.message);
    throw error;
  }
}
