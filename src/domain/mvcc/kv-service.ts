import { CompactedError, FutureRevisionError, LeaseNotFoundError } from '../errors.js';
import type { Limits } from '../limits.js';
import type { LeaseLookup } from '../../ports/lease-lookup.js';
import type { MvccBackend, MvccReader } from '../../ports/mvcc-backend.js';
import type { Cancellation, WritePipeline } from '../write/write-pipeline.js';
import type { Compactor } from './compactor.js';
import { executeRange, executeRangeRecords } from './range.js';
import type {
  DeleteRangeRequest,
  DeleteRangeResult,
  PutRequest,
  PutResult,
  RangeRequest,
  RangeResult,
  RecordsRangeResult,
  TxnRequest,
  TxnResult,
  WithRevision,
} from './requests.js';
import { applyDeleteRange, applyPut, evaluateReadOnlyTxn, evaluateTxn, isTxnReadOnly } from './txn.js';
import type { Revision } from './types.js';
import { checkDeleteRequest, checkPutRequest, checkRangeRequest, checkTxnRequest } from './validate.js';

/**
 * The etcd KV service in domain terms: Range, Put, DeleteRange, Txn, Compact.
 *
 * Reads run synchronously against the committed state (the backend applies every acknowledged
 * batch before a read, see DeferredApplyBackend, so a read after an acknowledged write sees it).
 * Writes go through the one `WritePipeline`.
 * Header revisions follow etcd: a write's own revision, or the current revision when it changed
 * nothing; a read's is the current revision even when it reads an older one.
 */
export class KvService {
  constructor(
    private readonly backend: MvccBackend,
    private readonly pipeline: WritePipeline,
    private readonly compactor: Compactor,
    private readonly leases: LeaseLookup,
    private readonly limits: Limits,
  ) {}

  currentRevision(): Revision {
    return this.backend.currentRevision();
  }

  compactRevision(): Revision {
    return this.backend.compactRevision();
  }

  range(req: RangeRequest): WithRevision<RangeResult> {
    return readRange(this.backend, req);
  }

  /** The same Range, as the store's records when it qualifies (see executeRangeRecords): for the wire. */
  rangePreferringRecords(req: RangeRequest): WithRevision<RangeResult | RecordsRangeResult> {
    return readRangePreferringRecords(this.backend, req);
  }

  put(req: PutRequest, signal?: Cancellation): Promise<WithRevision<PutResult>> {
    checkPutRequest(req);
    return this.pipeline.submit((tx) => {
      if (req.lease !== undefined && req.lease !== 0n && !this.leases.leaseExists(req.lease, tx.view)) throw new LeaseNotFoundError();
      const result = applyPut(tx, req);
      return { revision: tx.writeRevision, result };
    }, signal);
  }

  deleteRange(req: DeleteRangeRequest, signal?: Cancellation): Promise<WithRevision<DeleteRangeResult>> {
    checkDeleteRequest(req);
    return this.pipeline.submit((tx) => {
      const result = applyDeleteRange(tx, req);
      return { revision: tx.hasChanges() ? tx.writeRevision : tx.beginRevision, result };
    }, signal);
  }

  async txn(req: TxnRequest, signal?: Cancellation): Promise<WithRevision<TxnResult>> {
    checkTxnRequest(req, this.limits.txnOpsMax);
    if (isTxnReadOnly(req)) {
      const revision = this.backend.currentRevision();
      return { revision, result: evaluateReadOnlyTxn(this.backend, req) };
    }
    return this.pipeline.submit((tx) => {
      const result = evaluateTxn(tx, req, this.leases);
      return { revision: tx.hasChanges() ? tx.writeRevision : tx.beginRevision, result };
    }, signal);
  }

  /**
   * Compacts history at `revision`: reads below it are refused from now on; the rows that only
   * served them are purged in bounded steps. With `physical`, resolves after the purge finished.
   * The header revision is the current one (compaction takes no revision).
   */
  async compact(revision: Revision, physical: boolean, signal?: Cancellation): Promise<WithRevision<void>> {
    const header = await this.pipeline.submit((tx) => {
      if (revision <= tx.view.compactRevision()) throw new CompactedError();
      if (revision > tx.currentRevision()) throw new FutureRevisionError();
      tx.compact(revision);
      return tx.currentRevision();
    }, signal);
    const purge = this.compactor.purge();
    if (physical) await purge;
    else purge.catch(() => undefined); // the compactor logs its own failures
    return { revision: header, result: undefined };
  }
}

/**
 * A Range against `reader`, with the header revision (the current one, even for an older read).
 * `reader` must be one consistent state for the whole call: the writer's backend between applies,
 * or a serving process's read-only connection inside a snapshot.
 */
export function readRange(reader: MvccReader, req: RangeRequest): WithRevision<RangeResult> {
  checkRangeRequest(req);
  const revision = reader.currentRevision();
  return { revision, result: executeRange(reader, req) };
}

/** `readRange`, answered with the store's records when the request qualifies (executeRangeRecords). */
export function readRangePreferringRecords(reader: MvccReader, req: RangeRequest): WithRevision<RangeResult | RecordsRangeResult> {
  checkRangeRequest(req);
  const revision = reader.currentRevision();
  return { revision, result: executeRangeRecords(reader, req) ?? executeRange(reader, req) };
}
