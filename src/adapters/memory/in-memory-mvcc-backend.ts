import type { AuthState } from '../../domain/auth/types.js';
import { assert } from '../../domain/assert.js';
import { bytesToMapKey, compareBytes, EMPTY_BYTES } from '../../domain/bytes.js';
import { rangeContains, type KeyRange } from '../../domain/mvcc/key-range.js';
import { INITIAL_REVISION, NEVER_COMPACTED, type Change, type CommittedBatch, type KeyValue, type LeaseId, type Revision } from '../../domain/mvcc/types.js';
import type { MvccBackend, StorageSize, StoredLease } from '../../ports/mvcc-backend.js';

interface Version {
  readonly main: Revision;
  readonly sub: number;
  /** undefined = tombstone. */
  readonly kv: KeyValue | undefined;
}

/**
 * An MVCC backend in memory, for unit tests and the simulator. Same contract as the SQLite one
 * (test/contract/mvcc-backend.contract.ts); simple rather than fast.
 */
export class InMemoryMvccBackend implements MvccBackend {
  private readonly versions = new Map<string, { key: Uint8Array; list: Version[] }>();
  /** Keys ever written and not purged, in byte order. */
  private sortedKeys: Uint8Array[] = [];
  private current: Revision = INITIAL_REVISION;
  private readonly leaseTable = new Map<LeaseId, number>();
  private compacted: Revision = NEVER_COMPACTED;
  private auth: AuthState | undefined;
  private purged: Revision = NEVER_COMPACTED;
  /** Batches applied, for tests that check batching. */
  appliedBatches = 0;

  currentRevision(): Revision {
    return this.current;
  }

  compactRevision(): Revision {
    return this.compacted;
  }

  get(key: Uint8Array): KeyValue | undefined {
    const list = this.versions.get(bytesToMapKey(key))?.list;
    return list?.[list.length - 1]?.kv;
  }

  range(range: KeyRange, revision: Revision, limit: number): KeyValue[] {
    const out: KeyValue[] = [];
    for (let i = this.lowerBound(range.key); i < this.sortedKeys.length; i++) {
      const key = this.sortedKeys[i] as Uint8Array;
      if (!rangeContains(range, key)) break;
      const kv = this.at(key, revision);
      if (kv !== undefined) out.push(kv);
      if (limit > 0 && out.length >= limit) break;
    }
    return out;
  }

  count(range: KeyRange, revision: Revision): number {
    return this.range(range, revision, 0).length;
  }

  apply(batch: CommittedBatch): void {
    assert(batch.fromRevision === this.current, `batch starts at ${batch.fromRevision}, store is at ${this.current}`);
    for (const c of batch.changes) {
      const mk = bytesToMapKey(c.kv.key);
      let entry = this.versions.get(mk);
      if (entry === undefined) {
        entry = { key: c.kv.key, list: [] };
        this.versions.set(mk, entry);
        const at = this.lowerBound(c.kv.key);
        this.sortedKeys.splice(at, 0, c.kv.key);
      }
      // A key changed twice in one revision (etcd allows it in a txn) keeps its last change.
      const version: Version = { main: c.main, sub: c.sub, kv: c.kind === 'put' ? c.kv : undefined };
      const last = entry.list[entry.list.length - 1];
      assert(last === undefined || last.main <= c.main, 'changes of a key are applied in revision order');
      if (last !== undefined && last.main === c.main) entry.list[entry.list.length - 1] = version;
      else entry.list.push(version);
    }
    for (const l of batch.leaseChanges ?? []) {
      if (l.kind === 'grant') this.leaseTable.set(l.id, l.ttlSeconds);
      else this.leaseTable.delete(l.id);
    }
    if (batch.authState !== undefined) this.auth = batch.authState;
    this.current = batch.toRevision;
    if (batch.compactRevision !== undefined) {
      assert(batch.compactRevision > this.compacted, 'compaction revision must advance');
      this.compacted = batch.compactRevision;
    }
    this.appliedBatches++;
  }

  changesBetween(afterRevision: Revision, toRevision: Revision, limit: number): Change[] {
    const out: Change[] = [];
    for (const entry of this.versions.values()) {
      entry.list.forEach((v, i) => {
        if (v.main <= afterRevision || v.main > toRevision) return;
        const before = entry.list[i - 1];
        const prev = before?.kv;
        const kv: KeyValue = v.kv ?? { key: entry.key, value: EMPTY_BYTES, lease: 0n, createRevision: 0, modRevision: v.main, version: 0 };
        out.push({ kind: v.kv === undefined ? 'delete' : 'put', main: v.main, sub: v.sub, kv, prev });
      });
    }
    out.sort((a, b) => a.main - b.main || a.sub - b.sub);
    return limit > 0 ? out.slice(0, limit) : out;
  }

  authState(): AuthState | undefined {
    return this.auth;
  }

  leases(): StoredLease[] {
    return [...this.leaseTable].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, ttlSeconds]) => ({ id, ttlSeconds }));
  }

  keysWithLease(id: LeaseId): Uint8Array[] {
    if (id === 0n) return [];
    const keys: Uint8Array[] = [];
    for (const key of this.sortedKeys) {
      const kv = this.get(key);
      if (kv !== undefined && kv.lease === id) keys.push(key);
    }
    return keys;
  }

  purgeStep(_rowsMax: number): boolean {
    if (this.purged >= this.compacted) return true;
    const c = this.compacted;
    for (const [mk, entry] of this.versions) {
      // Keep the newest version at or below c (unless it is a tombstone below c: a deletion at c
      // itself stays, so a watch from c sees it, as etcd since etcd-io/etcd#18274) and everything above c.
      let newestAtOrBelow = -1;
      entry.list.forEach((v, i) => {
        if (v.main <= c) newestAtOrBelow = i;
      });
      if (newestAtOrBelow < 0) continue;
      const newest = entry.list[newestAtOrBelow];
      const keepFrom = newest?.kv === undefined && (newest?.main ?? c) < c ? newestAtOrBelow + 1 : newestAtOrBelow;
      entry.list = entry.list.slice(keepFrom);
      if (entry.list.length === 0) this.versions.delete(mk);
    }
    this.sortedKeys = this.sortedKeys.filter((k) => this.versions.has(bytesToMapKey(k)));
    this.purged = c;
    return true;
  }

  /** Rows kept in history (for compaction tests). */
  historyRows(): number {
    let n = 0;
    for (const entry of this.versions.values()) n += entry.list.length;
    return n;
  }

  durableCheckpoint(): Promise<Revision> {
    this.checkpoints++;
    return Promise.resolve(this.current);
  }

  /** Times durableCheckpoint was called, for tests. */
  checkpoints = 0;

  size(): StorageSize {
    return { dbSizeBytes: 0, dbSizeInUseBytes: 0 };
  }

  defragment(): void {}

  close(): void {}

  private at(key: Uint8Array, revision: Revision): KeyValue | undefined {
    const list = this.versions.get(bytesToMapKey(key))?.list ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const v = list[i] as Version;
      if (v.main <= revision) return v.kv;
    }
    return undefined;
  }

  private lowerBound(key: Uint8Array): number {
    let lo = 0;
    let hi = this.sortedKeys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.sortedKeys[mid] as Uint8Array, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
