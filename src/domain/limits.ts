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
  /** How long a write waits for a batch held by a durability stage (the object store down) before etcd's `request timed out`. */
  readonly writeRequestTimeoutMs: number;
  /** Requests evaluated into one batch at most. */
  readonly writeBatchRequestsMax: number;
  /** History rows examined per compaction step, between which writes proceed. */
  readonly compactionRowsPerStep: number;
  /** A local WAL segment is sealed and a new one started once it reaches this size. */
  readonly walSegmentBytesMax: number;
  /** Events queued on one watch stream before its watchers stop taking live events and catch up from history. */
  readonly watchStreamEventsQueuedMax: number;
  /** Created/canceled/progress responses queued on one watch stream before its requests stop being read (etcd: 128). */
  readonly watchStreamControlQueuedMax: number;
  /** Watchers on one watch stream; more creates are refused (created + canceled). */
  readonly watchStreamWatchersMax: number;
  /** History changes read per watch catch-up page, shared by every catching-up watcher. */
  readonly watchCatchUpPageChangesMax: number;
  /** Shortest lease TTL granted; shorter requests get this (etcd's minLeaseTTL: 3/2 election timeouts, rounded up). */
  readonly leaseTtlSecondsMin: number;
  /** Longest lease TTL accepted (etcd's MaxLeaseTTL); longer grants fail with "too large lease TTL". */
  readonly leaseTtlSecondsMax: number;
  /** Delay before an expired lease whose revoke failed is tried again (etcd: 3 s). */
  readonly leaseRevokeRetryMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  requestBytesMax: 1.5 * 1024 * 1024,
  txnOpsMax: 128,
  writeQueueRequestsMax: 10_000,
  writeBatchRequestsMax: 256,
  writeRequestTimeoutMs: 7_000,
  compactionRowsPerStep: 10_000,
  walSegmentBytesMax: 64 * 1024 * 1024,
  watchStreamEventsQueuedMax: 10_000,
  watchStreamControlQueuedMax: 128,
  watchStreamWatchersMax: 100_000,
  watchCatchUpPageChangesMax: 1_000,
  leaseTtlSecondsMin: 2,
  leaseTtlSecondsMax: 9_000_000_000,
  leaseRevokeRetryMs: 3_000,
};
