// Configuration of S3ObjectStore (AWS S3 and S3-compatible stores such as MinIO), validated so that
// a misconfiguration fails at start-up with a message that names the fix, never at the first upload.
import { normalizePrefix } from '../object-store-keys.js';

/**
 * Where credentials come from. There is no implicit default: the operator chooses one (fail closed),
 * so a node never writes to a bucket with whatever identity happens to be ambient.
 *  - `static`: access key id and secret (and an STS session token for temporary credentials);
 *  - `profile`: a named profile of the shared AWS config/credentials files, and nothing else;
 *  - `default-chain`: the SDK's default provider chain (environment, shared files, SSO, web
 *    identity / IRSA, ECS and EC2 instance roles), chosen explicitly.
 */
export type S3Credentials =
  | { readonly kind: 'static'; readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
  | { readonly kind: 'profile'; readonly profile: string }
  | { readonly kind: 'default-chain' };

export interface S3ObjectStoreConfig {
  readonly bucket: string;
  /** Key prefix inside the bucket; '' for none. `t4` and `t4/` are the same prefix. */
  readonly prefix?: string;
  /** A custom endpoint (MinIO, other S3-compatible stores): `http(s)://host:port`. Implies path-style addressing. */
  readonly endpoint?: string;
  /** Signing region. Required for AWS; defaults to `us-east-1` when an endpoint is given. */
  readonly region?: string;
  readonly credentials: S3Credentials;
  /** SDK attempts per request, retries included (standard retry mode). Default 3. */
  readonly maxAttempts?: number;
  /** Default 5,000 ms. */
  readonly connectionTimeoutMs?: number;
  /** Whole request and response. Default 60,000 ms (a 50 MB segment over a slow link). */
  readonly requestTimeoutMs?: number;
  /** Concurrent connections to the endpoint. Default 64. */
  readonly maxSockets?: number;
  /**
   * A PEM file of CA certificates: when set, the only trust for the endpoint's TLS certificate (the
   * system store is not consulted). Read once, when the store is constructed. Needs https.
   */
  readonly caBundle?: string;
}

/** The configuration with every default applied and every field checked. */
export interface ResolvedS3Config {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly credentials: S3Credentials;
  readonly maxAttempts: number;
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxSockets: number;
  /** Path of the PEM CA bundle that alone is trusted for TLS, or undefined for the system store. */
  readonly caBundle: string | undefined;
}

export class S3ConfigError extends Error {
  override readonly name = 'S3ConfigError';
}

/** The settings an operator gives (flags or environment), before they become S3Credentials. */
export interface S3CredentialSettings {
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  readonly profile?: string;
  /** Explicit opt-in to the SDK's default credential chain. */
  readonly useDefaultChain?: boolean;
}

/**
 * Chooses the credential source from operator settings, failing closed: exactly one source must be
 * configured. Unlike the Go T4 (where static keys silently win over a profile), two sources at
 * once are refused: which identity writes the data must never be a guess.
 */
export function s3CredentialsFromSettings(settings: S3CredentialSettings): S3Credentials {
  const keyId = nonEmpty(settings.accessKeyId);
  const secret = nonEmpty(settings.secretAccessKey);
  const token = nonEmpty(settings.sessionToken);
  const profile = nonEmpty(settings.profile);
  const chain = settings.useDefaultChain === true;
  if ((keyId === undefined) !== (secret === undefined)) {
    throw new S3ConfigError('AccessKeyID and SecretAccessKey must both be set or both be empty');
  }
  if (token !== undefined && keyId === undefined) {
    throw new S3ConfigError('an S3 session token needs an access key id and secret access key');
  }
  const sources = [keyId !== undefined && 'static keys', profile !== undefined && 'a profile', chain && 'the default credential chain'].filter(
    (s): s is string => typeof s === 'string',
  );
  if (sources.length > 1) throw new S3ConfigError(`S3 credentials configured more than once (${sources.join(', ')}); choose one`);
  if (keyId !== undefined && secret !== undefined) {
    return token === undefined ? { kind: 'static', accessKeyId: keyId, secretAccessKey: secret } : { kind: 'static', accessKeyId: keyId, secretAccessKey: secret, sessionToken: token };
  }
  if (profile !== undefined) return { kind: 'profile', profile };
  if (chain) return { kind: 'default-chain' };
  throw new S3ConfigError(
    'S3 credentials not configured; set T4_S3_ACCESS_KEY_ID and T4_S3_SECRET_ACCESS_KEY, or set T4_S3_PROFILE (for example "default"), ' +
      "or opt in to the AWS SDK's default credential chain (environment, web identity/IRSA, instance roles)",
  );
}

/** Checks a config and applies the defaults. Throws S3ConfigError naming the field to fix. */
export function resolveS3Config(config: S3ObjectStoreConfig): ResolvedS3Config {
  const bucket = config.bucket;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw new S3ConfigError(`invalid S3 bucket name ${JSON.stringify(bucket)} (3-63 characters: lowercase letters, digits, '.', '-')`);
  }
  let prefix: string;
  try {
    prefix = normalizePrefix(config.prefix ?? '');
  } catch (error) {
    throw new S3ConfigError((error as Error).message);
  }
  const endpoint = nonEmpty(config.endpoint);
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new S3ConfigError(`invalid S3 endpoint ${JSON.stringify(endpoint)}: expected http(s)://host[:port]`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new S3ConfigError(`S3 endpoint must be http or https: ${endpoint}`);
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
      throw new S3ConfigError(`S3 endpoint must not have a path (the bucket is given separately): ${endpoint}`);
    }
  }
  const caBundle = nonEmpty(config.caBundle);
  if (caBundle !== undefined && endpoint !== undefined && new URL(endpoint).protocol !== 'https:') {
    throw new S3ConfigError(`an S3 CA bundle (${caBundle}) needs an https endpoint, got ${endpoint}`);
  }
  const region = nonEmpty(config.region) ?? (endpoint !== undefined ? 'us-east-1' : undefined);
  if (region === undefined) throw new S3ConfigError('S3 region is required when no custom endpoint is given (for example us-east-1)');
  checkCredentials(config.credentials);
  return {
    bucket,
    prefix,
    endpoint,
    region,
    forcePathStyle: endpoint !== undefined,
    credentials: config.credentials,
    maxAttempts: positiveInt('maxAttempts', config.maxAttempts ?? 3),
    connectionTimeoutMs: positiveInt('connectionTimeoutMs', config.connectionTimeoutMs ?? 5_000),
    requestTimeoutMs: positiveInt('requestTimeoutMs', config.requestTimeoutMs ?? 60_000),
    maxSockets: positiveInt('maxSockets', config.maxSockets ?? 64),
    caBundle,
  };
}

function checkCredentials(credentials: S3Credentials | undefined): void {
  switch (credentials?.kind) {
    case 'static':
      if (credentials.accessKeyId === '' || credentials.secretAccessKey === '') throw new S3ConfigError('AccessKeyID and SecretAccessKey must both be set');
      return;
    case 'profile':
      if (credentials.profile === '') throw new S3ConfigError('S3 profile name must not be empty');
      return;
    case 'default-chain':
      return;
    default:
      throw new S3ConfigError('S3 credentials not configured (see s3CredentialsFromSettings)');
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new S3ConfigError(`${name} must be a positive integer, got ${value}`);
  return value;
}
