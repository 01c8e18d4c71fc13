import { keyValueRecordOf } from '../../domain/mvcc/key-value-record.js';
import type { KeyValue } from '../../domain/mvcc/types.js';
import type { PutResult, RangeResult, RecordsRangeResult } from '../../domain/mvcc/requests.js';
import { ProtobufWriter, bytesFieldLength, bytesTag, messageFieldLength, varintFieldLength, varintTag } from './protobuf-writer.js';

/**
 * Encodes the KV service's hot responses straight from domain results, without building protobuf
 * messages first: a 100-key Range response was 101 `create()` calls, BigInt conversions and a
 * reflective `toBinary`. A KeyValue read from the store's records (domain/mvcc/key-value-record.ts)
 * is copied as it is. The bytes are exactly what `toBinary` gives for the messages that
 * kv-mappers.ts builds (test/unit/adapters/grpc/kv-response-encoder.test.ts).
 *
 * Field numbers (etcd api/mvccpb/kv.proto, api/etcdserverpb/rpc.proto):
 * KeyValue key = 1, create_revision = 2, mod_revision = 3, version = 4, value = 5, lease = 6;
 * RangeResponse header = 1, kvs = 2, more = 3, count = 4; PutResponse header = 1, prev_kv = 2.
 */
const KV_KEY = bytesTag(1);
const KV_CREATE_REVISION = varintTag(2);
const KV_MOD_REVISION = varintTag(3);
const KV_VERSION = varintTag(4);
const KV_VALUE = bytesTag(5);
const KV_LEASE = varintTag(6);

const RESPONSE_HEADER = bytesTag(1);
const RANGE_KVS = bytesTag(2);
const RANGE_MORE = varintTag(3);
const RANGE_COUNT = varintTag(4);
const PUT_PREV_KV = bytesTag(2);

function keyValueLength(kv: KeyValue): number {
  const record = keyValueRecordOf(kv);
  if (record !== undefined) return record.byteLength;
  return (
    bytesFieldLength(kv.key.byteLength) +
    varintFieldLength(kv.createRevision) +
    varintFieldLength(kv.modRevision) +
    varintFieldLength(kv.version) +
    bytesFieldLength(kv.value.byteLength) +
    varintFieldLength(kv.lease)
  );
}

function writeKeyValue(w: ProtobufWriter, kv: KeyValue): void {
  const record = keyValueRecordOf(kv);
  if (record !== undefined) {
    // The store's record is this KeyValue's mvccpb.KeyValue encoding already (key-value-record.ts).
    w.out.set(record, w.at);
    w.at += record.byteLength;
    return;
  }
  w.bytesField(KV_KEY, kv.key);
  w.varintField(KV_CREATE_REVISION, kv.createRevision);
  w.varintField(KV_MOD_REVISION, kv.modRevision);
  w.varintField(KV_VERSION, kv.version);
  w.bytesField(KV_VALUE, kv.value);
  w.varintField(KV_LEASE, kv.lease);
}

/** etcdserverpb.RangeResponse with `header` (encoded ResponseHeader bytes). */
export function encodeRangeResponse(result: RangeResult, header: Uint8Array): Uint8Array {
  const kvs = result.kvs;
  const lengths = new Array<number>(kvs.length);
  let size = messageFieldLength(header.byteLength);
  for (let i = 0; i < kvs.length; i++) {
    const n = keyValueLength(kvs[i]!);
    lengths[i] = n;
    size += messageFieldLength(n);
  }
  if (result.more) size += 2;
  size += varintFieldLength(result.count);
  const w = new ProtobufWriter(new Uint8Array(size));
  w.messageField(RESPONSE_HEADER, header);
  for (let i = 0; i < kvs.length; i++) {
    w.messageHeader(RANGE_KVS, lengths[i]!);
    writeKeyValue(w, kvs[i]!);
  }
  w.boolField(RANGE_MORE, result.more);
  w.varintField(RANGE_COUNT, result.count);
  return w.out;
}

/**
 * etcdserverpb.RangeResponse from stored records: `result.records` are the `kvs` fields already
 * (framed KeyValue records, field 2), so they are copied as one block.
 */
export function encodeRangeRecordsResponse(result: RecordsRangeResult, header: Uint8Array): Uint8Array {
  let size = messageFieldLength(header.byteLength) + result.records.byteLength;
  if (result.more) size += 2;
  size += varintFieldLength(result.count);
  const w = new ProtobufWriter(new Uint8Array(size));
  w.messageField(RESPONSE_HEADER, header);
  w.out.set(result.records, w.at);
  w.at += result.records.byteLength;
  w.boolField(RANGE_MORE, result.more);
  w.varintField(RANGE_COUNT, result.count);
  return w.out;
}

/** etcdserverpb.PutResponse with `header` (encoded ResponseHeader bytes). */
export function encodePutResponse(result: PutResult, header: Uint8Array): Uint8Array {
  const prev = result.prevKv;
  const prevLength = prev === undefined ? 0 : keyValueLength(prev);
  const size = messageFieldLength(header.byteLength) + (prev === undefined ? 0 : messageFieldLength(prevLength));
  const w = new ProtobufWriter(new Uint8Array(size));
  w.messageField(RESPONSE_HEADER, header);
  if (prev !== undefined) {
    w.messageHeader(PUT_PREV_KV, prevLength);
    writeKeyValue(w, prev);
  }
  return w.out;
}
