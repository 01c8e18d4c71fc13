import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import * as pb from '../../../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { HeaderFactory } from '../../../../src/adapters/grpc/header.js';
import { toPbPutResponse, toPbRangeResponse } from '../../../../src/adapters/grpc/kv-mappers.js';
import { encodePutResponse, encodeRangeResponse } from '../../../../src/adapters/grpc/kv-response-encoder.js';
import type { KeyValue } from '../../../../src/domain/mvcc/types.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const kv = (key: string, create: number, mod: number, version: number, value: Uint8Array, lease = 0n): KeyValue => ({
  key: utf8(key),
  createRevision: create,
  modRevision: mod,
  version,
  value,
  lease,
});

const KVS: KeyValue[] = [
  kv('a', 2, 5, 4, utf8('v')),
  kv('b'.repeat(300), 1, 1, 1, new Uint8Array(70_000).fill(0x61)),
  kv('c', 3, 3, 1, new Uint8Array(0)),
  kv('d', 2 ** 40, 2 ** 40 + 1, 2, utf8('x'), 0x7fff_ffff_ffff_ffffn),
  kv('e', 7, 9, 3, utf8('y'), 1n),
  // A negative lease never comes from etcd clients, but int64 allows it: ten varint bytes.
  kv('f', 7, 9, 3, utf8('z'), -5n),
];

describe('kv-response-encoder', () => {
  it('encodes a header byte for byte as toBinary does, and re-encodes when the revision or term changes', () => {
    let term = 7n;
    const headers = new HeaderFactory(0x1234_5678_9abc_def0n, 42n, () => term);
    for (const revision of [0, 1, 127, 128, 2 ** 40]) {
      assert.deepEqual(headers.encode(revision), toBinary(pb.ResponseHeaderSchema, headers.make(revision)));
    }
    const before = headers.encode(9);
    term = 8n;
    const after = headers.encode(9);
    assert.notDeepEqual(after, before);
    assert.equal(fromBinary(pb.ResponseHeaderSchema, after).raftTerm, 8n);
    // Zero ids and terms are left out as proto3 does.
    const zeros = new HeaderFactory(0n, 0n, () => 0n);
    assert.deepEqual(zeros.encode(0), toBinary(pb.ResponseHeaderSchema, zeros.make(0)));
  });

  it('encodes Range responses byte for byte as toBinary does: empty, one key, many, more, counts, big values, leases', () => {
    const headers = new HeaderFactory(99n, 3n, () => 1n);
    const cases = [
      { kvs: [], more: false, count: 0 },
      { kvs: [KVS[0]!], more: false, count: 1 },
      { kvs: KVS, more: true, count: 2 ** 33 },
      { kvs: KVS.slice(1, 3), more: false, count: 1000 },
    ];
    for (const result of cases) {
      const expected = toBinary(pb.RangeResponseSchema, toPbRangeResponse(result, headers.make(77)));
      const actual = encodeRangeResponse(result, headers.encode(77));
      assert.deepEqual(actual, expected);
      const decoded = fromBinary(pb.RangeResponseSchema, actual);
      assert.equal(decoded.kvs.length, result.kvs.length);
      assert.equal(decoded.count, BigInt(result.count));
    }
  });

  it('encodes Put responses byte for byte as toBinary does, with and without prev_kv', () => {
    const headers = new HeaderFactory(99n, 3n, () => 1n);
    for (const prevKv of [undefined, ...KVS]) {
      const expected = toBinary(pb.PutResponseSchema, toPbPutResponse({ prevKv }, headers.make(12)));
      assert.deepEqual(encodePutResponse({ prevKv }, headers.encode(12)), expected);
    }
  });
});
