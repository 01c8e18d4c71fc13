import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createSecureContext } from 'node:tls';
import { TLS_CIPHERS, TLS_MIN_VERSION, type ServerTls } from '../adapters/grpc/grpc-server.js';
import { DEFAULT_LIMITS } from '../domain/limits.js';
import { LOG_LEVELS, type LogLevel } from '../adapters/node/pino-logger.js';
import { S3ConfigError, s3CredentialsFromSettings, type S3ObjectStoreConfig } from '../adapters/s3/s3-config.js';
import type { GcsObjectStoreConfig } from '../adapters/gcs/gcs-config.js';
import { EncryptionConfigError, parseKeyIdValue, type KeyringSettings } from '../adapters/encryption/encryption-key.js';

/**
 * `t4 run` configuration: each option is a flag and a `T4_*` environment variable; a flag wins
 * over the variable, the variable over the default. Empty variables are ignored. Bad values are
 * refused with a message naming the flag (or variable) and what is expected.
 */
export interface RunConfig {
  readonly dataDir: string;
  readonly listen: string;
  readonly advertiseClientUrl: string | undefined;
  readonly logLevel: LogLevel;
  readonly nodeId: string;
  readonly maxRequestBytes: number;
  readonly maxTxnOps: number;
  readonly watchProgressNotifyIntervalMs: number;
  /** undefined: local durability only (no object store). */
  readonly objectStore: ObjectStoreSettings | undefined;
  readonly durability: DurabilitySettings;
  /** undefined: plaintext on the client port. */
  readonly clientTls: ClientTlsFiles | undefined;
  /** `--auth-enabled`: serve the etcd Auth API and enforce it once AuthEnable is called. */
  readonly authEnabled: boolean;
  /** `--token-ttl`: simple-token lifetime after last use, in seconds. */
  readonly tokenTtlSeconds: number;
  /** `--serving-processes`: 0 serves from the writer process; N > 0 starts N serving processes (DESIGN-NOTES 7). */
  readonly servingProcesses: number;
}

/** A file named by an option, with the flag or variable that named it (for messages). */
export interface ConfiguredFile {
  readonly path: string;
  readonly source: string;
}

/** `--client-tls-*`: the files are read once, at start, by `loadClientTls`. */
export interface ClientTlsFiles {
  readonly cert: ConfiguredFile;
  readonly key: ConfiguredFile;
  /** Set: mutual TLS (clients need a certificate signed by this CA). */
  readonly ca: ConfiguredFile | undefined;
}

export type ObjectStoreSettings = ({ readonly kind: 's3'; readonly config: S3ObjectStoreConfig } | { readonly kind: 'gcs'; readonly config: GcsObjectStoreConfig }) & {
  /** Client-side encryption keys; undefined: object bodies are stored as written. */
  readonly encryption: KeyringSettings | undefined;
};

