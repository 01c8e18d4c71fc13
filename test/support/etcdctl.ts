// Runs the real etcdctl (v3 API) against an endpoint.
//
//   const r = await etcdctl(t4.endpoint, ['put', 'a', '1']);       // { code, signal, stdout, stderr }
//   const j = await etcdctlJson<GetResponse>(t4.endpoint, ['get', 'a']);
//   decodeB64(j.kvs?.[0]?.key) === 'a'
//
// JSON caveats (etcdctl -w json is the raw protobuf marshalled with encoding/json):
//  - keys/values are base64 strings (use decodeB64);
//  - int64/uint64 fields are bare JSON numbers; cluster_id/member_id usually exceed 2^53. Integers
//    that are not safe JS integers are returned as BigInt, all others as number;
//  - empty/zero fields are omitted (e.g. no `kvs` when nothing matched, no `count` when 0).
import { requireBinary } from './external.js';
import { runCommand, tail, type RunResult } from './child-process.js';

export interface EtcdctlOptions {
  /** Written to etcdctl's stdin (e.g. for `txn`); stdin is always closed. */
  input?: string;
  /** Extra environment variables. */
  env?: NodeJS.ProcessEnv;
  /** Default 30s; the process is SIGKILLed and the promise rejects on timeout. */
  timeoutMs?: number;
}

/** Runs `etcdctl --endpoints=<endpoint> ...args` with ETCDCTL_API=3. Never rejects on a non-zero exit. */
export function etcdctl(endpoint: string, args: string[], opts: EtcdctlOptions = {}): Promise<RunResult> {
  return runCommand(requireBinary('etcdctl'), [`--endpoints=${endpoint}`, ...args], {
    env: { ...etcdctlEnv(), ...opts.env },
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

/** Like etcdctl() plus `-w json`; throws (with output) on a non-zero exit or unparsable JSON. */
export async function etcdctlJson<T = JsonValue>(endpoint: string, args: string[], opts: EtcdctlOptions = {}): Promise<T> {
  const result = await etcdctl(endpoint, ['-w', 'json', ...args], opts);
  const describe = (): string => `etcdctl ${args.join(' ')} (code ${String(result.code)})\n--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`;
  if (result.code !== 0) throw new Error(`failed: ${describe()}`);
  try {
    return parseJsonWithBigInts(result.stdout) as T;
  } catch (err) {
    throw new Error(`unparsable JSON (${err instanceof Error ? err.message : String(err)}): ${describe()}`);
  }
}

/** Decodes an etcdctl base64 bytes field to a UTF-8 string (undefined stays undefined). */
export function decodeB64(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** process.env without ETCDCTL_* (they conflict with explicit flags) and with ETCDCTL_API=3. */
function etcdctlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCDCTL_')) env[key] = value;
  env['ETCDCTL_API'] = '3';
  return env;
}

const BIGINT_TAG = '\u0000bigint:';
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** JSON.parse that keeps integers beyond Number.MAX_SAFE_INTEGER exact, as BigInt. */
export function parseJsonWithBigInts(text: string): JsonValue {
  return JSON.parse(tagUnsafeIntegers(text), (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(BIGINT_TAG) ? BigInt(value.slice(BIGINT_TAG.length)) : value,
  ) as JsonValue;
}

/** Rewrites unsafe integer literals (outside strings) into tagged strings for the reviver. */
function tagUnsafeIntegers(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    const literal = ch === '"' ? undefined : numberAt(text, i);
    if (ch === '"') {
      const end = endOfString(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (literal !== undefined) {
      const isUnsafeInteger = /^-?\d+$/.test(literal) && !Number.isSafeInteger(Number(literal));
      out += isUnsafeInteger ? JSON.stringify(BIGINT_TAG + literal) : literal;
      i += literal.length;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
}

/** The JSON number literal starting exactly at index `i`, if any. */
function numberAt(text: string, i: number): string | undefined {
  NUMBER.lastIndex = i;
  return NUMBER.exec(text)?.[0];
}

/** Index just past the closing quote of the JSON string starting at `start`. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}
