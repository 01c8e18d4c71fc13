import { assert } from '../assert.js';
import { EMPTY_BYTES } from '../bytes.js';
import type { OverlayView } from './overlay-view.js';
import type { AuthState } from '../auth/types.js';
import type { Change, KeyValue, LeaseChange, LeaseId, Revision } from './types.js';

/**
 * One write request being evaluated inside a batch. It reads through the batch's overlay (so it
 * sees every request ordered ahead of it) and records its changes at one `main` revision, one
 * `sub` per change, as etcd's storeTxnWrite does.
 *
 * Invariant: a request either fails before its first change (checks come first) or commits all of
 * its changes; the pipeline asserts this.
 */
export class WriteTxn {
  private readonly changeList: Change[] = [];
  private compactTo: Revision | undefined;
  private readonly leaseList: LeaseChange[] = [];
  private authNext: AuthState | undefined;
  readonly beginRevision: Revision;

  constructor(readonly view: OverlayView) {
    this.beginRevision = view.currentRevision();
  }

  /** The revision this request's changes take. */
  get writeRevision(): Revision {
    return this.beginRevision + 1;
  }

  get changes(): readonly Change[] {
    return this.changeList;
  }

  get compactRevision(): Revision | undefined {
    return this.compactTo;
  }

  hasChanges(): boolean {
    return this.changeList.length > 0;
  }

  get leaseChanges(): readonly LeaseChange[] {
    return this.leaseList;
  }

  /** The auth state this request set (undefined: it changed none). */
  get authState(): AuthState | undefined {
    return this.authNext;
  }

  /** The auth state this request sees: the batch's pending one, else `committed`. */
  currentAuthState(committed: AuthState): AuthState {
    return this.view.pendingAuthState() ?? committed;
  }

  /** Records the new auth state (whole; no revision). The auth module checks first. */
  setAuthState(state: AuthState): void {
    this.authNext = state;
    this.view.recordAuthState(state);
  }

  /** Records a lease grant (no revision). The lease module checks for duplicates first. */
  grantLease(id: LeaseId, ttlSeconds: number): void {
    this.leaseList.push({ kind: 'grant', id, ttlSeconds });
    this.view.recordLease(id, true);
  }

  /** Records a lease revoke (no revision of its own; delete its keys with `delete`). */
  revokeLease(id: LeaseId): void {
    this.leaseList.push({ kind: 'revoke', id });
    this.view.recordLease(id, false);
  }

  /** The revision a read inside this request sees: begin, or begin + 1 once it has written. */
  currentRevision(): Revision {
    return this.view.currentRevision();
  }

  put(key: Uint8Array, value: Uint8Array, lease: LeaseId): KeyValue {
    const prev = this.view.get(key);
    const main = this.writeRevision;
    const kv: KeyValue = {
      key,
      value,
      lease,
      modRevision: main,
      createRevision: prev === undefined ? main : prev.createRevision,
      version: prev === undefined ? 1 : prev.version + 1,
    };
    this.record({ kind: 'put', main, sub: this.changeList.length, kv, prev });
    return kv;
  }

  delete(prev: KeyValue): void {
    const main = this.writeRevision;
    const kv: KeyValue = { key: prev.key, value: EMPTY_BYTES, lease: 0n, modRevision: main, createRevision: 0, version: 0 };
    this.record({ kind: 'delete', main, sub: this.changeList.length, kv, prev });
  }

  compact(revision: Revision): void {
    assert(this.compactTo === undefined, 'one compaction per request');
    this.view.setCompactRevision(revision);
    this.compactTo = revision;
  }

  private record(change: Change): void {
    this.view.advanceTo(change.main);
    this.view.record(change.kv.key, change.main, change.kind === 'put' ? change.kv : undefined);
    this.changeList.push(change);
  }
}
