import type { CommittedBatch } from '../domain/mvcc/types.js';

/**
 * A stage a batch passes through before it is applied and acknowledged: the local WAL (append and
 * fdatasync), later the object store and follower acknowledgements. A batch whose `append`
 * resolved is durable at that stage's level; one whose `append` rejected is not acknowledged.
 */
export interface BatchLog {
  append(batch: CommittedBatch): Promise<void>;
}
