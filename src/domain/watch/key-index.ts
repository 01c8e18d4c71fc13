import { bytesToMapKey, compareBytes } from '../bytes.js';
import { rangeContains, type KeyRange } from '../mvcc/key-range.js';

/**
 * Members grouped by key range, so a changed key finds its watchers without visiting every
 * watcher: single-key ranges in a hash map, other ranges grouped by identical range (1,000
 * watchers on one prefix are one group) in an array sorted by start key; a lookup visits only the
 * groups starting at or before the key.
 *
 * Invariant: a member is in exactly the group of its range, and a group exists only while it has
 * members.
 */
export interface Ranged {
  readonly range: KeyRange;
}

interface Group<T> {
  readonly range: KeyRange;
  readonly id: string;
  readonly members: Set<T>;
}

export function rangeId(range: KeyRange): string {
  switch (range.kind) {
    case 'single':
      return `s:${bytesToMapKey(range.key)}`;
    case 'fromKey':
      return `f:${bytesToMapKey(range.key)}`;
    case 'interval':
      return `i:${range.key.length}:${bytesToMapKey(range.key)}${bytesToMapKey(range.end)}`;
  }
}

export class KeyIndex<T extends Ranged> {
  private readonly singles = new Map<string, Set<T>>();
  private readonly groups = new Map<string, Group<T>>();
  /** Range groups ordered by start key (ties in any order). */
  private sorted: Group<T>[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(member: T): void {
    const range = member.range;
    this.count++;
    if (range.kind === 'single') {
      const k = bytesToMapKey(range.key);
      let set = this.singles.get(k);
      if (set === undefined) this.singles.set(k, (set = new Set()));
      set.add(member);
      return;
    }
    const id = rangeId(range);
    let group = this.groups.get(id);
    if (group === undefined) {
      group = { range, id, members: new Set() };
      this.groups.set(id, group);
      const at = this.upperBound(range.key);
      this.sorted.splice(at, 0, group);
    }
    group.members.add(member);
  }

  delete(member: T): boolean {
    const range = member.range;
    if (range.kind === 'single') {
      const k = bytesToMapKey(range.key);
      const set = this.singles.get(k);
      if (set === undefined || !set.delete(member)) return false;
      if (set.size === 0) this.singles.delete(k);
      this.count--;
      return true;
    }
    const id = rangeId(range);
    const group = this.groups.get(id);
    if (group === undefined || !group.members.delete(member)) return false;
    if (group.members.size === 0) {
      this.groups.delete(id);
      this.sorted.splice(this.sorted.indexOf(group), 1);
    }
    this.count--;
    return true;
  }

  /** Calls `visit` for every member whose range contains `key`. */
  forEachMatch(key: Uint8Array, visit: (member: T) => void): void {
    if (this.singles.size > 0) {
      const single = this.singles.get(bytesToMapKey(key));
      if (single !== undefined) for (const m of single) visit(m);
    }
    const end = this.upperBound(key);
    for (let i = 0; i < end; i++) {
      const group = this.sorted[i] as Group<T>;
      if (rangeContains(group.range, key)) for (const m of group.members) visit(m);
    }
  }

  /** Index of the first group whose start key is greater than `key`. */
  private upperBound(key: Uint8Array): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes((this.sorted[mid] as Group<T>).range.key, key) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
