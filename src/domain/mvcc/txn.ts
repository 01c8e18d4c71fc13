import { compareBytes, EMPTY_BYTES } from '../bytes.js';
import { CompactedError, FutureRevisionError, KeyNotFoundError, LeaseNotFoundError } from '../errors.js';
import type { LeaseLookup, PendingLeases } from '../../ports/lease-lookup.js';
import type { MvccReader } from '../../ports/mvcc-backend.js';
import { keyRange } from './key-range.js';
import { executeRange } from './range.js';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResult,
  PutRequest,
  PutResult,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResult,
} from './requests.js';
import type { KeyValue } from './types.js';
import type { WriteTxn } from './write-txn.js';

/**
 * Txn evaluation as etcd's applier does it:
 *  1. every compare on the chosen path, nested txns included, is evaluated against the state
 *     before the txn (etcd's compareToPath);
 *  2. the chosen ops are checked (puts: lease exists, `ignore_*` needs an existing key; ranges:
 *     revision not future nor compacted), failing the whole txn before any change;
 *  3. the ops run in order, reads seeing the txn's earlier writes, all writes at one revision.
 *
 * Worked example (store at 5, a@3 exists): Txn(If mod(a) == 3, Then put(a, x), range(a))
 *   -> succeeded, put header 6, range returns a {mod 6} with header 6; txn header 6.
 */

interface Path {
  readonly succeeded: boolean;
  /** Paths of the nested txns of the chosen branch, in op order. */
  readonly nested: readonly Path[];
}

export function isTxnReadOnly(req: TxnRequest): boolean {
  const readOnly = (ops: readonly RequestOp[]): boolean =>
    ops.every((op) => op.kind === 'range' || op.kind === 'empty' || (op.kind === 'txn' && isTxnReadOnly(op.request)));
  return readOnly(req.success) && readOnly(req.failure);
}

/** A txn whose branches only read, evaluated on a read view (no revision taken). */
export function evaluateReadOnlyTxn(view: MvccReader, req: TxnRequest): TxnResult {
  const path = compareToPath(view, req);
  checkRequests(req, path, (op) => checkRange(view, op));
  return executeReadOnly(view, req, path);
}

function executeReadOnly(view: MvccReader, req: TxnRequest, path: Path): TxnResult {
  const ops = path.succeeded ? req.success : req.failure;
  const responses: ResponseOp[] = [];
  let nested = 0;
  for (const op of ops) {
    if (op.kind === 'range') {
      responses.push({ kind: 'range', revision: view.currentRevision(), result: executeRange(view, op.request) });
    } else if (op.kind === 'txn') {
      responses.push({ kind: 'txn', result: executeReadOnly(view, op.request, path.nested[nested++] as Path) });
    }
  }
  return { succeeded: path.succeeded, responses };
}

/** Evaluates a txn that may write. Throws a typed error, before any change, when a check fails. */
export function evaluateTxn(tx: WriteTxn, req: TxnRequest, leases: LeaseLookup): TxnResult {
  const path = compareToPath(tx.view, req);
  checkRequests(req, path, (op) => checkPut(tx.view, leases, op));
  checkRequests(req, path, (op) => checkRange(tx.view, op));
  return executeTxn(tx, req, path);
}

function executeTxn(tx: WriteTxn, req: TxnRequest, path: Path): TxnResult {
  const ops = path.succeeded ? req.success : req.failure;
  const responses: ResponseOp[] = [];
  let nested = 0;
  for (const op of ops) {
    switch (op.kind) {
      case 'range':
        responses.push({ kind: 'range', revision: tx.currentRevision(), result: executeRange(tx.view, op.request) });
        break;
      case 'put': {
        const result = applyPut(tx, op.request);
        responses.push({ kind: 'put', revision: tx.writeRevision, result });
        break;
      }
      case 'deleteRange': {
        const result = applyDeleteRange(tx, op.request);
        responses.push({ kind: 'deleteRange', revision: tx.hasChanges() ? tx.writeRevision : tx.beginRevision, result });
        break;
      }
      case 'txn':
        responses.push({ kind: 'txn', result: executeTxn(tx, op.request, path.nested[nested++] as Path) });
        break;
      case 'empty':
        break;
    }
  }
  return { succeeded: path.succeeded, responses };
}

