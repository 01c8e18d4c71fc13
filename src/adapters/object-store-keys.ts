// Key and prefix rules shared by the object-store adapters (see src/ports/object-store.ts).
import { AbortedError } from '../domain/errors.js';
import { assert } from '../domain/assert.js';
import { OBJECT_STORE_PAGE_KEYS_MAX, type ListPageOptions } from '../ports/object-store.js';

/** A store's namespace prefix and the mapping between T4's relative keys and the bucket's names. */
export class KeyNamespace {
  constructor(readonly prefix: string) {}

  /** Checks a call's key (and its abort signal) before any request is made. */
  enter(key: string, options: { readonly signal?: AbortSignal } | undefined): void {
    throwIfAborted(options?.signal);
    assertObjectKey(key, this.prefix);
  }

  full(key: string): string {
    return this.prefix + key;
  }

  relative(fullKey: string): string {
    return fullKey.startsWith(this.prefix) ? fullKey.slice(this.prefix.length) : fullKey;
  }
}

/** S3 and GCS both cap an object name at 1024 UTF-8 bytes. */
export const OBJECT_KEY_BYTES_MAX = 1024;

const encoder = new TextEncoder();

export function utf8Length(s: string): number {
  return encoder.encode(s).length;
}

/**
 * A namespace prefix in canonical form: '' (the whole bucket) or ending in exactly one '/', so
 * `t4` and `t4/` name the same prefix and `t4` never sees `t4x/...`. Leading slashes are refused
 * (S3 would keep them as part of the key, a classic source of "where did my objects go").
 */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed === '') return '';
  if (trimmed.startsWith('/')) throw new Error(`object store prefix must not start with '/': ${JSON.stringify(prefix)}`);
  if (trimmed.includes('//')) throw new Error(`object store prefix must not contain '//': ${JSON.stringify(prefix)}`);
  return `${trimmed}/`;
}

/** Keys come from T4's own code, never from users: a bad one is a bug. */
export function assertObjectKey(key: string, namespacePrefix: string): void {
  assert(key.length > 0, 'object key must not be empty');
  assert(!key.startsWith('/'), `object key must not start with '/': ${key}`);
  assert(utf8Length(namespacePrefix) + utf8Length(key) <= OBJECT_KEY_BYTES_MAX, `object key too long: ${key}`);
}

export function pageSize(options: ListPageOptions | undefined): number {
  const maxKeys = options?.maxKeys ?? OBJECT_STORE_PAGE_KEYS_MAX;
  assert(Number.isInteger(maxKeys) && maxKeys >= 1 && maxKeys <= OBJECT_STORE_PAGE_KEYS_MAX, `maxKeys must be 1..1000, got ${maxKeys}`);
  return maxKeys;
}

/** UTF-8 byte order, which is code point order (not UTF-16 code unit order, as `<` is). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Only when surrogates meet other high code units does code unit order disagree with code point order.
    const pa = a.codePointAt(i) ?? ca;
    const pb = b.codePointAt(i) ?? cb;
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  }
  return a.length - b.length;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError();
}

/** Splits `items` into slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
