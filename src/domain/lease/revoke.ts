import { bytesToMapKey, compareBytes } from '../bytes.js';
import type { WriteTxn } from '../mvcc/write-txn.js';
import type { LeaseId } from '../mvcc/types.js';

/** The committed keys attached to a lease (MvccBackend implements it: the live index by lease). */
export interface AttachedKeys {
  keysWithLease(id: LeaseId): Uint8Array[];
}

/**
 * Revokes `id` inside one write request: deletes every key attached to it, committed or attached
 * by requests ahead in the same batch, in key order (as etcd's lessor.Revoke, so every replica
 * deletes in the same order), all at one revision, then records the revoke. The caller has
 * checked that the lease exists.
 *
 * Example: a@2 and c@3 attached to lease 7, batch so far put(b, lease 7), put(c, no lease):
 * revoke(7) deletes a and b at the next revision (subs 0 and 1); c was detached.
 */
export function revokeInTxn(tx: WriteTxn, committed: AttachedKeys, id: LeaseId): void {
  const candidates = new Map<string, Uint8Array>();
  for (const key of committed.keysWithLease(id)) candidates.set(bytesToMapKey(key), key);
  for (const key of tx.view.pendingKeysWithLease(id)) candidates.set(bytesToMapKey(key), key);
  const keys = [...candidates.values()].sort(compareBytes);
  for (const key of keys) {
    const kv = tx.view.get(key);
    if (kv !== undefined && kv.lease === id) tx.delete(kv);
  }
  tx.revokeLease(id);
}
