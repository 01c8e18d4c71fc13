/**
 * Every limit in one place, units last in the name. Defaults follow etcd where etcd has one.
 */
export interface Limits {
  /** Largest encoded write request accepted (etcd `--max-request-bytes`). */
  readonly requestBytesMax: number;
  /** Most operations in one txn branch (etcd `--max-txn-ops`). */
  readonly txnOpsMax: number;
  /** Write requests waiting for the pipeline before new ones are refused. */
  readonly writeQueueRequestsMax: number;
  /** Requests evaluated into one batch at most. */
  readonly writeBatchRequestsMax: number;
  /** History rows examined per compaction step, between which writes proceed. */
  readonly compactionRowsPerStep: number;
  /** A local WAL segment is sealed and a new one started once it reaches this size. */
  readonly walSegmentBytesMax: number;
}

export const DEFAULT_LIMITS: Limits = {
  requestBytesMax: 1.5 * 1024 * 1024,
  txnOpsMax: 128,
  writeQueueRequestsMax: 10_000,
  writeBatchRequestsMax: 256,
  compactionRowsPerStep: 10_000,
  walSegmentBytesMax: 64 * 1024 * 1024,
};
