// Configuration of GcsObjectStore (Google Cloud Storage, or an emulator such as fake-gcs-server),
// validated so that a misconfiguration fails at start-up with a message that names the fix, never at
// the first upload.
import { normalizePrefix } from '../object-store-keys.js';

/**
 * Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's user
 * credentials, the metadata server of GCE/GKE/Cloud Run) unless `credentialsFile` names a service
 * account (or external account) JSON key file. With an `endpoint` (an emulator) no credentials are
 * sent at all, unless `credentialsFile` is also given (a private endpoint in front of real GCS).
 */
export interface GcsObjectStoreConfig {
  readonly bucket: string;
  /** Key prefix inside the bucket; '' for none. `t4` and `t4/` are the same prefix. */
  readonly prefix?: string;
  /**
   * A custom endpoint, `http(s)://host[:port]`, for an emulator (fake-gcs-server, e.g.
   * `http://127.0.0.1:4443`) or a private endpoint. Unset means `https://storage.googleapis.com`.
   */
  readonly endpoint?: string;
  /** A service account (or external account) JSON key file; unset means Application Default Credentials. */
  readonly credentialsFile?: string;
  /** Only for billing and quota attribution; T4 never creates buckets, so it is rarely needed. */
  readonly projectId?: string;
  /**
   * Attempts per read (get, getWithVersion, listPage), retries included, on 408/429/5xx and
   * connection resets. Writes and deletes are sent once (see GcsObjectStore). Default 3.
   */
  readonly maxAttempts?: number;
  /** One HTTP request and its response. Default 60,000 ms (a 50 MB segment over a slow link). */
  readonly requestTimeoutMs?: number;
  /** Single-object DELETEs in flight at once in deleteMany (GCS's JSON API has no multi-delete). Default 16. */
  readonly deleteConcurrency?: number;
}

/** The configuration with every default applied and every field checked. */
export interface ResolvedGcsConfig {
  readonly bucket: string;
  readonly prefix: string;
  /** Without a trailing '/'; undefined for Google's own endpoint. */
  readonly endpoint: string | undefined;
  readonly credentialsFile: string | undefined;
  readonly projectId: string | undefined;
  /** True when requests carry OAuth tokens: always on Google's endpoint, with an endpoint only given a credentials file. */
  readonly authenticated: boolean;
  readonly maxAttempts: number;
  readonly requestTimeoutMs: number;
  readonly deleteConcurrency: number;
}

export class GcsConfigError extends Error {
  override readonly name = 'GcsConfigError';
}

/** Object names are at most 1024 bytes; buckets follow https://cloud.google.com/storage/docs/buckets#naming. */
const BUCKET_COMPONENT = /^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$/;

/**
 * Checks a config and applies the defaults. Throws GcsConfigError naming the field to fix.
 *
 * `env` is read for one thing only: the client library sends requests to STORAGE_EMULATOR_HOST when
 * it is set, whatever endpoint the configuration names (it wins for metadata and list calls). A
 * node must never write to a store other than the configured one, so that variable is refused.
 */
export function resolveGcsConfig(config: GcsObjectStoreConfig, env: Readonly<Record<string, string | undefined>> = process.env): ResolvedGcsConfig {
  const bucket = config.bucket;
  checkBucketName(bucket);
  let prefix: string;
  try {
    prefix = normalizePrefix(config.prefix ?? '');
  } catch (error) {
    throw new GcsConfigError((error as Error).message);
  }
  const endpoint = checkEndpoint(nonEmpty(config.endpoint));
  const emulatorHost = nonEmpty(env['STORAGE_EMULATOR_HOST']);
  if (emulatorHost !== undefined) {
    throw new GcsConfigError(
      `STORAGE_EMULATOR_HOST is set (${emulatorHost}); unset it and give the emulator as the GCS endpoint instead ` +
        '(the client library would otherwise send some requests there whatever endpoint T4 is configured with)',
    );
  }
  const credentialsFile = nonEmpty(config.credentialsFile);
  return {
    bucket,
    prefix,
    endpoint,
    credentialsFile,
    projectId: nonEmpty(config.projectId),
    authenticated: endpoint === undefined || credentialsFile !== undefined,
    maxAttempts: positiveInt('maxAttempts', config.maxAttempts ?? 3),
    requestTimeoutMs: positiveInt('requestTimeoutMs', config.requestTimeoutMs ?? 60_000),
    deleteConcurrency: positiveInt('deleteConcurrency', config.deleteConcurrency ?? 16),
  };
}

function checkBucketName(bucket: string): void {
  const rules = "3-63 characters (up to 222 with dots): lowercase letters, digits, '-', '_', '.'; starting and ending with a letter or digit";
  if (typeof bucket !== 'string' || bucket === '') throw new GcsConfigError(`GCS bucket is required (${rules})`);
  if (bucket.startsWith('gs://')) {
    throw new GcsConfigError(`invalid GCS bucket name ${JSON.stringify(bucket)}: give the bare name without gs:// (and put any path in the prefix)`);
  }
  const components = bucket.split('.');
  const ok =
    bucket.length >= 3 &&
    bucket.length <= (components.length > 1 ? 222 : 63) &&
    components.every((c) => c.length <= 63 && BUCKET_COMPONENT.test(c)) &&
    !bucket.startsWith('goog') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(bucket);
  if (!ok) throw new GcsConfigError(`invalid GCS bucket name ${JSON.stringify(bucket)} (${rules}; not starting with "goog", not an IP address)`);
}

function checkEndpoint(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new GcsConfigError(`invalid GCS endpoint ${JSON.stringify(endpoint)}: expected http(s)://host[:port], e.g. http://127.0.0.1:4443 for fake-gcs-server`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GcsConfigError(`GCS endpoint must be http or https: ${endpoint}`);
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new GcsConfigError(`GCS endpoint must not have a path (the client adds /storage/v1; the bucket is given separately): ${endpoint}`);
  }
  if (url.username !== '' || url.password !== '') throw new GcsConfigError(`GCS endpoint must not carry credentials: use a credentials file`);
  return `${url.protocol}//${url.host}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new GcsConfigError(`${name} must be a positive integer, got ${value}`);
  return value;
}