export interface DurabilitySettings {
  /** A write is acknowledged only once its batch is in the object store (default true). */
  readonly walSyncUpload: boolean;
  readonly segmentMaxBytes: number;
  readonly segmentMaxAgeMs: number;
  readonly checkpointIntervalMs: number;
  /** 0: off. */
  readonly checkpointEntries: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface OptionSpec {
  /** Flag name without dashes, e.g. 'data-dir'. */
  readonly flag: string;
  readonly env: string;
  readonly valueName: string;
  readonly description: string;
  readonly defaultText: string;
  /** May be given more than once: values arrive joined by REPEATED_SEPARATOR (the env variable: comma-separated). */
  readonly repeatable?: boolean;
}

/** How the CLI joins the values of a repeatable flag. */
export const REPEATED_SEPARATOR = '\u0000';

/** Serving processes by default: none (the writer serves alone). */
export const DEFAULT_SERVING_PROCESSES = 0;
const SERVING_PROCESSES_MAX = 64;

export const RUN_OPTIONS: readonly OptionSpec[] = [
  { flag: 'data-dir', env: 'T4_DATA_DIR', valueName: 'path', defaultText: '/var/lib/t4', description: 'directory for the database, WAL and lock' },
  {
    flag: 'listen',
    env: 'T4_LISTEN',
    valueName: 'host:port',
    defaultText: '0.0.0.0:3379',
    description: 'etcd v3 gRPC address; port 0 picks a free port (the bound address is logged)',
  },
  {
    flag: 'advertise-client-url',
    env: 'T4_ADVERTISE_CLIENT_URL',
    valueName: 'url',
    defaultText: 'http(s)://<listen address> (https with client TLS)',
    description: 'client URL reported by MemberList (0.0.0.0 is advertised as 127.0.0.1)',
  },
  { flag: 'log-level', env: 'T4_LOG_LEVEL', valueName: 'level', defaultText: 'info', description: `one of ${LOG_LEVELS.join(', ')}` },
  { flag: 'node-id', env: 'T4_NODE_ID', valueName: 'id', defaultText: 'hostname', description: 'stable name of this node (member name and id)' },
  {
    flag: 'max-request-bytes',
    env: 'T4_MAX_REQUEST_BYTES',
    valueName: 'bytes',
    defaultText: String(DEFAULT_LIMITS.requestBytesMax),
    description: 'largest write request accepted; gRPC receive limit is this + 512 KiB',
  },
  {
    flag: 'max-txn-ops',
    env: 'T4_MAX_TXN_OPS',
    valueName: 'n',
    defaultText: String(DEFAULT_LIMITS.txnOpsMax),
    description: 'most operations in one txn',
  },
  {
    flag: 'watch-progress-notify-interval',
    env: 'T4_WATCH_PROGRESS_NOTIFY_INTERVAL',
    valueName: 'duration',
    defaultText: '10m',
    description: 'period of progress notifications to progress_notify watchers (Go duration: 10m, 5s, 100ms; at least 100ms, as etcd)',
  },
  { flag: 'client-tls-cert', env: 'T4_CLIENT_TLS_CERT', valueName: 'path', defaultText: 'none (plaintext)', description: 'PEM certificate chain for TLS on the gRPC port (with --client-tls-key)' },
  { flag: 'client-tls-key', env: 'T4_CLIENT_TLS_KEY', valueName: 'path', defaultText: 'none', description: 'PEM private key of --client-tls-cert' },
  {
    flag: 'auth-enabled',
    env: 'T4_AUTH_ENABLED',
    valueName: 'bool',
    defaultText: 'false',
    description: 'serve the etcd Auth API (users, roles, tokens); checks start once `etcdctl auth enable` succeeds',
  },
  {
    flag: 'serving-processes',
    env: 'T4_SERVING_PROCESSES',
    valueName: 'n',
    defaultText: String(DEFAULT_SERVING_PROCESSES),
    description: 'processes that serve clients on the port (reads and watches in each, writes forwarded to the one writer); 0: the writer serves alone',
  },
  { flag: 'token-ttl', env: 'T4_TOKEN_TTL', valueName: 'seconds', defaultText: '300', description: 'auth token lifetime after its last use (sliding)' },
  {
    flag: 'client-tls-ca',
    env: 'T4_CLIENT_TLS_CA',
    valueName: 'path',
    defaultText: 'none (server-only TLS)',
    description: 'PEM CA bundle: turns on mutual TLS, clients without a certificate signed by it are refused',
  },
];

/** Where the object store is: shared by `t4 run`, `t4 status` and `t4 gc`. */
export const OBJECT_STORE_OPTIONS: readonly OptionSpec[] = [
  { flag: 's3-bucket', env: 'T4_S3_BUCKET', valueName: 'name', defaultText: 'none', description: 'S3 (or MinIO) bucket: makes the object store the durable layer' },
  { flag: 's3-prefix', env: 'T4_S3_PREFIX', valueName: 'prefix', defaultText: 'none', description: 'key prefix in the bucket (t4 and t4/ are the same)' },
  { flag: 's3-endpoint', env: 'T4_S3_ENDPOINT', valueName: 'url', defaultText: 'AWS', description: 'S3-compatible endpoint such as MinIO (path-style addressing)' },
  { flag: 's3-region', env: 'T4_S3_REGION', valueName: 'region', defaultText: 'us-east-1 with --s3-endpoint', description: 'signing region' },
  { flag: 's3-access-key-id', env: 'T4_S3_ACCESS_KEY_ID', valueName: 'id', defaultText: 'none', description: 'static credentials (with --s3-secret-access-key)' },
  { flag: 's3-secret-access-key', env: 'T4_S3_SECRET_ACCESS_KEY', valueName: 'secret', defaultText: 'none', description: 'static credentials (prefer the env variable)' },
  { flag: 's3-session-token', env: 'T4_S3_SESSION_TOKEN', valueName: 'token', defaultText: 'none', description: 'STS session token with static credentials' },
  { flag: 's3-ca-bundle', env: 'T4_S3_CA_BUNDLE', valueName: 'path', defaultText: 'system trust store', description: 'PEM CA bundle: the only CAs trusted for the https S3 endpoint' },
  { flag: 's3-profile', env: 'T4_S3_PROFILE', valueName: 'name', defaultText: 'none', description: 'a profile of the shared AWS config files' },
  {
    flag: 's3-default-credentials',
    env: 'T4_S3_DEFAULT_CREDENTIALS',
    valueName: 'bool',
    defaultText: 'false',
    description: "use the AWS SDK's default credential chain (env, web identity/IRSA, instance roles); credentials are never picked implicitly",
  },
  {
    flag: 'object-store-encryption-key-file',
    env: 'T4_OBJECT_STORE_ENCRYPTION_KEY_FILE',
    valueName: 'path',
    defaultText: 'none (bodies stored as written)',
    description: 'encrypt every object body (AES-256-GCM) with this 32-byte key: raw, 64 hex characters or base64',
  },
  {
    flag: 'object-store-encryption-key-env',
    env: 'T4_OBJECT_STORE_ENCRYPTION_KEY_ENV',
    valueName: 'name',
    defaultText: 'none',
    description: 'the name of an environment variable holding the key (the file wins when both are set)',
  },
  { flag: 'object-store-encryption-key-id', env: 'T4_OBJECT_STORE_ENCRYPTION_KEY_ID', valueName: 'id', defaultText: '0', description: 'key id (0..255) written in the envelope of new objects' },
  {
    flag: 'object-store-encryption-old-key-file',
    env: 'T4_OBJECT_STORE_ENCRYPTION_OLD_KEY_FILE',
    valueName: 'id:path',
    defaultText: 'none',
    description: 'an older key that only decrypts (key rotation); repeatable; env: comma-separated',
    repeatable: true,
  },
  {
    flag: 'object-store-encryption-old-key-env',
    env: 'T4_OBJECT_STORE_ENCRYPTION_OLD_KEY_ENV',
    valueName: 'id:name',
    defaultText: 'none',
    description: 'an older key in the named environment variable; repeatable; env: comma-separated',
    repeatable: true,
  },
  { flag: 'gcs-bucket', env: 'T4_GCS_BUCKET', valueName: 'name', defaultText: 'none', description: 'Google Cloud Storage bucket (instead of S3)' },
  { flag: 'gcs-prefix', env: 'T4_GCS_PREFIX', valueName: 'prefix', defaultText: 'none', description: 'object name prefix in the bucket' },
  { flag: 'gcs-endpoint', env: 'T4_GCS_ENDPOINT', valueName: 'url', defaultText: 'storage.googleapis.com', description: 'emulator or private endpoint (e.g. fake-gcs-server)' },
  {
    flag: 'gcs-credentials-file',
    env: 'T4_GCS_CREDENTIALS_FILE',
    valueName: 'path',
    defaultText: 'Application Default Credentials',
    description: 'service account JSON key file',
  },
];

/** How writes reach the object store and how often checkpoints are written (`t4 run` only). */
export const DURABILITY_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'wal-sync-upload',
    env: 'T4_WAL_SYNC_UPLOAD',
    valueName: 'bool',
    defaultText: 'true',
    description: 'acknowledge a write only once it is in the object store; false: upload sealed segments in the background',
  },
  { flag: 'segment-max-size-mb', env: 'T4_SEGMENT_MAX_SIZE_MB', valueName: 'MiB', defaultText: '50', description: 'WAL segment size at which it is sealed' },
  {
    flag: 'segment-max-age-sec',
    env: 'T4_SEGMENT_MAX_AGE_SEC',
    valueName: 'seconds',
    defaultText: '10',
    description: 'with --wal-sync-upload=false: the longest a write waits for upload (the loss window if the disk is lost)',
  },
  { flag: 'checkpoint-interval-min', env: 'T4_CHECKPOINT_INTERVAL_MIN', valueName: 'minutes', defaultText: '15', description: 'minutes between checkpoints (when something was written)' },
  { flag: 'checkpoint-entries', env: 'T4_CHECKPOINT_ENTRIES', valueName: 'n', defaultText: '0 (off)', description: 'also checkpoint after this many revisions' },
];

