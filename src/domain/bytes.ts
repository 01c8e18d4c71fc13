/** Byte-string helpers. Keys are arbitrary bytes ordered lexicographically, as in etcd. */

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A string with the same ordering and identity as the bytes (one UTF-16 unit per byte), usable as
 * a Map key. Not for display.
 */
export function bytesToMapKey(b: Uint8Array): string {
  // fromCharCode takes the typed array itself as its argument list: no intermediate array. Chunks
  // keep the argument count far below engine limits.
  if (b.length <= 4096) return String.fromCharCode.apply(null, b as unknown as number[]);
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode.apply(null, b.subarray(i, i + 4096) as unknown as number[]);
  return s;
}

export function mapKeyToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * The smallest key greater than every key with this prefix (etcd's `GetPrefixRangeEnd`):
 * increment the last byte that is not 0xff and drop what follows. An all-0xff prefix has no end
 * and yields `[0]`, which etcd reads as "to the end of the keyspace".
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] !== 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = (end[i] as number) + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}
