/**
 * Object-store encryption keys: decoding key material, loading it from a file or an environment
 * variable, and the keyring (one current key that writes, older keys that only read, each with the
 * one-byte id stored in every object header). Formats and the rotation procedure are in
 * docs/object-storage.md, "Encryption at rest".
 *
 * Key material decode order (T4's, so the same key file works for every implementation):
 *   1. exactly 32 bytes: the key itself (raw);
 *   2. otherwise, after trimming ASCII whitespace at both ends:
 *      32 bytes: raw; 64 hex characters; standard base64 (padded); raw base64 (unpadded).
 *   The first form that matches decides: if it does not give 32 bytes, that is an error (never a
 *   silent fall-through to another form). Key material never appears in an error message.
 */
import { readFile } from 'node:fs/promises';

export const ENCRYPTION_KEY_BYTES = 32;
export const KEY_ID_MAX = 255;

/** A mistake in the encryption configuration; the name ends in ConfigError so the CLI reports it as one. */
export class EncryptionConfigError extends Error {
  override readonly name: string = 'EncryptionConfigError';
}

export interface EncryptionKey {
  /** 0..255: the byte written into the header of every object this key encrypts. */
  readonly id: number;
  /** 32 bytes (AES-256). */
  readonly bytes: Uint8Array;
  /** Where it came from, for logs and errors (`file /etc/t4/key`, `env T4_KEY`); never the material. */
  readonly source: string;
}

const HEX_64 = /^[0-9a-fA-F]{64}$/;
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const RAW_BASE64 = /^[A-Za-z0-9+/]+$/;

function isAsciiWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;
}

function trimBytes(bytes: Uint8Array): Uint8Array {
  let start = 0;
  let end = bytes.length;
  while (start < end && isAsciiWhitespace(bytes[start] as number)) start++;
  while (end > start && isAsciiWhitespace(bytes[end - 1] as number)) end--;
  return bytes.subarray(start, end);
}

function exactly32(decoded: Uint8Array, form: string, source: string): Uint8Array {
  if (decoded.length !== ENCRYPTION_KEY_BYTES) {
    throw new EncryptionConfigError(`object-store encryption key from ${source}: ${form} decodes to ${decoded.length} bytes; an AES-256 key is 32 bytes`);
  }
  return decoded;
}

/** The 32-byte key in `material` (see the decode order above), or EncryptionConfigError saying why not. */
export function decodeKeyMaterial(material: Uint8Array, source: string): Uint8Array {
  if (material.length === ENCRYPTION_KEY_BYTES) return material.slice();
  const trimmed = trimBytes(material);
  if (trimmed.length === ENCRYPTION_KEY_BYTES) return trimmed.slice();
  if (trimmed.length === 0) throw new EncryptionConfigError(`object-store encryption key from ${source} is empty`);
  if (!trimmed.every((b) => b < 0x80)) {
    throw new EncryptionConfigError(
      `object-store encryption key from ${source} is ${material.length} bytes of binary data; raw key material must be exactly 32 bytes (or use 64 hex characters or base64)`,
    );
  }
  const text = Buffer.from(trimmed).toString('latin1');
  if (HEX_64.test(text)) return exactly32(Uint8Array.from(Buffer.from(text, 'hex')), '64 hex characters', source);
  // Even-length hex of another length is no base64 of 32 bytes either (that is 43 or 44 characters,
  // odd or padded): say what it looks like.
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) {
    throw new EncryptionConfigError(`object-store encryption key from ${source} is ${text.length} hex characters; a key is 64 hex characters (32 bytes)`);
  }
  // Like Go's base64 decoder, line breaks inside the text are ignored.
  const base64 = text.replace(/[\r\n]/g, '');
  if (base64.length > 0 && STD_BASE64.test(base64)) return exactly32(Uint8Array.from(Buffer.from(base64, 'base64')), 'base64', source);
  if (RAW_BASE64.test(base64) && base64.length % 4 !== 1) return exactly32(Uint8Array.from(Buffer.from(base64, 'base64')), 'unpadded base64', source);
  const hint = /[-_]/.test(text) ? ' (base64url is not accepted: use standard base64)' : '';
  throw new EncryptionConfigError(
    `object-store encryption key from ${source} is neither 32 raw bytes, 64 hex characters nor base64 of 32 bytes${hint}`,
  );
}

/** Reads and decodes a key file (`--object-store-encryption-key-file`). */
export async function readKeyFile(path: string): Promise<Uint8Array> {
  let material: Uint8Array;
  try {
    material = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new EncryptionConfigError(`cannot read the object-store encryption key file ${path}: ${code}`);
  }
  return decodeKeyMaterial(material, `file ${path}`);
}

/** Decodes the key held by the environment variable `name` (`--object-store-encryption-key-env` names it). */
export function readKeyEnv(name: string, env: Readonly<Record<string, string | undefined>> = process.env): Uint8Array {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new EncryptionConfigError(`the object-store encryption key variable ${name} is not set (it is named by --object-store-encryption-key-env)`);
  }
  return decodeKeyMaterial(Buffer.from(value, 'utf8'), `environment variable ${name}`);
}