export const ALL_RUN_OPTIONS: readonly OptionSpec[] = [...RUN_OPTIONS, ...OBJECT_STORE_OPTIONS, ...DURABILITY_OPTIONS];

type Raw = (flag: string) => { value: string; source: string } | undefined;

function rawReader(specs: readonly OptionSpec[], flags: Readonly<Record<string, string | undefined>>, env: NodeJS.ProcessEnv): Raw {
  return (flag) => {
    const spec = specs.find((o) => o.flag === flag);
    if (spec === undefined) throw new Error(`unknown option ${flag}`);
    const fromFlag = flags[flag];
    if (fromFlag !== undefined) return { value: fromFlag, source: `--${flag}` };
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: spec.env };
    return undefined;
  };
}

function bool(raw: { value: string; source: string } | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  const v = raw.value.trim().toLowerCase();
  if (['true', '1', 't'].includes(v)) return true;
  if (['false', '0', 'f'].includes(v)) return false;
  throw new ConfigError(`${raw.source}: "${raw.value}" must be true or false`);
}

const ENCRYPTION_FLAGS = [
  'object-store-encryption-key-file',
  'object-store-encryption-key-env',
  'object-store-encryption-key-id',
  'object-store-encryption-old-key-file',
  'object-store-encryption-old-key-env',
];

