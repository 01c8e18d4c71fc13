import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_BYTES, prefixEnd, utf8 } from '../../../../src/domain/bytes.js';
import { keyRange, rangeContains, rangeIsEmpty } from '../../../../src/domain/mvcc/key-range.js';

const b = utf8;

describe('keyRange (etcd key + range_end)', () => {
  it('an absent or empty range_end addresses the single key', () => {
    assert.deepEqual(keyRange(b('a'), undefined), { kind: 'single', key: b('a') });
    assert.deepEqual(keyRange(b('a'), EMPTY_BYTES), { kind: 'single', key: b('a') });
  });

  it('range_end "\\0" means every key >= key', () => {
    assert.deepEqual(keyRange(b('a'), new Uint8Array([0])), { kind: 'fromKey', key: b('a') });
  });

  it('any other range_end is the half-open interval [key, range_end)', () => {
    assert.deepEqual(keyRange(b('a'), b('c')), { kind: 'interval', key: b('a'), end: b('c') });
    // Two zero bytes is an ordinary (tiny) end, not "from key".
    assert.deepEqual(keyRange(b('a'), new Uint8Array([0, 0])), { kind: 'interval', key: b('a'), end: new Uint8Array([0, 0]) });
  });
});

describe('rangeContains', () => {
  it('single: only the key itself', () => {
    const r = keyRange(b('ab'), undefined);
    assert.equal(rangeContains(r, b('ab')), true);
    assert.equal(rangeContains(r, b('a')), false);
    assert.equal(rangeContains(r, b('ab\0')), false);
  });

  it('fromKey: the key and everything after it', () => {
    const r = keyRange(b('b'), new Uint8Array([0]));
    assert.equal(rangeContains(r, b('a')), false);
    assert.equal(rangeContains(r, b('az')), false);
    assert.equal(rangeContains(r, b('b')), true);
    assert.equal(rangeContains(r, new Uint8Array([0xff, 0xff])), true);
  });

  it('interval: start inclusive, end exclusive', () => {
    const r = keyRange(b('b'), b('d'));
    assert.equal(rangeContains(r, b('a')), false);
    assert.equal(rangeContains(r, b('b')), true);
    assert.equal(rangeContains(r, b('cz')), true);
    assert.equal(rangeContains(r, b('d')), false);
  });

  it('prefix: [p, prefixEnd(p)) holds the keys with the prefix', () => {
    const r = keyRange(b('/pods/'), prefixEnd(b('/pods/')));
    assert.equal(rangeContains(r, b('/pods/')), true);
    assert.equal(rangeContains(r, b('/pods/x/y')), true);
    assert.equal(rangeContains(r, b('/pods')), false);
    assert.equal(rangeContains(r, b('/pods0')), false);
  });

  it('an inverted interval contains nothing', () => {
    const r = keyRange(b('d'), b('b'));
    for (const k of ['a', 'b', 'c', 'd', 'e']) assert.equal(rangeContains(r, b(k)), false);
  });
});

describe('rangeIsEmpty', () => {
  it('is true only for intervals whose end is at or before the start', () => {
    assert.equal(rangeIsEmpty(keyRange(b('b'), b('b'))), true);
    assert.equal(rangeIsEmpty(keyRange(b('b'), b('a'))), true);
    assert.equal(rangeIsEmpty(keyRange(b('b'), b('c'))), false);
    assert.equal(rangeIsEmpty(keyRange(b('b'), undefined)), false);
    assert.equal(rangeIsEmpty(keyRange(b('b'), new Uint8Array([0]))), false);
  });
});
