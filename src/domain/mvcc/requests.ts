import type { KeyValue, LeaseId, Revision } from './types.js';

/**
 * The KV API's requests and results in domain terms. Field meanings are etcd's (rpc.proto); the
 * gRPC adapter maps protobuf messages to and from these.
 */

/** 'unknown': an order number etcd does not define; etcd 3.4/3.5 then read every key and sort none. */
export type SortOrder = 'none' | 'ascend' | 'descend' | 'unknown';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

export interface RangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  /** 0 = no limit. */
  readonly limit?: number;
  /** <= 0 = current revision. */
  readonly revision?: Revision;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly minModRevision?: Revision;
  readonly maxModRevision?: Revision;
  readonly minCreateRevision?: Revision;
  readonly maxCreateRevision?: Revision;
}

export interface RangeResult {
  readonly kvs: readonly KeyValue[];
  /** True when more keys matched than `limit` let through. */
  readonly more: boolean;
  /** Number of keys in the range at the read revision (not capped by limit or filters). */
  readonly count: number;
}

/** A RangeResult whose keys are the store's framed records, concatenated (see executeRangeRecords). */
export interface RecordsRangeResult {
  /** `n` framed KeyValue records (key-value-record.ts), in key order. */
  readonly records: Uint8Array;
  readonly n: number;
  readonly more: boolean;
  readonly count: number;
}

export interface PutRequest {
  readonly key: Uint8Array;
  readonly value?: Uint8Array;
  readonly lease?: LeaseId;
  readonly prevKv?: boolean;
  readonly ignoreValue?: boolean;
  readonly ignoreLease?: boolean;
}

export interface PutResult {
  readonly prevKv: KeyValue | undefined;
}

export interface DeleteRangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly prevKv?: boolean;
}

export interface DeleteRangeResult {
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

/**
 * 'unknown' stands for numbers etcd does not define. etcd does not refuse them: an unknown target
 * compares as equal (0), and an unknown result makes the compare true. We keep that behaviour.
 */
export type CompareTarget = 'version' | 'create' | 'mod' | 'value' | 'lease' | 'unknown';
export type CompareResult = 'equal' | 'greater' | 'less' | 'notEqual' | 'unknown';

/** What the compare carries; etcd reads it only when it matches `target`, else compares to 0/empty. */
export type CompareOperand =
  | { readonly case: 'version'; readonly value: bigint }
  | { readonly case: 'createRevision'; readonly value: bigint }
  | { readonly case: 'modRevision'; readonly value: bigint }
  | { readonly case: 'value'; readonly value: Uint8Array }
  | { readonly case: 'lease'; readonly value: bigint }
  | { readonly case: undefined };

export interface Compare {
  readonly result: CompareResult;
  readonly target: CompareTarget;
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly operand: CompareOperand;
}

export type RequestOp =
  | { readonly kind: 'range'; readonly request: RangeRequest }
  | { readonly kind: 'put'; readonly request: PutRequest }
  | { readonly kind: 'deleteRange'; readonly request: DeleteRangeRequest }
  | { readonly kind: 'txn'; readonly request: TxnRequest }
  | { readonly kind: 'empty' };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

/**
 * One op's response inside a txn. As in etcd, the Range, Put and DeleteRange responses of a txn
 * carry a header with only the revision the op saw or wrote; nested txn responses carry none.
 */
export type ResponseOp =
  | { readonly kind: 'range'; readonly revision: Revision; readonly result: RangeResult }
  | { readonly kind: 'put'; readonly revision: Revision; readonly result: PutResult }
  | { readonly kind: 'deleteRange'; readonly revision: Revision; readonly result: DeleteRangeResult }
  | { readonly kind: 'txn'; readonly result: TxnResult };

export interface TxnResult {
  readonly succeeded: boolean;
  readonly responses: readonly ResponseOp[];
}

/** A result with the header revision etcd would send with it. */
export interface WithRevision<T> {
  readonly revision: Revision;
  readonly result: T;
}