/** The keyring the encryption flags describe (keys are read later, by loadKeyring). */
function encryptionSettings(raw: Raw): KeyringSettings | undefined {
  const file = raw('object-store-encryption-key-file');
  const envName = raw('object-store-encryption-key-env');
  const id = raw('object-store-encryption-key-id');
  const list = (flag: string): { id: number; value: string }[] => {
    const r = raw(flag);
    if (r === undefined) return [];
    const separator = r.source.startsWith('--') ? REPEATED_SEPARATOR : ',';
    try {
      return r.value.split(separator).filter((v) => v.trim() !== '').map((v) => parseKeyIdValue(r.source, v.trim()));
    } catch (error) {
      if (error instanceof EncryptionConfigError) throw new ConfigError(error.message);
      throw error;
    }
  };
  const oldKeys = [
    ...list('object-store-encryption-old-key-file').map((k) => ({ id: k.id, file: k.value })),
    ...list('object-store-encryption-old-key-env').map((k) => ({ id: k.id, env: k.value })),
  ];
  if (file === undefined && envName === undefined && id === undefined && oldKeys.length === 0) return undefined;
  let keyId: number | undefined;
  if (id !== undefined) {
    keyId = Number(id.value);
    if (!/^\d{1,3}$/.test(id.value.trim()) || keyId > 255) throw new ConfigError(`${id.source}: "${id.value}" must be a key id from 0 to 255`);
  }
  return { file: file?.value, env: envName?.value, id: keyId, oldKeys };
}

