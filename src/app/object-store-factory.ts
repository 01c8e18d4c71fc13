import { GcsObjectStore } from '../adapters/gcs/gcs-object-store.js';
import { InstrumentedConditionalObjectStore } from '../adapters/instrumented-object-store.js';
import { SystemClock } from '../adapters/node/system-clock.js';
import { S3ObjectStore } from '../adapters/s3/s3-object-store.js';
import type { ConditionalObjectStore } from '../ports/object-store.js';
import { ConfigError, type ObjectStoreSettings } from './config.js';

/** The configured object store, instrumented; configuration mistakes become ConfigError. */
export function createObjectStore(settings: ObjectStoreSettings): InstrumentedConditionalObjectStore {
  let store: ConditionalObjectStore;
  try {
    store = settings.kind === 's3' ? new S3ObjectStore(settings.config) : new GcsObjectStore(settings.config);
  } catch (error) {
    if (error instanceof Error && /ConfigError$/.test(error.name)) throw new ConfigError(error.message);
    throw error;
  }
  return new InstrumentedConditionalObjectStore(store, new SystemClock());
}

/** `s3://bucket/prefix` or `gs://bucket/prefix`, for logs and `t4 status`. */
export function describeObjectStore(settings: ObjectStoreSettings): string {
  const scheme = settings.kind === 's3' ? 's3' : 'gs';
  const prefix = (settings.config.prefix ?? '').replace(/\/+$/, '');
  const endpoint = settings.config.endpoint === undefined ? '' : ` (endpoint ${settings.config.endpoint})`;
  return `${scheme}://${settings.config.bucket}/${prefix}${endpoint}`;
}
