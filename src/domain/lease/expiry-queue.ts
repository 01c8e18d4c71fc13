import type { LeaseId } from '../mvcc/types.js';

/** One scheduled check of a lease: due at `atMs`, valid while the lease's generation is `generation`. */
export interface ExpiryItem {
  readonly atMs: number;
  readonly id: LeaseId;
  readonly generation: number;
}

/**
 * A binary min-heap of expiry checks ordered by time (then lease id, so equal times pop in a fixed
 * order). Items are never removed from the middle: a renewal pushes a new item and the old one is
 * recognised as stale by its generation when it reaches the top (lazy deletion), so a keepalive is
 * O(log n) and the heap holds a few items per lease at most.
 */
export class ExpiryQueue {
  private readonly heap: ExpiryItem[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(item: ExpiryItem): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i] as ExpiryItem, h[parent] as ExpiryItem)) break;
      [h[i], h[parent]] = [h[parent] as ExpiryItem, h[i] as ExpiryItem];
      i = parent;
    }
  }

  peek(): ExpiryItem | undefined {
    return this.heap[0];
  }

  pop(): ExpiryItem | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < h.length && before(h[l] as ExpiryItem, h[least] as ExpiryItem)) least = l;
      if (r < h.length && before(h[r] as ExpiryItem, h[least] as ExpiryItem)) least = r;
      if (least === i) break;
      [h[i], h[least]] = [h[least] as ExpiryItem, h[i] as ExpiryItem];
      i = least;
    }
    return top;
  }
}

function before(a: ExpiryItem, b: ExpiryItem): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.id < b.id);
}
