// etcd requests encoded with the generated protobuf-es types, framed for gRPC. Each workload
// encodes its distinct requests once, before the clock starts, and replays the bytes.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  PutRequestSchema,
  RangeRequestSchema,
  TxnRequestSchema,
  TxnResponseSchema,
  WatchRequestSchema,
} from '../../dist/src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { frame } from './grpc-h2.mjs';

export const PATH = {
  range: '/etcdserverpb.KV/Range',
  put: '/etcdserverpb.KV/Put',
  txn: '/etcdserverpb.KV/Txn',
  watch: '/etcdserverpb.Watch/Watch',
};

export const KEY_BYTES = 64;
export const VALUE_BYTES = 256;
const te = new TextEncoder();

/** A 64-byte key: `<prefix><index, zero-padded>`; sorts by index within a prefix. */
export function key(prefix, index) {
  const head = `bench/${prefix}/`;
  return te.encode(head + String(index).padStart(KEY_BYTES - head.length, '0'));
}

/** The prefix every key() of `prefix` starts with, and its range end (prefix + 1 in the last byte). */
export function prefixRange(prefix) {
  const start = te.encode(`bench/${prefix}/`);
  const end = start.slice();
  end[end.length - 1]++;
  return { start, end };
}

export const value = new Uint8Array(VALUE_BYTES).fill(0x76);

export function putBody(k, v = value) {
  return frame(toBinary(PutRequestSchema, create(PutRequestSchema, { key: k, value: v })));
}

export function getBody(k) {
  return frame(toBinary(RangeRequestSchema, create(RangeRequestSchema, { key: k })));
}

export function rangeBody({ key: k, rangeEnd, limit = 0, revision = 0 }) {
  return frame(toBinary(RangeRequestSchema, create(RangeRequestSchema, { key: k, rangeEnd, limit: BigInt(limit), revision: BigInt(revision) })));
}

/** One txn putting every key (preloading; at most 128 ops, etcd's and T4's default limit). */
export function multiPutBody(keys, v = value) {
  const success = keys.map((k) => ({ request: { case: 'requestPut', value: { key: k, value: v } } }));
  return frame(toBinary(TxnRequestSchema, create(TxnRequestSchema, { success })));
}

/** if mod_revision(k) == modRevision then put(k, v) else range(k): one compare-and-swap attempt. */
export function casBody(k, modRevision, v = value) {
  return frame(
    toBinary(
      TxnRequestSchema,
      create(TxnRequestSchema, {
        compare: [{ key: k, target: Compare_CompareTarget.MOD, result: Compare_CompareResult.EQUAL, targetUnion: { case: 'modRevision', value: BigInt(modRevision) } }],
        success: [{ request: { case: 'requestPut', value: { key: k, value: v } } }],
        failure: [{ request: { case: 'requestRange', value: { key: k } } }],
      }),
    ),
  );
}

/** { succeeded, modRevision }: the new mod revision on success, the current one on failure. */
export function casResult(bytes) {
  const r = fromBinary(TxnResponseSchema, bytes);
  if (r.succeeded) return { succeeded: true, modRevision: Number(r.header.revision) };
  const range = r.responses[0]?.response.value;
  return { succeeded: false, modRevision: Number(range?.kvs[0]?.modRevision ?? 0n) };
}

export function watchCreateBody({ key: k, rangeEnd, startRevision = 0, watchId = 0 }) {
  return frame(
    toBinary(
      WatchRequestSchema,
      create(WatchRequestSchema, { requestUnion: { case: 'createRequest', value: { key: k, rangeEnd, startRevision: BigInt(startRevision), watchId: BigInt(watchId) } } }),
    ),
  );
}
