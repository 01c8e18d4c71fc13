import { GcsObjectStore } from '../adapters/gcs/gcs-object-store.js';
import { InstrumentedConditionalObjectStore } from '../adapters/instrumented-object-store.js';
import { SystemClock } from '../adapters/node/system-clock.js';
import { S3ObjectStore } from '../adapters/s3/s3-object-store.js';
import type { ConditionalObjectStore } from '../ports/object-store.js';
import { EncryptedObjectStore } from '../adapters/encryption/encrypted-object-store.js';
import { loadKeyring, type Keyring } from '../adapters/encryption/encryption-key.js';
import { checkPrefixEncryption } from '../adapters/encryption/prefix-check.js';
import { ConfigError, type ObjectStoreSettings } from './config.js';

export interface OpenedObjectStore {
  /** What T4 reads and writes through: decrypting and encrypting when a key is configured. */
  readonly store: ConditionalObjectStore;
  /** The store as it is in the bucket (ciphertext bodies), instrumented: request and byte counters. */
  readonly raw: InstrumentedConditionalObjectStore;
  readonly keyring: Keyring | undefined;
  /**
   * Checks, before anything is written, that the prefix's objects match the configuration: no
   * plaintext objects under an encrypted configuration, no encrypted ones without a key, and the
   * key decrypts them. Reads the store: call it where start-up waits for an unreachable store.
   */
  preflight(): Promise<void>;
}

/** The configured object store; configuration mistakes (and unreadable key files) become ConfigError. */
export async function openObjectStore(settings: ObjectStoreSettings): Promise<OpenedObjectStore> {
  let inner: ConditionalObjectStore;
  let keyring: Keyring | undefined;
  try {
    inner = settings.kind === 's3' ? new S3ObjectStore(settings.config) : new GcsObjectStore(settings.config);
    keyring = settings.encryption === undefined ? undefined : await loadKeyring(settings.encryption);
  } catch (error) {
    if (error instanceof Error && /ConfigError$/.test(error.name)) throw new ConfigError(error.message);
    throw error;
  }
  const raw = new InstrumentedConditionalObjectStore(inner, new SystemClock());
  return {
    store: keyring === undefined ? raw : new EncryptedObjectStore(raw, keyring),
    raw,
    keyring,
    preflight: async () => {
      await checkPrefixEncryption(raw, keyring);
    },
  };
}

/** `s3://bucket/prefix` or `gs://bucket/prefix`, for logs and `t4 status`. */
export function describeObjectStore(settings: ObjectStoreSettings): string {
  const scheme = settings.kind === 's3' ? 's3' : 'gs';
  const prefix = (settings.config.prefix ?? '').replace(/\/+$/, '');
  const endpoint = settings.config.endpoint === undefined ? '' : ` (endpoint ${settings.config.endpoint})`;
  return `${scheme}://${settings.config.bucket}/${prefix}${endpoint}`;
}
