import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bytesEqual,
  bytesToMapKey,
  compareBytes,
  EMPTY_BYTES,
  fromUtf8,
  mapKeyToBytes,
  prefixEnd,
  utf8,
} from '../../../src/domain/bytes.js';

const u = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);

describe('compareBytes', () => {
  it('orders lexicographically by unsigned byte, a prefix before its extensions', () => {
    assert.equal(compareBytes(u(1, 2), u(1, 2)), 0);
    assert.equal(compareBytes(u(1, 2), u(1, 3)), -1);
    assert.equal(compareBytes(u(1, 3), u(1, 2)), 1);
    assert.equal(compareBytes(u(1), u(1, 0)), -1);
    assert.equal(compareBytes(u(1, 0), u(1)), 1);
    assert.equal(compareBytes(EMPTY_BYTES, u(0)), -1);
    assert.equal(compareBytes(EMPTY_BYTES, EMPTY_BYTES), 0);
    // 0x80..0xff sort after 0x7f (unsigned, as Go's bytes.Compare).
    assert.equal(compareBytes(u(0x7f), u(0x80)), -1);
    assert.equal(compareBytes(u(0xff), u(0x00, 0xff)), 1);
  });

  it('returns only -1, 0 or 1', () => {
    assert.equal(compareBytes(u(0), u(200)), -1);
    assert.equal(compareBytes(u(200), u(0)), 1);
  });

  it('sorts an array like Buffer.compare does', () => {
    const keys = [u(2), u(1, 255), u(1), EMPTY_BYTES, u(255, 0), u(1, 0), u(128)];
    const ours = [...keys].sort(compareBytes).map((k) => Array.from(k));
    const node = [...keys].sort((a, c) => Buffer.compare(a, c)).map((k) => Array.from(k));
    assert.deepEqual(ours, node);
  });
});

describe('bytesEqual', () => {
  it('compares length and content', () => {
    assert.equal(bytesEqual(u(1, 2), u(1, 2)), true);
    assert.equal(bytesEqual(u(1, 2), u(1, 2, 0)), false);
    assert.equal(bytesEqual(u(1, 2), u(1, 3)), false);
    assert.equal(bytesEqual(EMPTY_BYTES, new Uint8Array(0)), true);
  });
});

describe('bytesToMapKey / mapKeyToBytes', () => {
  it('round-trips every byte value, including 0x00 and 0xff', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    assert.deepEqual(mapKeyToBytes(bytesToMapKey(all)), all);
    assert.equal(bytesToMapKey(all).length, 256);
  });

  it('round-trips keys longer than one 4096-byte chunk', () => {
    const big = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff);
    assert.deepEqual(mapKeyToBytes(bytesToMapKey(big)), big);
  });

  it('keeps identity and order: map keys compare like the bytes', () => {
    const keys = [u(2), u(1, 255), u(1), EMPTY_BYTES, u(255, 0), u(1, 0), u(128), u(0xc3, 0xa9)];
    for (const a of keys) {
      for (const c of keys) {
        const ka = bytesToMapKey(a);
        const kc = bytesToMapKey(c);
        assert.equal(ka === kc, bytesEqual(a, c));
        assert.equal(Math.sign(ka < kc ? -1 : ka > kc ? 1 : 0), compareBytes(a, c));
      }
    }
  });

  it('does not decode UTF-8: distinct byte strings stay distinct', () => {
    // 0xc3 0xa9 is "é" in UTF-8; it must not collapse to one unit.
    assert.equal(bytesToMapKey(u(0xc3, 0xa9)).length, 2);
    assert.notEqual(bytesToMapKey(u(0xc3, 0xa9)), 'é');
    assert.deepEqual(mapKeyToBytes(bytesToMapKey(u(0xc3, 0xa9))), u(0xc3, 0xa9));
  });
});

describe('prefixEnd (etcd GetPrefixRangeEnd)', () => {
  it('increments the last byte', () => {
    assert.deepEqual(prefixEnd(utf8('abc')), utf8('abd'));
    assert.deepEqual(prefixEnd(utf8('/registry/pods/')), utf8('/registry/pods0'));
  });

  it('drops trailing 0xff bytes and increments the one before', () => {
    assert.deepEqual(prefixEnd(u(0x61, 0xff)), u(0x62));
    assert.deepEqual(prefixEnd(u(0x01, 0xfe, 0xff, 0xff)), u(0x01, 0xff));
  });

  it('yields [0] ("to the end of the keyspace") for an all-0xff or empty prefix', () => {
    assert.deepEqual(prefixEnd(u(0xff, 0xff)), u(0));
    assert.deepEqual(prefixEnd(EMPTY_BYTES), u(0));
  });

  it('does not modify its argument', () => {
    const p = utf8('ab');
    prefixEnd(p);
    assert.deepEqual(p, utf8('ab'));
  });

  it('bounds exactly the keys with the prefix', () => {
    const p = u(0x61, 0xff);
    const end = prefixEnd(p);
    for (const k of [u(0x61, 0xff), u(0x61, 0xff, 0x00), u(0x61, 0xff, 0xff, 0xff)]) {
      assert.ok(compareBytes(k, p) >= 0 && compareBytes(k, end) < 0);
    }
    for (const k of [u(0x61, 0xfe, 0xff), u(0x62), u(0x62, 0x00)]) {
      assert.ok(!(compareBytes(k, p) >= 0 && compareBytes(k, end) < 0));
    }
  });
});

describe('utf8 / fromUtf8', () => {
  it('round-trips text', () => {
    assert.equal(fromUtf8(utf8('héllo/κλειδί')), 'héllo/κλειδί');
    assert.deepEqual(utf8('é'), u(0xc3, 0xa9));
    assert.equal(fromUtf8(EMPTY_BYTES), '');
  });
});
