import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { KeyValueSchema } from '../../../../src/adapters/grpc/gen/etcd/api/mvccpb/kv_pb.js';
import { toPbKeyValue } from '../../../../src/adapters/grpc/kv-mappers.js';
import { decodeKeyValueRecord, encodeKeyValueRecord, frameKeyValueRecord, unframeKeyValueRecord } from '../../../../src/domain/mvcc/key-value-record.js';
import type { KeyValue } from '../../../../src/domain/mvcc/types.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const CASES: KeyValue[] = [
  { key: utf8('a'), createRevision: 2, modRevision: 5, version: 4, value: utf8('v'), lease: 0n },
  { key: utf8('k'.repeat(300)), createRevision: 1, modRevision: 1, version: 1, value: new Uint8Array(70_000).fill(7), lease: 0n },
  { key: utf8('empty'), createRevision: 3, modRevision: 3, version: 1, value: new Uint8Array(0), lease: 0n },
  { key: utf8('big'), createRevision: 2 ** 40, modRevision: Number.MAX_SAFE_INTEGER, version: 2 ** 33, value: utf8('x'), lease: 0x7fff_ffff_ffff_ffffn },
  { key: utf8('neg'), createRevision: 7, modRevision: 9, version: 3, value: utf8('y'), lease: -5n },
  { key: new Uint8Array([0, 255, 0]), createRevision: 127, modRevision: 128, version: 16_384, value: new Uint8Array([0]), lease: 1n },
];

describe('KeyValue records', () => {
  it("are etcd's mvccpb.KeyValue bytes, as protobuf-es encodes them", () => {
    for (const kv of CASES) assert.deepEqual(encodeKeyValueRecord(kv), toBinary(KeyValueSchema, toPbKeyValue(kv)));
  });

  it('decode to the same KeyValue, and frame and unframe as a RangeResponse field 2', () => {
    for (const kv of CASES) {
      const record = encodeKeyValueRecord(kv);
      const decoded = decodeKeyValueRecord(record);
      assert.deepEqual({ ...decoded, key: [...decoded.key], value: [...decoded.value] }, { ...kv, key: [...kv.key], value: [...kv.value] });
      const framed = frameKeyValueRecord(record);
      assert.equal(framed[0], 0x12);
      assert.deepEqual(unframeKeyValueRecord(framed), record);
      // Cross-check against protobuf-es's decoder.
      const pb = fromBinary(KeyValueSchema, record);
      assert.equal(pb.lease, kv.lease);
      assert.equal(pb.modRevision, BigInt(kv.modRevision));
    }
  });

  it('refuse bytes that are not a record (a corrupt store fails loudly)', () => {
    const good = encodeKeyValueRecord(CASES[0]!);
    assert.throws(() => decodeKeyValueRecord(good.subarray(0, good.byteLength - 1)), /KeyValue record/);
    assert.throws(() => decodeKeyValueRecord(new Uint8Array([0x3a, 0])), /unexpected tag/);
    assert.throws(() => decodeKeyValueRecord(new Uint8Array([0x10, 0x80])), /bad varint/);
  });
});