function checkKeyId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0 || id > KEY_ID_MAX) throw new EncryptionConfigError(`${what}: key id must be an integer 0..255, got ${id}`);
}

/**
 * The keys of one prefix: `current` encrypts every write; every key (current and older) decrypts
 * objects whose header names its id. Two keys with one id are refused (a reader could not tell
 * which one wrote an object).
 */
export class Keyring {
  private readonly byId = new Map<number, EncryptionKey>();
  readonly current: EncryptionKey;

  constructor(current: EncryptionKey, older: readonly EncryptionKey[] = []) {
    for (const key of [current, ...older]) {
      checkKeyId(key.id, `object-store encryption key from ${key.source}`);
      if (key.bytes.length !== ENCRYPTION_KEY_BYTES) {
        throw new EncryptionConfigError(`object-store encryption key from ${key.source} is ${key.bytes.length} bytes; an AES-256 key is 32 bytes`);
      }
      const other = this.byId.get(key.id);
      if (other !== undefined) {
        throw new EncryptionConfigError(`two object-store encryption keys have id ${key.id} (${other.source} and ${key.source}); each key needs its own id`);
      }
      this.byId.set(key.id, { id: key.id, bytes: key.bytes.slice(), source: key.source });
    }
    this.current = this.byId.get(current.id) as EncryptionKey;
  }

  /** The key with this id, or undefined. */
  key(id: number): EncryptionKey | undefined {
    return this.byId.get(id);
  }

  /** Every id, ascending. */
  get ids(): number[] {
    return [...this.byId.keys()].sort((a, b) => a - b);
  }

  /** Ids other than the current one, ascending: the keys only kept for reading. */
  get oldIds(): number[] {
    return this.ids.filter((id) => id !== this.current.id);
  }

  /** For logs: ids and sources, never material. */
  describe(): string {
    const old = this.oldIds.map((id) => `${id} (${this.byId.get(id)?.source ?? '?'})`);
    return `current key id ${this.current.id} (${this.current.source})${old.length > 0 ? `; older key ids ${old.join(', ')}` : ''}`;
  }
}

/** Where one key comes from: a file, or an environment variable by name; the file wins when both are set. */
export interface KeySourceSettings {
  readonly file?: string | undefined;
  readonly env?: string | undefined;
}

export interface KeyringSettings extends KeySourceSettings {
  /** Id of the current key (`--object-store-encryption-key-id`); 0 when unset, as in T4 v1. */
  readonly id?: number | undefined;
  /** Keys that only decrypt (`--object-store-encryption-old-key-file ID:PATH`, `--object-store-encryption-old-key-env ID:VAR`). */
  readonly oldKeys?: readonly (KeySourceSettings & { readonly id: number })[] | undefined;
}

async function loadKey(source: KeySourceSettings, id: number, env: Readonly<Record<string, string | undefined>>): Promise<EncryptionKey | undefined> {
  if (source.file !== undefined && source.file !== '') return { id, bytes: await readKeyFile(source.file), source: `file ${source.file}` };
  if (source.env !== undefined && source.env !== '') return { id, bytes: readKeyEnv(source.env, env), source: `environment variable ${source.env}` };
  return undefined;
}

/**
 * The keyring the flags describe, or undefined when no key is configured (a plaintext prefix).
 * Older keys without a current key, or a key id without a key, are refused.
 */
export async function loadKeyring(settings: KeyringSettings, env: Readonly<Record<string, string | undefined>> = process.env): Promise<Keyring | undefined> {
  const id = settings.id ?? 0;
  checkKeyId(id, '--object-store-encryption-key-id');
  const current = await loadKey(settings, id, env);
  const oldKeys = settings.oldKeys ?? [];
  if (current === undefined) {
    if (oldKeys.length > 0) throw new EncryptionConfigError('older object-store encryption keys need a current key: set --object-store-encryption-key-file or --object-store-encryption-key-env');
    if (settings.id !== undefined) throw new EncryptionConfigError('--object-store-encryption-key-id needs --object-store-encryption-key-file or --object-store-encryption-key-env');
    return undefined;
  }
  const older: EncryptionKey[] = [];
  for (const old of oldKeys) {
    checkKeyId(old.id, 'older object-store encryption key');
    const key = await loadKey(old, old.id, env);
    if (key === undefined) throw new EncryptionConfigError(`older object-store encryption key id ${old.id} has neither a file nor an environment variable`);
    older.push(key);
  }
  return new Keyring(current, older);
}

/**
 * Parses the value of a repeatable `ID:VALUE` flag (`--object-store-encryption-old-key-file 0:/etc/t4/key-0`,
 * `--object-store-encryption-old-key-env 0:T4_OLD_KEY`). Only the first colon splits, so a path may contain colons.
 */
export function parseKeyIdValue(flag: string, value: string): { id: number; value: string } {
  const m = /^(\d{1,3}):(.+)$/.exec(value);
  if (m === null) throw new EncryptionConfigError(`${flag} takes ID:VALUE with a key id 0..255, e.g. 0:/etc/t4/object-key-0; got ${JSON.stringify(value)}`);
  const id = Number(m[1]);
  checkKeyId(id, flag);
  return { id, value: m[2] as string };
}
