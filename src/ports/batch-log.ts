import type { CommittedBatch } from '../domain/mvcc/types.js';

/**
 * A stage a batch passes through before it is applied and acknowledged: the local WAL (append and
 * fdatasync), the object store, later follower acknowledgements. A batch whose `append` resolved
 * is durable at that stage's level; one whose `append` rejected is not acknowledged.
 */
/** What the write pipeline knows about a batch that a stage may use to pick how it waits. */
export interface AppendHints {
  /**
   * Nothing else is waiting: the batch is one request and no request is queued behind it. A stage
   * may then wait for its device without yielding (a WAL syncs inline: one thread-pool round trip
   * less on the latency of a lone write). With other work waiting it yields, so that work goes on.
   */
  readonly alone?: boolean;
}

export interface BatchLog {
  append(batch: CommittedBatch, hints?: AppendHints): Promise<void>;
  /**
   * Set while the stage cannot make progress (its store is down): new requests are refused with
   * this error at once instead of queueing behind a batch that waits for the store.
   */
  unavailable?(): Error | undefined;
}
