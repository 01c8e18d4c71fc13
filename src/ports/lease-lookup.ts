import type { LeaseId } from '../domain/mvcc/types.js';

/** Lease grants (true) and revokes (false) made by the batch being built (OverlayView implements it). */
export interface PendingLeases {
  pendingLease(id: LeaseId): boolean | undefined;
}

/**
 * What the KV write path needs from the lease subsystem: does this lease exist for a request
 * evaluated now, counting grants and revokes queued ahead of it in the same batch (`pending`)?
 */
export interface LeaseLookup {
  leaseExists(id: LeaseId, pending: PendingLeases): boolean;
}
