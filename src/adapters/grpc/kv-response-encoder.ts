import { encodeKeyValueRecord, frameKeyValueRecord } from '../../domain/mvcc/key-value-record.js';
import type { PutResult, RangeResult, RecordsRangeResult } from '../../domain/mvcc/requests.js';
import { ProtobufWriter, bytesTag, messageFieldLength, varintFieldLength, varintTag } from '../../domain/protobuf-wire.js';

/**
 * Encodes the KV service's hot responses straight from domain results, without building protobuf
 * messages first: a 100-key Range response was 101 `create()` calls, BigInt conversions and a
 * reflective `toBinary`. Each KeyValue is its record (domain/mvcc/key-value-record.ts: the
 * mvccpb.KeyValue bytes); a page read from the store's records is copied as one block. The bytes
 * are exactly what `toBinary` gives for the messages that kv-mappers.ts builds
 * (test/unit/adapters/grpc/kv-response-encoder.test.ts).
 *
 * Field numbers (etcd api/etcdserverpb/rpc.proto): RangeResponse header = 1, kvs = 2, more = 3,
 * count = 4; PutResponse header = 1, prev_kv = 2.
 */
const RESPONSE_HEADER = bytesTag(1);
const RANGE_MORE = varintTag(3);
const RANGE_COUNT = varintTag(4);
const PUT_PREV_KV = bytesTag(2);

/** etcdserverpb.RangeResponse with `header` (encoded ResponseHeader bytes). */
export function encodeRangeResponse(result: RangeResult, header: Uint8Array): Uint8Array {
  const kvs = result.kvs.map((kv) => frameKeyValueRecord(encodeKeyValueRecord(kv)));
  return rangeResponse(header, kvs, result.more, result.count);
}

/**
 * etcdserverpb.RangeResponse from stored records: `result.records` are the `kvs` fields already
 * (framed KeyValue records, field 2), so they are copied as one block.
 */
export function encodeRangeRecordsResponse(result: RecordsRangeResult, header: Uint8Array): Uint8Array {
  return rangeResponse(header, [result.records], result.more, result.count);
}

/** `kvs`: blocks of framed KeyValue records, in order. */
function rangeResponse(header: Uint8Array, kvs: readonly Uint8Array[], more: boolean, count: number): Uint8Array {
  let size = messageFieldLength(header.byteLength) + (more ? 2 : 0) + varintFieldLength(count);
  for (const block of kvs) size += block.byteLength;
  const w = new ProtobufWriter(new Uint8Array(size));
  w.messageField(RESPONSE_HEADER, header);
  for (const block of kvs) {
    w.out.set(block, w.at);
    w.at += block.byteLength;
  }
  w.boolField(RANGE_MORE, more);
  w.varintField(RANGE_COUNT, count);
  return w.out;
}

/** etcdserverpb.PutResponse with `header` (encoded ResponseHeader bytes). */
export function encodePutResponse(result: PutResult, header: Uint8Array): Uint8Array {
  const prev = result.prevKv === undefined ? undefined : encodeKeyValueRecord(result.prevKv);
  const w = new ProtobufWriter(new Uint8Array(messageFieldLength(header.byteLength) + (prev === undefined ? 0 : messageFieldLength(prev.byteLength))));
  w.messageField(RESPONSE_HEADER, header);
  if (prev !== undefined) w.messageField(PUT_PREV_KV, prev);
  return w.out;
}
