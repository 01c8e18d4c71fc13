import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import * as pb from '../../../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { HeaderFactory } from '../../../../src/adapters/grpc/header.js';
import { WatchResponseEncoder, toPbWatchResponses } from '../../../../src/adapters/grpc/watch-response-encoder.js';
import type { KeyValue } from '../../../../src/domain/mvcc/types.js';
import type { WatchEvent, WatchOutput } from '../../../../src/domain/watch/types.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const kv = (key: string, rev: number, value: Uint8Array, lease = 0n): KeyValue => ({
  key: utf8(key),
  createRevision: 2,
  modRevision: rev,
  version: rev - 1,
  value,
  lease,
});

/** The bytes the generic path gives for the same output: the reference. */
function reference(output: WatchOutput, headers: HeaderFactory): Uint8Array[] {
  return toPbWatchResponses(output, headers, 1 << 20).map((m) => toBinary(pb.WatchResponseSchema, m));
}

function encoded(encoder: WatchResponseEncoder, output: WatchOutput): Uint8Array[] {
  return encoder.encode(output).map((m) => (m instanceof Uint8Array ? m : toBinary(pb.WatchResponseSchema, m)));
}

describe('WatchResponseEncoder', () => {
  const headers = new HeaderFactory(0x1234_5678_9abc_def0n, 42n, () => 7n);

  it('encodes event responses byte for byte as toBinary does: puts, deletes, prev_kv, leases, big values, watch ids 0 to 2^40', () => {
    const encoder = new WatchResponseEncoder(headers, 1 << 20);
    const put: WatchEvent = { kind: 'put', kv: kv('a', 5, utf8('v')) };
    const withPrev: WatchEvent = { kind: 'put', kv: kv('a', 6, utf8('w'), 0x7fff_ffff_ffn), prevKv: kv('a', 5, utf8('v')) };
    const del: WatchEvent = { kind: 'delete', kv: { ...kv('a', 7, new Uint8Array(0)), createRevision: 0, version: 0 } };
    const big: WatchEvent = { kind: 'put', kv: kv('b'.repeat(300), 8, new Uint8Array(70_000).fill(0x61)) };
    const empty: WatchEvent = { kind: 'put', kv: kv('c', 9, new Uint8Array(0)) };
    const cases: WatchEvent[][] = [[put], [withPrev], [del], [big], [empty], [put, withPrev, del, big, empty]];
    for (const watchId of [0n, 1n, 127n, 128n, 300n, 2n ** 40n]) {
      for (const [i, events] of cases.entries()) {
        const output: WatchOutput = { kind: 'events', watchId, revision: 5 + i, events, fragment: false };
        const got = encoded(encoder, output);
        assert.equal(got.length, 1);
        assert.ok(encoder.encode(output)[0] instanceof Uint8Array, 'event responses take the encoded path');
        assert.deepEqual(got, reference(output, headers), `watch id ${watchId}, case ${i}`);
        const decoded = fromBinary(pb.WatchResponseSchema, got[0]!);
        assert.equal(decoded.watchId, watchId);
        assert.equal(decoded.header?.revision, BigInt(5 + i));
        assert.equal(decoded.events.length, events.length);
      }
    }
  });

  it('a shared event object is encoded once for every watcher; the header follows the revision', () => {
    const encoder = new WatchResponseEncoder(headers, 1 << 20);
    const event: WatchEvent = { kind: 'put', kv: kv('k', 10, utf8('x')) };
    const first = encoded(encoder, { kind: 'events', watchId: 1n, revision: 10, events: [event], fragment: false });
    const second = encoded(encoder, { kind: 'events', watchId: 2n, revision: 11, events: [event], fragment: false });
    assert.deepEqual(first, reference({ kind: 'events', watchId: 1n, revision: 10, events: [event], fragment: false }, headers));
    assert.deepEqual(second, reference({ kind: 'events', watchId: 2n, revision: 11, events: [event], fragment: false }, headers));
  });

  it('leaves control responses, fragmenting watchers and negative ids to the message path', () => {
    const encoder = new WatchResponseEncoder(headers, 200);
    const events: WatchEvent[] = Array.from({ length: 5 }, (_, i) => ({ kind: 'put', kv: kv(`k${i}`, 20, new Uint8Array(100)) }));
    const fragmented = encoder.encode({ kind: 'events', watchId: 3n, revision: 20, events, fragment: true });
    assert.ok(fragmented.length > 1 && fragmented.every((m) => !(m instanceof Uint8Array)));
    assert.ok(fragmented.slice(0, -1).every((m) => (m as pb.WatchResponse).fragment));
    for (const output of [
      { kind: 'created', watchId: 1n, revision: 3 },
      { kind: 'canceled', watchId: 1n, revision: 3 },
      { kind: 'progress', watchId: -1n, revision: 3 },
      { kind: 'events', watchId: -5n, revision: 3, events, fragment: false },
    ] as WatchOutput[]) {
      const out = encoder.encode(output);
      assert.ok(out.every((m) => !(m instanceof Uint8Array)), output.kind);
    }
  });
});
