import { create } from '@bufbuild/protobuf';
import type * as d from '../../domain/mvcc/requests.js';
import type { KeyValue } from '../../domain/mvcc/types.js';
import { InvalidSortOptionError } from '../../domain/errors.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { KeyValueSchema, type KeyValue as PbKeyValue } from './gen/etcd/api/mvccpb/kv_pb.js';

/** The only code that sees both protobuf messages and domain types for the KV service. */

/** int64 from the wire to a revision/count; beyond 2^53 is clamped (it is then "future" anyway). */
export function toNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

const SORT_ORDERS: readonly d.SortOrder[] = ['none', 'ascend', 'descend'];
const SORT_TARGETS: readonly d.SortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
const COMPARE_TARGETS: readonly d.CompareTarget[] = ['version', 'create', 'mod', 'value', 'lease'];
const COMPARE_RESULTS: readonly d.CompareResult[] = ['equal', 'greater', 'less', 'notEqual'];

function enumValue<T>(values: readonly T[], n: number, invalid: () => Error): T {
  const v = values[n];
  if (v === undefined) throw invalid();
  return v;
}

export function fromPbRange(r: pb.RangeRequest): d.RangeRequest {
  return {
    key: r.key,
    rangeEnd: r.rangeEnd,
    limit: toNumber(r.limit),
    revision: toNumber(r.revision),
    // etcd 3.4/3.5 accept an unknown sort order: it fetches every key and sorts none (key order).
    sortOrder: SORT_ORDERS[r.sortOrder] ?? 'unknown',
    sortTarget: enumValue(SORT_TARGETS, r.sortTarget, () => new InvalidSortOptionError()),
    serializable: r.serializable,
    keysOnly: r.keysOnly,
    countOnly: r.countOnly,
    minModRevision: toNumber(r.minModRevision),
    maxModRevision: toNumber(r.maxModRevision),
    minCreateRevision: toNumber(r.minCreateRevision),
    maxCreateRevision: toNumber(r.maxCreateRevision),
  };
}

export function fromPbPut(r: pb.PutRequest): d.PutRequest {
  return {
    key: r.key,
    value: r.value,
    lease: r.lease,
    prevKv: r.prevKv,
    ignoreValue: r.ignoreValue,
    ignoreLease: r.ignoreLease,
  };
}

export function fromPbDeleteRange(r: pb.DeleteRangeRequest): d.DeleteRangeRequest {
  return { key: r.key, rangeEnd: r.rangeEnd, prevKv: r.prevKv };
}

function fromPbCompare(c: pb.Compare): d.Compare {
  return {
    result: COMPARE_RESULTS[c.result] ?? 'unknown',
    target: COMPARE_TARGETS[c.target] ?? 'unknown',
    key: c.key,
    rangeEnd: c.rangeEnd,
    operand: c.targetUnion.case === undefined ? { case: undefined } : (c.targetUnion as d.CompareOperand),
  };
}

function fromPbRequestOp(op: pb.RequestOp): d.RequestOp {
  switch (op.request.case) {
    case 'requestRange':
      return { kind: 'range', request: fromPbRange(op.request.value) };
    case 'requestPut':
      return { kind: 'put', request: fromPbPut(op.request.value) };
    case 'requestDeleteRange':
      return { kind: 'deleteRange', request: fromPbDeleteRange(op.request.value) };
    case 'requestTxn':
      return { kind: 'txn', request: fromPbTxn(op.request.value) };
    case undefined:
      return { kind: 'empty' };
  }
}

export function fromPbTxn(r: pb.TxnRequest): d.TxnRequest {
  return {
    compare: r.compare.map(fromPbCompare),
    success: r.success.map(fromPbRequestOp),
    failure: r.failure.map(fromPbRequestOp),
  };
}

export function toPbKeyValue(kv: KeyValue): PbKeyValue {
  return create(KeyValueSchema, {
    key: kv.key,
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: kv.value,
    lease: kv.lease,
  });
}

/** A header with only a revision, as etcd puts inside txn responses. */
function bareHeader(revision: number): pb.ResponseHeader {
  return create(pb.ResponseHeaderSchema, { revision: BigInt(revision) });
}

export function toPbRangeResponse(result: d.RangeResult, header: pb.ResponseHeader): pb.RangeResponse {
  return create(pb.RangeResponseSchema, {
    header,
    kvs: result.kvs.map(toPbKeyValue),
    more: result.more,
    count: BigInt(result.count),
  });
}

export function toPbPutResponse(result: d.PutResult, header: pb.ResponseHeader): pb.PutResponse {
  return create(pb.PutResponseSchema, {
    header,
    prevKv: result.prevKv === undefined ? undefined : toPbKeyValue(result.prevKv),
  });
}

export function toPbDeleteRangeResponse(result: d.DeleteRangeResult, header: pb.ResponseHeader): pb.DeleteRangeResponse {
  return create(pb.DeleteRangeResponseSchema, {
    header,
    deleted: BigInt(result.deleted),
    prevKvs: result.prevKvs.map(toPbKeyValue),
  });
}

export function toPbTxnResponse(result: d.TxnResult, header: pb.ResponseHeader | undefined): pb.TxnResponse {
  return create(pb.TxnResponseSchema, {
    header,
    succeeded: result.succeeded,
    responses: result.responses.map(toPbResponseOp),
  });
}

function toPbResponseOp(op: d.ResponseOp): pb.ResponseOp {
  switch (op.kind) {
    case 'range':
      return create(pb.ResponseOpSchema, {
        response: { case: 'responseRange', value: toPbRangeResponse(op.result, bareHeader(op.revision)) },
      });
    case 'put':
      return create(pb.ResponseOpSchema, {
        response: { case: 'responsePut', value: toPbPutResponse(op.result, bareHeader(op.revision)) },
      });
    case 'deleteRange':
      return create(pb.ResponseOpSchema, {
        response: { case: 'responseDeleteRange', value: toPbDeleteRangeResponse(op.result, bareHeader(op.revision)) },
      });
    case 'txn':
      // etcd sends an empty header in nested txn responses (newTxnResp: Header: &pb.ResponseHeader{}).
      return create(pb.ResponseOpSchema, {
        response: { case: 'responseTxn', value: toPbTxnResponse(op.result, create(pb.ResponseHeaderSchema)) },
      });
  }
}