/** The object store named by flags and environment, or undefined when none is. */
export function resolveObjectStoreSettings(flags: Readonly<Record<string, string | undefined>>, env: NodeJS.ProcessEnv): ObjectStoreSettings | undefined {
  const raw = rawReader(OBJECT_STORE_OPTIONS, flags, env);
  const s3Bucket = raw('s3-bucket');
  const gcsBucket = raw('gcs-bucket');
  if (s3Bucket !== undefined && gcsBucket !== undefined) {
    throw new ConfigError(`${s3Bucket.source} and ${gcsBucket.source} are both set: choose one object store`);
  }
  const s3Only = ['s3-prefix', 's3-endpoint', 's3-region', 's3-access-key-id', 's3-secret-access-key', 's3-session-token', 's3-ca-bundle', 's3-profile', 's3-default-credentials'];
  const gcsOnly = ['gcs-prefix', 'gcs-endpoint', 'gcs-credentials-file'];
  // A flag that only means something with a bucket is a mistake without one (environment
  // variables may be set for other commands and are ignored).
  const stray = (names: string[], bucket: string): void => {
    const given = names.find((n) => flags[n] !== undefined);
    if (given !== undefined) throw new ConfigError(`--${given} needs ${bucket}`);
  };
  if (s3Bucket === undefined) stray(s3Only, '--s3-bucket');
  if (gcsBucket === undefined) stray(gcsOnly, '--gcs-bucket');
  if (s3Bucket === undefined && gcsBucket === undefined) stray(ENCRYPTION_FLAGS, '--s3-bucket or --gcs-bucket');
  const encryption = encryptionSettings(raw);
  if (s3Bucket !== undefined) {
    let credentials;
    try {
      credentials = s3CredentialsFromSettings({
        accessKeyId: raw('s3-access-key-id')?.value,
        secretAccessKey: raw('s3-secret-access-key')?.value,
        sessionToken: raw('s3-session-token')?.value,
        profile: raw('s3-profile')?.value,
        useDefaultChain: bool(raw('s3-default-credentials'), false),
      });
    } catch (error) {
      if (error instanceof S3ConfigError) throw new ConfigError(error.message);
      throw error;
    }
    const prefix = raw('s3-prefix')?.value;
    const endpoint = raw('s3-endpoint')?.value;
    const region = raw('s3-region')?.value;
    const caBundle = raw('s3-ca-bundle')?.value;
    return {
      kind: 's3',
      encryption,
      config: {
        bucket: s3Bucket.value,
        credentials,
        ...(prefix === undefined ? {} : { prefix }),
        ...(endpoint === undefined ? {} : { endpoint }),
        ...(region === undefined ? {} : { region }),
        ...(caBundle === undefined ? {} : { caBundle }),
      },
    };
  }
  if (gcsBucket !== undefined) {
    const prefix = raw('gcs-prefix')?.value;
    const endpoint = raw('gcs-endpoint')?.value;
    const credentialsFile = raw('gcs-credentials-file')?.value;
    return {
      kind: 'gcs',
      encryption,
      config: {
        bucket: gcsBucket.value,
        ...(prefix === undefined ? {} : { prefix }),
        ...(endpoint === undefined ? {} : { endpoint }),
        ...(credentialsFile === undefined ? {} : { credentialsFile }),
      },
    };
  }
  return undefined;
}

