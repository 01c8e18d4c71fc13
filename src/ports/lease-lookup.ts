import type { LeaseId } from '../domain/mvcc/types.js';

/** What the KV write path needs from the lease subsystem: does this lease exist now? */
export interface LeaseLookup {
  leaseExists(id: LeaseId): boolean;
}
