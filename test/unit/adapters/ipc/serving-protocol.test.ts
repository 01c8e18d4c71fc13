// The payload codecs of the writer <-> serving process frames: a forwarded call's head (path,
// token, peer CN; absent distinct from empty) and request, a gRPC status, a credit count.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeCall,
  decodeStatus,
  encodeCall,
  encodeCount,
  encodeStatus,
  FrameType,
  type CallHead,
} from '../../../../src/adapters/ipc/serving-protocol.js';

const roundtrip = (head: CallHead, request: Uint8Array): ReturnType<typeof decodeCall> => decodeCall(Buffer.concat(encodeCall(head, request)));

describe('serving protocol: call heads', () => {
  it('round-trips path, token, peer CN and request bytes', () => {
    const request = Uint8Array.from([0, 1, 2, 255, 254]);
    const { head, request: got } = roundtrip({ path: '/etcdserverpb.KV/Range', token: 'abc.def', peerCommonName: 'client-1' }, request);
    assert.deepEqual(head, { path: '/etcdserverpb.KV/Range', token: 'abc.def', peerCommonName: 'client-1' });
    assert.deepEqual([...got], [...request]);
  });

  it('keeps a missing token or CN apart from an empty one', () => {
    const cases: CallHead[] = [
      { path: '/p', token: undefined, peerCommonName: undefined },
      { path: '/p', token: '', peerCommonName: undefined },
      { path: '/p', token: undefined, peerCommonName: '' },
      { path: '/p', token: '', peerCommonName: '' },
      { path: '', token: 't', peerCommonName: 'cn' },
    ];
    for (const c of cases) assert.deepEqual(roundtrip(c, new Uint8Array(0)).head, c, JSON.stringify(c));
  });

  it('round-trips an empty request as empty bytes', () => {
    const { request } = roundtrip({ path: '/a/b', token: undefined, peerCommonName: undefined }, new Uint8Array(0));
    assert.equal(request.byteLength, 0);
  });

  it('round-trips unicode (multi-byte UTF-8) in every string', () => {
    const head: CallHead = { path: '/svc/Méthode', token: 'jeton-😀-日本語', peerCommonName: 'Zoë Ångström' };
    const request = Buffer.from('données 🚀', 'utf8');
    const got = roundtrip(head, request);
    assert.deepEqual(got.head, head);
    assert.equal(got.request.toString('utf8'), 'données 🚀');
  });

  it('takes the request from a view into a larger buffer (byteOffset respected)', () => {
    const backing = Buffer.from('XXXXpayloadYYYY');
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, 7);
    const { request } = roundtrip({ path: '/p', token: 't', peerCommonName: undefined }, view);
    assert.equal(request.toString(), 'payload');
  });

  it('lays out each string as u16 length (0xffff: absent) then UTF-8 bytes', () => {
    const bytes = Buffer.concat(encodeCall({ path: 'ab', token: undefined, peerCommonName: 'é' }, Uint8Array.from([9])));
    assert.deepEqual([...bytes], [0, 2, 0x61, 0x62, 0xff, 0xff, 0, 2, 0xc3, 0xa9, 9]);
  });

  it('caps a string at 0xfffe bytes and still decodes the fields after it', () => {
    const long = 'x'.repeat(0x10000 + 5);
    const { head, request } = roundtrip({ path: '/p', token: long, peerCommonName: 'cn' }, Buffer.from('req'));
    assert.equal(head.token, 'x'.repeat(0xfffe));
    assert.equal(head.peerCommonName, 'cn');
    assert.equal(request.toString(), 'req');
  });
});

describe('serving protocol: status and count', () => {
  it('round-trips codes and messages, including empty and unicode messages', () => {
    const cases: [number, string][] = [
      [0, ''],
      [1, 'context canceled'],
      [11, 'etcdserver: mvcc: required revision has been compacted'],
      [14, 'déjà vu: 100% 😀'],
      [16, 'etcdserver: invalid auth token'],
      [0xffff_ffff, 'max'],
    ];
    for (const [code, message] of cases) assert.deepEqual(decodeStatus(encodeStatus(code, message)), { code, message });
  });

  it('lays out a status as u32 code then the UTF-8 message', () => {
    assert.deepEqual([...encodeStatus(14, 'é')], [0, 0, 0, 14, 0xc3, 0xa9]);
  });

  it('encodes a count as a big-endian u32', () => {
    for (const n of [0, 1, 16, 64, 0x01020304, 0xffff_ffff]) {
      const bytes = encodeCount(n);
      assert.equal(bytes.byteLength, 4);
      assert.equal(bytes.readUInt32BE(0), n);
    }
    assert.deepEqual([...encodeCount(0x01020304)], [1, 2, 3, 4]);
  });

  it('gives every frame type a distinct one-byte code', () => {
    const codes = Object.values(FrameType);
    assert.equal(new Set(codes).size, codes.length);
    for (const code of codes) assert.ok(Number.isInteger(code) && code > 0 && code < 256, String(code));
  });
});
