import { bytesToMapKey, compareBytes, mapKeyToBytes } from '../bytes.js';
import {
  DuplicateKeyError,
  EmptyKeyError,
  InvalidSortOptionError,
  KeyNotFoundError,
  LeaseProvidedError,
  TooManyOpsError,
  ValueProvidedError,
} from '../errors.js';
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from './requests.js';

/**
 * Request checks etcd makes before a request reaches its applier (etcd api/v3rpc/key.go), in the
 * same order, with the same errors. The embedded API and the gRPC edge both go through these.
 */

const SORT_ORDERS = new Set(['none', 'ascend', 'descend', 'unknown']);
const SORT_TARGETS = new Set(['key', 'version', 'create', 'mod', 'value']);

export function checkRangeRequest(r: RangeRequest): void {
  if (r.key.length === 0) throw new EmptyKeyError();
  if (r.sortOrder !== undefined && !SORT_ORDERS.has(r.sortOrder)) throw new InvalidSortOptionError();
  if (r.sortTarget !== undefined && !SORT_TARGETS.has(r.sortTarget)) throw new InvalidSortOptionError();
}

export function checkPutRequest(r: PutRequest): void {
  if (r.key.length === 0) throw new EmptyKeyError();
  if (r.ignoreValue && r.value !== undefined && r.value.length !== 0) throw new ValueProvidedError();
  if (r.ignoreLease && r.lease !== undefined && r.lease !== 0n) throw new LeaseProvidedError();
}

export function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw new EmptyKeyError();
}

/** etcd's checkTxnRequest: op counts (nested txns share the budget), empty keys, then duplicates. */
export function checkTxnRequest(r: TxnRequest, txnOpsMax: number): void {
  checkTxnShape(r, txnOpsMax);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

function checkTxnShape(r: TxnRequest, txnOpsMax: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > txnOpsMax) throw new TooManyOpsError();
  for (const c of r.compare) if (c.key.length === 0) throw new EmptyKeyError();
  for (const op of r.success) checkRequestOp(op, txnOpsMax - opc);
  for (const op of r.failure) checkRequestOp(op, txnOpsMax - opc);
}

function checkRequestOp(op: RequestOp, txnOpsMax: number): void {
  switch (op.kind) {
    case 'range':
      return checkRangeRequest(op.request);
    case 'put':
      return checkPutRequest(op.request);
    case 'deleteRange':
      return checkDeleteRequest(op.request);
    case 'txn':
      return checkTxnShape(op.request, txnOpsMax);
    case 'empty':
      throw new KeyNotFoundError();
  }
}

/** A deleted interval `[start, end)`; a single key is `[k, k\0)`. etcd compares these as strings. */
interface Interval {
  readonly start: Uint8Array;
  readonly end: Uint8Array;
}

function pointInterval(key: Uint8Array): Interval {
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  return { start: key, end };
}

function intersectsPoint(dels: readonly Interval[], key: Uint8Array): boolean {
  // etcd's interval tree with string-affine bounds: a key is in [start, end) when start <= key < end.
  // A from-key delete (`range_end = "\0"`) becomes the inverted interval [key, "\0"), which
  // contains nothing, so etcd does not see puts under it as duplicates; we match that.
  return dels.some((d) => compareBytes(d.start, key) <= 0 && compareBytes(key, d.end) < 0);
}

/**
 * etcd's checkIntervals: within a branch (and the branches of nested txns), no key is put twice
 * and no key is both put and deleted. The Then and Else of one nested txn may put the same key.
 */
function checkIntervals(ops: readonly RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    if (op.kind !== 'deleteRange') continue;
    const { key, rangeEnd } = op.request;
    dels.push(rangeEnd !== undefined && rangeEnd.length !== 0 ? { start: key, end: rangeEnd } : pointInterval(key));
  }
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.kind !== 'txn') continue;
    const thenSide = checkIntervals(op.request.success);
    const elseSide = checkIntervals(op.request.failure);
    for (const k of thenSide.puts) {
      if (puts.has(k) || intersectsPoint(dels, mapKeyToBytes(k))) throw new DuplicateKeyError();
      puts.add(k);
    }
    for (const k of elseSide.puts) {
      if (puts.has(k) && !thenSide.puts.has(k)) throw new DuplicateKeyError();
      if (intersectsPoint(dels, mapKeyToBytes(k))) throw new DuplicateKeyError();
      puts.add(k);
    }
    dels.push(...thenSide.dels, ...elseSide.dels);
  }
  for (const op of ops) {
    if (op.kind !== 'put') continue;
    const k = bytesToMapKey(op.request.key);
    if (puts.has(k) || intersectsPoint(dels, op.request.key)) throw new DuplicateKeyError();
    puts.add(k);
  }
  return { puts, dels };
}
