import { compareBytes } from '../bytes.js';
import type { Permission, PermType } from './types.js';

/**
 * Range permission checks, with etcd's semantics (server/auth/range_perm_cache.go): a request for
 * one key (no range end) is allowed when some granted interval contains the key; a request for
 * [key, rangeEnd) is allowed only when the union of the granted intervals covers all of it, so two
 * grants [a, c) and [c, e) together allow a range [b, d). A range end of "\0" means "to the end of
 * the keyspace", for grants and requests alike; a grant without range end is the key alone.
 *
 * Worked example: grants read [a, c), read [c, e), write "x" (one key), read from "m" ("\0"):
 *   read  b          -> allowed (in [a, c))
 *   read  [b, d)     -> allowed ([a, c) and [c, e) leave no gap)
 *   read  [b, f)     -> denied  ([e, f) is not granted)
 *   read  [n, "\0")  -> allowed (from "m" to the end)
 *   write x          -> allowed; write [x, x\0) -> allowed (the key alone); write [x, y) -> denied
 */

/** An interval of keys; `end` undefined = up to the end of the keyspace. */
interface Interval {
  readonly start: Uint8Array;
  readonly end: Uint8Array | undefined;
}

function isOpenEnded(rangeEnd: Uint8Array): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

function grantInterval(p: Permission): Interval {
  if (p.rangeEnd.length === 0) return { start: p.key, end: successor(p.key) };
  if (isOpenEnded(p.rangeEnd)) return { start: p.key, end: undefined };
  return { start: p.key, end: p.rangeEnd };
}

/** Sorted intervals a user may use for one kind of access (computed once per user and auth revision). */
export class PermissionSet {
  private readonly read: Interval[];
  private readonly write: Interval[];

  constructor(permissions: readonly Permission[]) {
    const byStart = (a: Interval, b: Interval): number => compareBytes(a.start, b.start);
    this.read = permissions.filter((p) => p.permType !== 'write').map(grantInterval).sort(byStart);
    this.write = permissions.filter((p) => p.permType !== 'read').map(grantInterval).sort(byStart);
  }

  /** etcd's isRangeOpPermitted: `rangeEnd` empty = the key alone. */
  allows(kind: 'read' | 'write', key: Uint8Array, rangeEnd: Uint8Array | undefined): boolean {
    const grants = kind === 'read' ? this.read : this.write;
    if (rangeEnd === undefined || rangeEnd.length === 0) return grants.some((g) => contains(g, key));
    const end = isOpenEnded(rangeEnd) ? undefined : rangeEnd;
    // An empty request interval ([b, a) with a <= b) reads nothing; like a point, it needs its key.
    if (end !== undefined && compareBytes(end, key) <= 0) return grants.some((g) => contains(g, key));
    return covers(grants, key, end);
  }
}

function contains(g: Interval, key: Uint8Array): boolean {
  return compareBytes(g.start, key) <= 0 && (g.end === undefined || compareBytes(key, g.end) < 0);
}

/** Whether sorted `grants` together cover [start, end) (end undefined = unbounded). */
function covers(grants: readonly Interval[], start: Uint8Array, end: Uint8Array | undefined): boolean {
  let cursor = start;
  for (const g of grants) {
    if (compareBytes(g.start, cursor) > 0) return false; // a gap before this grant
    if (g.end === undefined) return true;
    if (compareBytes(g.end, cursor) > 0) cursor = g.end;
    if (end !== undefined && compareBytes(cursor, end) >= 0) return true;
  }
  return false;
}

export function permTypeCovers(type: PermType, kind: 'read' | 'write'): boolean {
  return type === 'readwrite' || type === kind;
}