function resolveDurability(flags: Readonly<Record<string, string | undefined>>, env: NodeJS.ProcessEnv, objectStore: boolean): DurabilitySettings {
  const raw = rawReader(DURABILITY_OPTIONS, flags, env);
  if (!objectStore) {
    const given = DURABILITY_OPTIONS.find((o) => flags[o.flag] !== undefined);
    if (given !== undefined) throw new ConfigError(`--${given.flag} needs an object store (--s3-bucket or --gcs-bucket)`);
  }
  const minutes = raw('checkpoint-interval-min');
  const entries = raw('checkpoint-entries');
  return {
    walSyncUpload: bool(raw('wal-sync-upload'), true),
    segmentMaxBytes: positiveInt(raw('segment-max-size-mb'), 50, 4096) * 1024 * 1024,
    segmentMaxAgeMs: positiveInt(raw('segment-max-age-sec'), 10, 86_400) * 1000,
    checkpointIntervalMs: positiveInt(minutes, 15, 7 * 24 * 60) * 60_000,
    checkpointEntries: entries !== undefined && entries.value.trim() === '0' ? 0 : positiveInt(entries, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** `flags` holds only the flags given on the command line, keyed by flag name. */
export function resolveRunConfig(flags: Readonly<Record<string, string | undefined>>, env: NodeJS.ProcessEnv): RunConfig {
  const raw = (flag: string): { value: string; source: string } | undefined => {
    const spec = RUN_OPTIONS.find((o) => o.flag === flag);
    if (spec === undefined) throw new Error(`unknown option ${flag}`);
    const fromFlag = flags[flag];
    if (fromFlag !== undefined) return { value: fromFlag, source: `--${flag}` };
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: spec.env };
    return undefined;
  };

  const dataDir = raw('data-dir');
  if (dataDir !== undefined && dataDir.value.trim() === '') throw new ConfigError(`${dataDir.source}: must not be empty`);

  const listen = raw('listen') ?? { value: '0.0.0.0:3379', source: '--listen' };
  parseHostPort(listen.value, listen.source);

  const advertise = raw('advertise-client-url');
  if (advertise !== undefined) parseUrl(advertise.value, advertise.source);

  const level = raw('log-level');
  if (level !== undefined && !LOG_LEVELS.includes(level.value as LogLevel)) {
    throw new ConfigError(`${level.source}: "${level.value}" is not a log level (${LOG_LEVELS.join(', ')})`);
  }

  const nodeId = raw('node-id');
  if (nodeId !== undefined && nodeId.value.trim() === '') throw new ConfigError(`${nodeId.source}: must not be empty`);

  const objectStore = resolveObjectStoreSettings(flags, env);

  return {
    dataDir: dataDir?.value ?? '/var/lib/t4',
    listen: listen.value,
    advertiseClientUrl: advertise?.value,
    logLevel: (level?.value as LogLevel | undefined) ?? 'info',
    nodeId: nodeId?.value ?? (hostname() || 'node-0'),
    maxRequestBytes: positiveInt(raw('max-request-bytes'), DEFAULT_LIMITS.requestBytesMax, 64 * 1024 * 1024),
    maxTxnOps: positiveInt(raw('max-txn-ops'), DEFAULT_LIMITS.txnOpsMax, 1_000_000),
    watchProgressNotifyIntervalMs: progressInterval(raw('watch-progress-notify-interval')),
    objectStore,
    durability: resolveDurability(flags, env, objectStore !== undefined),
    clientTls: resolveClientTls(raw),
    authEnabled: bool(raw('auth-enabled'), false),
    tokenTtlSeconds: positiveInt(raw('token-ttl'), 300, 365 * 24 * 3600),
    servingProcesses: wholeNumber(raw('serving-processes'), DEFAULT_SERVING_PROCESSES, SERVING_PROCESSES_MAX),
  };
}

/** Certificate and key go together; a CA (mutual TLS) needs both. */
function resolveClientTls(raw: (flag: string) => { value: string; source: string } | undefined): ClientTlsFiles | undefined {
  const file = (flag: string): ConfiguredFile | undefined => {
    const r = raw(flag);
    if (r === undefined) return undefined;
    if (r.value.trim() === '') throw new ConfigError(`${r.source}: must not be empty`);
    return { path: r.value, source: r.source };
  };
  const cert = file('client-tls-cert');
  const key = file('client-tls-key');
  const ca = file('client-tls-ca');
  if (cert === undefined && key === undefined) {
    if (ca !== undefined) throw new ConfigError(`${ca.source} needs --client-tls-cert and --client-tls-key (mutual TLS is TLS plus client certificates)`);
    return undefined;
  }
  if (key === undefined) throw new ConfigError(`${(cert as ConfiguredFile).source} needs --client-tls-key (T4_CLIENT_TLS_KEY), the certificate's private key`);
  if (cert === undefined) throw new ConfigError(`${key.source} needs --client-tls-cert (T4_CLIENT_TLS_CERT), the certificate of this key`);
  return { cert, key, ca };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readConfiguredFile(file: ConfiguredFile): Buffer {
  try {
    return readFileSync(file.path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${file.source}: cannot read ${file.path}: ${reason}`);
  }
}

/** Every certificate in a PEM file; a ConfigError naming the file when there is none or one is damaged. */
function pemCertificates(file: ConfiguredFile, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${file.source}: ${file.path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(`${file.source}: certificate ${i + 1} in ${file.path} is not a valid certificate (${error instanceof Error ? error.message : String(error)})`);
    }
  });
}

function pemPrivateKey(file: ConfiguredFile, pem: Buffer): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.toString('latin1'))) {
    throw new ConfigError(`${file.source}: ${file.path} holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)`);
  }
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new ConfigError(`${file.source}: ${file.path} is not a usable private key (${error instanceof Error ? error.message : String(error)}); encrypted keys are not supported`);
  }
}

/**
 * Reads and checks the client TLS files, once: at start (a restart reloads them). A missing or
 * unreadable file, one that is not PEM, or a key that does not belong to the certificate is a
 * ConfigError naming the file.
 */
export function loadClientTls(files: ClientTlsFiles): ServerTls {
  const cert = readConfiguredFile(files.cert);
  const key = readConfiguredFile(files.key);
  const clientCa = files.ca === undefined ? undefined : readConfiguredFile(files.ca);
  const leaf = pemCertificates(files.cert, cert)[0] as X509Certificate;
  const privateKey = pemPrivateKey(files.key, key);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(`${files.key.source}: the key in ${files.key.path} does not match the certificate in ${files.cert.path} (${files.cert.source})`);
  }
  if (files.ca !== undefined && clientCa !== undefined) pemCertificates(files.ca, clientCa);
  // What the listener will do with them: OpenSSL refusals (a key too weak for its security level) stop start-up here.
  try {
    createSecureContext({ cert, key, ...(clientCa === undefined ? {} : { ca: clientCa }), minVersion: TLS_MIN_VERSION, ciphers: TLS_CIPHERS });
  } catch (error) {
    throw new ConfigError(`${files.cert.source}: ${files.cert.path} with ${files.key.path} is refused by TLS (${error instanceof Error ? error.message : String(error)})`);
  }
  return { cert, key, clientCa };
}

export function parseHostPort(value: string, source: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  const host = at > 0 ? value.slice(0, at) : '';
  const portText = at >= 0 ? value.slice(at + 1) : '';
  const port = Number(portText);
  if (host === '' || !/^\d+$/.test(portText) || port > 65535) {
    throw new ConfigError(`${source}: "${value}" is not host:port (e.g. 127.0.0.1:3379, or port 0 for any free port)`);
  }
  return { host, port };
}

function parseUrl(value: string, source: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${source}: "${value}" is not a URL (e.g. http://10.0.0.5:3379)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${source}: "${value}" must be http:// or https://`);
}

const WATCH_PROGRESS_INTERVAL_MS_MIN = 100;

/** etcd raises an interval below 100ms to 100ms (with a warning); so do we. */
function progressInterval(raw: { value: string; source: string } | undefined): number {
  if (raw === undefined) return 10 * 60 * 1000;
  const ms = parseGoDuration(raw.value);
  if (ms === undefined || ms <= 0) {
    throw new ConfigError(`${raw.source}: "${raw.value}" is not a positive duration (e.g. 10m, 5s, 100ms, 1h30m)`);
  }
  return Math.max(WATCH_PROGRESS_INTERVAL_MS_MIN, ms);
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** A Go `time.ParseDuration` string ("10m", "1.5s", "1h30m", "100ms") in milliseconds; undefined if malformed. */
export function parseGoDuration(text: string): number | undefined {
  const value = text.trim();
  if (value === '0') return 0;
  const sign = value.startsWith('-') ? -1 : 1;
  const body = value.replace(/^[-+]/, '');
  if (body === '') return undefined;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < body.length) {
    part.lastIndex = at;
    const m = part.exec(body);
    if (m === null) return undefined;
    total += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    at = part.lastIndex;
  }
  return sign * total;
}

function wholeNumber(raw: { value: string; source: string } | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw.value);
  if (!/^\d+$/.test(raw.value.trim()) || !Number.isSafeInteger(n) || n > max) {
    throw new ConfigError(`${raw.source}: "${raw.value}" must be a whole number from 0 to ${max}`);
  }
  return n;
}

function positiveInt(raw: { value: string; source: string } | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw.value);
  if (!/^\d+$/.test(raw.value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new ConfigError(`${raw.source}: "${raw.value}" must be a whole number from 1 to ${max}`);
  }
  return n;
}
