import { hostname } from 'node:os';
import { DEFAULT_LIMITS } from '../domain/limits.js';
import { LOG_LEVELS, type LogLevel } from '../adapters/node/pino-logger.js';

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
}

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
    defaultText: 'http://<listen address>',
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
];

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

  return {
    dataDir: dataDir?.value ?? '/var/lib/t4',
    listen: listen.value,
    advertiseClientUrl: advertise?.value,
    logLevel: (level?.value as LogLevel | undefined) ?? 'info',
    nodeId: nodeId?.value ?? (hostname() || 'node-0'),
    maxRequestBytes: positiveInt(raw('max-request-bytes'), DEFAULT_LIMITS.requestBytesMax, 64 * 1024 * 1024),
    maxTxnOps: positiveInt(raw('max-txn-ops'), DEFAULT_LIMITS.txnOpsMax, 1_000_000),
    watchProgressNotifyIntervalMs: progressInterval(raw('watch-progress-notify-interval')),
  };
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

function positiveInt(raw: { value: string; source: string } | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw.value);
  if (!/^\d+$/.test(raw.value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new ConfigError(`${raw.source}: "${raw.value}" must be a whole number from 1 to ${max}`);
  }
  return n;
}
