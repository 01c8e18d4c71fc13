import { compareBytes } from '../bytes.js';

/**
 * The keys a request addresses, from etcd's `key` + `range_end` pair:
 *  - `range_end` empty: the single key `key`;
 *  - `range_end` = `\0`: every key >= `key` ("from key");
 *  - otherwise: `[key, range_end)`, empty when `range_end <= key`.
 */
export type KeyRange =
  | { readonly kind: 'single'; readonly key: Uint8Array }
  | { readonly kind: 'fromKey'; readonly key: Uint8Array }
  | { readonly kind: 'interval'; readonly key: Uint8Array; readonly end: Uint8Array };

export function keyRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyRange {
  if (rangeEnd === undefined || rangeEnd.length === 0) return { kind: 'single', key };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { kind: 'fromKey', key };
  return { kind: 'interval', key, end: rangeEnd };
}

export function rangeContains(range: KeyRange, key: Uint8Array): boolean {
  switch (range.kind) {
    case 'single':
      return compareBytes(range.key, key) === 0;
    case 'fromKey':
      return compareBytes(key, range.key) >= 0;
    case 'interval':
      return compareBytes(key, range.key) >= 0 && compareBytes(key, range.end) < 0;
  }
}

export function rangeIsEmpty(range: KeyRange): boolean {
  return range.kind === 'interval' && compareBytes(range.end, range.key) <= 0;
}