/** Put once checks passed (see checkPut; a plain Put checks the lease first, then this). */
export function applyPut(tx: WriteTxn, req: PutRequest): PutResult {
  const prev = tx.view.get(req.key);
  if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw new KeyNotFoundError();
  const value = req.ignoreValue ? (prev as KeyValue).value : (req.value ?? EMPTY_BYTES);
  const lease = req.ignoreLease ? (prev as KeyValue).lease : (req.lease ?? 0n);
  tx.put(req.key, value, lease);
  return { prevKv: req.prevKv ? prev : undefined };
}

export function applyDeleteRange(tx: WriteTxn, req: DeleteRangeRequest): DeleteRangeResult {
  const existing = tx.view.range(keyRange(req.key, req.rangeEnd), tx.currentRevision(), 0);
  for (const kv of existing) tx.delete(kv);
  return { deleted: existing.length, prevKvs: req.prevKv ? existing : [] };
}

function compareToPath(view: MvccReader, req: TxnRequest): Path {
  const succeeded = req.compare.every((c) => applyCompare(view, c));
  const nested: Path[] = [];
  for (const op of succeeded ? req.success : req.failure) {
    if (op.kind === 'txn') nested.push(compareToPath(view, op.request));
  }
  return { succeeded, nested };
}

function checkRequests(req: TxnRequest, path: Path, check: (op: RequestOp) => void): void {
  let nested = 0;
  for (const op of path.succeeded ? req.success : req.failure) {
    if (op.kind === 'txn') checkRequests(op.request, path.nested[nested++] as Path, check);
    else check(op);
  }
}

function checkPut(view: MvccReader & PendingLeases, leases: LeaseLookup, op: RequestOp): void {
  if (op.kind !== 'put') return;
  const req = op.request;
  if ((req.ignoreValue || req.ignoreLease) && view.get(req.key) === undefined) throw new KeyNotFoundError();
  if (req.lease !== undefined && req.lease !== 0n && !leases.leaseExists(req.lease, view)) throw new LeaseNotFoundError();
}

function checkRange(view: MvccReader, op: RequestOp): void {
  if (op.kind !== 'range') return;
  const rev = op.request.revision ?? 0;
  if (rev === 0) return;
  if (rev > view.currentRevision()) throw new FutureRevisionError();
  if (rev < view.compactRevision()) throw new CompactedError();
}

/** etcd's applyCompare: every key in the compare's range must pass; no key compares a zero value. */
function applyCompare(view: MvccReader, c: Compare): boolean {
  const kvs = view.range(keyRange(c.key, c.rangeEnd), view.currentRevision(), 0);
  if (kvs.length === 0) {
    if (c.target === 'value') return false; // a missing key has no value to compare
    return compareKv(c, undefined);
  }
  return kvs.every((kv) => compareKv(c, kv));
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let order: number;
  const operand = c.operand;
  switch (c.target) {
    case 'value':
      order = compareBytes(kv?.value ?? EMPTY_BYTES, operand.case === 'value' ? operand.value : EMPTY_BYTES);
      break;
    case 'create':
      order = compareInt(BigInt(kv?.createRevision ?? 0), operand.case === 'createRevision' ? operand.value : 0n);
      break;
    case 'mod':
      order = compareInt(BigInt(kv?.modRevision ?? 0), operand.case === 'modRevision' ? operand.value : 0n);
      break;
    case 'version':
      order = compareInt(BigInt(kv?.version ?? 0), operand.case === 'version' ? operand.value : 0n);
      break;
    case 'lease':
      order = compareInt(kv?.lease ?? 0n, operand.case === 'lease' ? operand.value : 0n);
      break;
    case 'unknown':
      order = 0;
      break;
  }
  switch (c.result) {
    case 'equal':
      return order === 0;
    case 'notEqual':
      return order !== 0;
    case 'greater':
      return order > 0;
    case 'less':
      return order < 0;
    case 'unknown':
      return true;
  }
}

function compareInt(a: bigint, b: bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

