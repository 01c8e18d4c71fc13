import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PermissionSet } from '../../../../src/domain/auth/permissions.js';
import type { Permission, PermType } from '../../../../src/domain/auth/types.js';
import { prefixEnd, utf8 } from '../../../../src/domain/bytes.js';

const b = utf8;
const OPEN = new Uint8Array([0]);
const NONE = new Uint8Array(0);
const perm = (key: string | Uint8Array, rangeEnd: string | Uint8Array, permType: PermType): Permission => ({
  key: typeof key === 'string' ? b(key) : key,
  rangeEnd: typeof rangeEnd === 'string' ? b(rangeEnd) : rangeEnd,
  permType,
});

describe('PermissionSet (etcd range permission semantics)', () => {
  it('a single-key grant covers that key only, also as the range [key, key\\0)', () => {
    const p = new PermissionSet([perm('x', NONE, 'write')]);
    assert.equal(p.allows('write', b('x'), undefined), true);
    assert.equal(p.allows('write', b('x'), new Uint8Array([0x78, 0])), true);
    assert.equal(p.allows('write', b('x0'), undefined), false);
    assert.equal(p.allows('write', b('x'), b('y')), false);
    assert.equal(p.allows('read', b('x'), undefined), false, 'write does not imply read');
  });

  it('a range request needs the union of grants to cover all of it, not only its start key', () => {
    const p = new PermissionSet([perm('a', 'c', 'read'), perm('c', 'e', 'read')]);
    assert.equal(p.allows('read', b('b'), b('d')), true, 'adjacent grants join');
    assert.equal(p.allows('read', b('a'), b('e')), true);
    assert.equal(p.allows('read', b('b'), b('f')), false, '[e, f) is not granted');
    assert.equal(p.allows('read', b('b'), OPEN), false, 'open-ended request needs an open-ended grant');
    const gap = new PermissionSet([perm('a', 'c', 'read'), perm('d', 'f', 'read')]);
    assert.equal(gap.allows('read', b('b'), b('e')), false, 'a gap [c, d) denies');
    assert.equal(gap.allows('read', b('d'), undefined), true);
  });

  it('overlapping and unsorted grants of different types: readwrite counts for both', () => {
    const p = new PermissionSet([perm('m', 'z', 'readwrite'), perm('a', 'n', 'read'), perm('b', 'c', 'write')]);
    assert.equal(p.allows('read', b('a'), b('z')), true);
    assert.equal(p.allows('write', b('a'), b('z')), false);
    assert.equal(p.allows('write', b('m'), b('z')), true);
    assert.equal(p.allows('write', b('b'), b('z')), false, 'write has a gap [c, m)');
  });

  it('open-ended grants ("\\0") cover everything from their key; the empty key grants all', () => {
    const from = new PermissionSet([perm('m', OPEN, 'read')]);
    assert.equal(from.allows('read', b('n'), OPEN), true);
    assert.equal(from.allows('read', b('zzz'), undefined), true);
    assert.equal(from.allows('read', b('l'), OPEN), false);
    const all = new PermissionSet([perm(NONE, OPEN, 'readwrite')]);
    assert.equal(all.allows('write', OPEN, OPEN), true, 'etcdctl get "" --prefix sends key \\0, range_end \\0');
    assert.equal(all.allows('read', new Uint8Array([0, 0xff]), undefined), true);
  });

  it('prefix grants (etcdctl --prefix) cover their prefix ranges and nothing past them', () => {
    const p = new PermissionSet([perm('/a/', prefixEnd(b('/a/')), 'read')]);
    assert.equal(p.allows('read', b('/a/'), prefixEnd(b('/a/'))), true);
    assert.equal(p.allows('read', b('/a/x/'), prefixEnd(b('/a/x/'))), true);
    assert.equal(p.allows('read', b('/a'), prefixEnd(b('/a'))), false, 'the shorter prefix reaches /a0, /ab');
    assert.equal(p.allows('read', b('/b/'), undefined), false);
  });

  it('an empty request range needs its start key; no grants deny everything', () => {
    const p = new PermissionSet([perm('k', NONE, 'read')]);
    assert.equal(p.allows('read', b('k'), b('a')), true);
    assert.equal(p.allows('read', b('l'), b('a')), false);
    assert.equal(new PermissionSet([]).allows('read', b('a'), undefined), false);
  });
});
