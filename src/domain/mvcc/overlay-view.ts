import { assert } from '../assert.js';
import { bytesToMapKey, compareBytes } from '../bytes.js';
import type { MvccReader } from '../../ports/mvcc-backend.js';
import { rangeContains, type KeyRange } from './key-range.js';
import type { KeyValue, Revision } from './types.js';
import type { AuthState } from '../auth/types.js';

interface PendingVersion {
  readonly main: Revision;
  /** undefined = deleted at `main`. */
  readonly kv: KeyValue | undefined;
}

interface PendingKey {
  readonly key: Uint8Array;
  readonly versions: PendingVersion[];
}

/**
 * The store as a write sees it: the committed state read from the backend, overlaid with the
 * changes of the batch being built (requests ordered ahead of this one, not yet applied).
 * Compares and txn reads go through here so they never see a stale state.
 *
 * Invariant: every pending revision is above the backend's current revision, and versions of a
 * key are appended in increasing revision order (one per revision: the key's last change in it).
 */
export class OverlayView implements MvccReader {
  private readonly pending = new Map<string, PendingKey>();
  /** Leases granted (true) or revoked (false) by the batch so far. */
  private readonly pendingLeases = new Map<bigint, boolean>();
  private revisionNow: Revision;
  private compactNow: Revision;
  /** The auth state as changed by the batch so far (undefined: unchanged). */
  private pendingAuth: AuthState | undefined;

  constructor(private readonly base: MvccReader) {
    this.revisionNow = base.currentRevision();
    this.compactNow = base.compactRevision();
  }

  currentRevision(): Revision {
    return this.revisionNow;
  }

  compactRevision(): Revision {
    return this.compactNow;
  }

  /** Makes `revision` the view's current revision (a request that changed something took it). */
  advanceTo(revision: Revision): void {
    assert(revision >= this.revisionNow, `view revision must not go back (${this.revisionNow} -> ${revision})`);
    this.revisionNow = revision;
  }

  pendingAuthState(): AuthState | undefined {
    return this.pendingAuth;
  }

  recordAuthState(state: AuthState): void {
    this.pendingAuth = state;
  }

  setCompactRevision(revision: Revision): void {
    assert(revision > this.compactNow, 'compaction revision must advance');
    this.compactNow = revision;
  }

  record(key: Uint8Array, main: Revision, kv: KeyValue | undefined): void {
    assert(main > this.base.currentRevision(), 'a pending change must be above the committed revision');
    const mk = bytesToMapKey(key);
    let entry = this.pending.get(mk);
    if (entry === undefined) {
      entry = { key, versions: [] };
      this.pending.set(mk, entry);
    }
    const last = entry.versions[entry.versions.length - 1];
    assert(last === undefined || last.main <= main, 'versions of a key are recorded in revision order');
    // etcd lets one txn change a key twice (a from-key delete and a put, or puts and deletes in
    // sibling nested txns pass its checkIntervals); the key's state at `main` is its last change.
    if (last !== undefined && last.main === main) entry.versions[entry.versions.length - 1] = { main, kv };
    else entry.versions.push({ main, kv });
  }

  recordLease(id: bigint, granted: boolean): void {
    this.pendingLeases.set(id, granted);
  }

  /** Whether the batch so far granted (true) or revoked (false) the lease; undefined: untouched. */
  pendingLease(id: bigint): boolean | undefined {
    return this.pendingLeases.get(id);
  }

  /** Keys the batch so far left attached to `id` (their newest pending version carries the lease). */
  pendingKeysWithLease(id: bigint): Uint8Array[] {
    const keys: Uint8Array[] = [];
    for (const entry of this.pending.values()) {
      if (entry.versions[entry.versions.length - 1]?.kv?.lease === id) keys.push(entry.key);
    }
    return keys;
  }

  get(key: Uint8Array): KeyValue | undefined {
    const entry = this.pending.get(bytesToMapKey(key));
    if (entry !== undefined) return entry.versions[entry.versions.length - 1]?.kv;
    return this.base.get(key);
  }

  range(range: KeyRange, revision: Revision, limit: number): KeyValue[] {
    const overlay = this.pendingIn(range, revision);
    if (overlay.length === 0) return this.base.range(range, Math.min(revision, this.base.currentRevision()), limit);
    // Each pending key can hide at most one committed key, so this many committed rows suffice.
    const baseLimit = limit > 0 ? limit + overlay.length : 0;
    const committed = this.base.range(range, Math.min(revision, this.base.currentRevision()), baseLimit);
    const merged: KeyValue[] = [];
    let i = 0;
    let j = 0;
    while (i < committed.length || j < overlay.length) {
      const c = committed[i];
      const o = overlay[j];
      const order = c === undefined ? 1 : o === undefined ? -1 : compareBytes(c.key, o.key);
      if (order < 0) {
        merged.push(c as KeyValue);
        i++;
      } else {
        if (order === 0) i++;
        const kv = (o as { kv: KeyValue | undefined }).kv;
        if (kv !== undefined) merged.push(kv);
        j++;
      }
      if (limit > 0 && merged.length >= limit) break;
    }
    return merged;
  }

  count(range: KeyRange, revision: Revision): number {
    let n = this.base.count(range, Math.min(revision, this.base.currentRevision()));
    for (const p of this.pendingIn(range, revision)) {
      const before = this.base.range({ kind: 'single', key: p.key }, Math.min(revision, this.base.currentRevision()), 1).length > 0;
      const after = p.kv !== undefined;
      n += (after ? 1 : 0) - (before ? 1 : 0);
    }
    return n;
  }

  /** Pending keys in `range` with their newest version at or below `revision`, in key order. */
  private pendingIn(range: KeyRange, revision: Revision): { key: Uint8Array; kv: KeyValue | undefined }[] {
    const out: { key: Uint8Array; kv: KeyValue | undefined }[] = [];
    for (const entry of this.pending.values()) {
      if (!rangeContains(range, entry.key)) continue;
      let version: PendingVersion | undefined;
      for (const v of entry.versions) if (v.main <= revision) version = v;
      if (version !== undefined) out.push({ key: entry.key, kv: version.kv });
    }
    out.sort((a, b) => compareBytes(a.key, b.key));
    return out;
  }
}
