import type { CommittedBatch } from '../domain/mvcc/types.js';

/**
 * A stage a batch passes through before it is applied and acknowledged: the local WAL (append and
 * fdatasync), the object store, later follower acknowledgements. A batch whose `append` resolved
 * is durable at that stage's level; one whose `append` rejected is not acknowledged.
 */
export interface BatchLog {
  append(batch: CommittedBatch): Promise<void>;
  /**
   * Set while the stage cannot make progress (its store is down): new requests are refused with
   * this error at once instead of queueing behind a batch that waits for the store.
   */
  unavailable?(): Error | undefined;
}
