import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { InvariantViolation } from '../../../../src/domain/assert.js';
import { keyRange } from '../../../../src/domain/mvcc/key-range.js';
import { OverlayView } from '../../../../src/domain/mvcc/overlay-view.js';
import type { KeyValue } from '../../../../src/domain/mvcc/types.js';
import { WriteTxn } from '../../../../src/domain/mvcc/write-txn.js';
import { b, FROM_KEY, keysOf, throwsWith, view, views } from '../../../support/domain-fixtures.js';

/** A committed store holding `keys` (each put at its own revision, value = key), then compacted at `compact`. */
function committed(keys: string[], compact?: number): InMemoryMvccBackend {
  const backend = new InMemoryMvccBackend();
  const seed = new OverlayView(backend);
  const changes = [];
  for (const key of keys) {
    const tx = new WriteTxn(seed);
    tx.put(b(key), b(key), 0n);
    changes.push(...tx.changes);
  }
  backend.apply({ fromRevision: 1, toRevision: seed.currentRevision(), changes, compactRevision: compact });
  return backend;
}

const all = keyRange(b('a'), FROM_KEY);

describe('OverlayView', () => {
  it('starts at the committed current and compaction revisions', () => {
    const base = committed(['a', 'b'], 2);
    const v = new OverlayView(base);
    assert.equal(v.currentRevision(), 3);
    assert.equal(v.compactRevision(), 2);
  });

  it('get sees pending puts and deletes, else the committed value', () => {
    const base = committed(['a', 'b']);
    const v = new OverlayView(base);
    const tx = new WriteTxn(v);
    tx.put(b('a'), b('new'), 0n);
    tx.delete(base.get(b('b')) as KeyValue);
    tx.put(b('c'), b('c'), 0n);
    assert.equal(view(v.get(b('a'))!).value, 'new');
    assert.equal(v.get(b('b')), undefined);
    assert.equal(view(v.get(b('c'))!).value, 'c');
    assert.equal(v.get(b('zz')), undefined);
    // The committed store is untouched.
    assert.equal(view(base.get(b('a'))!).value, 'a');
    assert.equal(view(base.get(b('b'))!).value, 'b');
  });

  it('range merges pending changes into the committed keys, in key order', () => {
    const base = committed(['a', 'c', 'e']); // revisions 2..4
    const v = new OverlayView(base);
    const tx = new WriteTxn(v);
    tx.put(b('b'), b('B'), 0n);
    tx.delete(base.get(b('c')) as KeyValue);
    tx.put(b('e'), b('E'), 0n);
    tx.put(b('f'), b('F'), 0n);
    assert.equal(v.currentRevision(), 5);
    assert.deepEqual(
      views(v.range(all, 5, 0)).map((kv) => [kv.key, kv.value, kv.mod]),
      [
        ['a', 'a', 2],
        ['b', 'B', 5],
        ['e', 'E', 5],
        ['f', 'F', 5],
      ],
    );
    assert.equal(v.count(all, 5), 4);
    assert.deepEqual(keysOf(v.range(keyRange(b('b'), b('f')), 5, 0)), ['b', 'e']);
    assert.equal(v.count(keyRange(b('b'), b('f')), 5), 2);
    assert.deepEqual(keysOf(v.range(keyRange(b('c'), undefined), 5, 0)), []);
    assert.equal(v.count(keyRange(b('c'), undefined), 5), 0);
  });

  it('limit counts merged keys, even when pending deletes hide the first committed ones', () => {
    const base = committed(['a', 'b', 'c', 'd', 'e']);
    const v = new OverlayView(base);
    const tx = new WriteTxn(v);
    tx.delete(base.get(b('a')) as KeyValue);
    tx.delete(base.get(b('b')) as KeyValue);
    tx.delete(base.get(b('c')) as KeyValue);
    assert.deepEqual(keysOf(v.range(all, v.currentRevision(), 1)), ['d']);
    assert.deepEqual(keysOf(v.range(all, v.currentRevision(), 2)), ['d', 'e']);
    assert.deepEqual(keysOf(v.range(all, v.currentRevision(), 3)), ['d', 'e']);
    const tx2 = new WriteTxn(v);
    tx2.put(b('a0'), b('x'), 0n);
    tx2.put(b('z'), b('x'), 0n);
    assert.deepEqual(keysOf(v.range(all, v.currentRevision(), 2)), ['a0', 'd']);
    assert.deepEqual(keysOf(v.range(all, v.currentRevision(), 4)), ['a0', 'd', 'e', 'z']);
    assert.equal(v.count(all, v.currentRevision()), 4);
  });

  it('reads at a revision see only the pending changes at or below it', () => {
    const base = committed(['a']); // 2
    const v = new OverlayView(base);
    const t3 = new WriteTxn(v);
    t3.put(b('x'), b('x3'), 0n);
    const t4 = new WriteTxn(v);
    t4.put(b('x'), b('x4'), 0n);
    t4.delete(v.get(b('a')) as KeyValue);
    const t5 = new WriteTxn(v);
    t5.delete(v.get(b('x')) as KeyValue);
    assert.equal(v.currentRevision(), 5);
    const at = (rev: number) => views(v.range(all, rev, 0)).map((kv) => `${kv.key}=${kv.value}@${kv.mod}/v${kv.version}`);
    assert.deepEqual(at(2), ['a=a@2/v1']);
    assert.deepEqual(at(3), ['a=a@2/v1', 'x=x3@3/v1']);
    assert.deepEqual(at(4), ['x=x4@4/v2']);
    assert.deepEqual(at(5), []);
    assert.deepEqual([2, 3, 4, 5].map((rev) => v.count(all, rev)), [1, 2, 1, 0]);
  });

  it('a key changed twice at one revision reads as its last change', () => {
    const base = committed(['a']); // 2
    const v = new OverlayView(base);
    const tx = new WriteTxn(v);
    tx.delete(v.get(b('a')) as KeyValue);
    tx.put(b('a'), b('again'), 0n);
    assert.deepEqual(view(v.get(b('a'))!), { key: 'a', value: 'again', create: 3, mod: 3, version: 1, lease: 0n });
    assert.deepEqual(keysOf(v.range(all, 3, 0)), ['a']);
    assert.equal(v.count(all, 3), 1);
    tx.delete(v.get(b('a')) as KeyValue);
    assert.equal(v.get(b('a')), undefined);
    assert.equal(v.count(all, 3), 0);
    assert.equal(tx.changes.length, 3);
  });

  it('asserts its invariants', () => {
    const base = committed(['a'], 1);
    const v = new OverlayView(base);
    throwsWith(() => v.advanceTo(1), InvariantViolation);
    throwsWith(() => v.setCompactRevision(1), InvariantViolation);
    throwsWith(() => v.record(b('a'), 2, undefined), InvariantViolation);
    v.record(b('a'), 4, undefined);
    throwsWith(() => v.record(b('a'), 3, undefined), InvariantViolation);
    v.setCompactRevision(2);
    assert.equal(v.compactRevision(), 2);
    assert.equal(base.compactRevision(), 1);
  });
});

describe('WriteTxn', () => {
  it('puts take begin + 1, one sub per change; versions and create revisions follow the key', () => {
    const base = committed(['a']); // a@2
    const v = new OverlayView(base);
    const tx = new WriteTxn(v);
    assert.equal(tx.beginRevision, 2);
    assert.equal(tx.writeRevision, 3);
    assert.equal(tx.currentRevision(), 2);
    assert.equal(tx.hasChanges(), false);
    const a = tx.put(b('a'), b('A'), 7n);
    const c = tx.put(b('c'), b('C'), 0n);
    assert.equal(tx.currentRevision(), 3);
    assert.deepEqual(view(a), { key: 'a', value: 'A', create: 2, mod: 3, version: 2, lease: 7n });
    assert.deepEqual(view(c), { key: 'c', value: 'C', create: 3, mod: 3, version: 1, lease: 0n });
    assert.deepEqual(
      tx.changes.map((ch) => [ch.kind, ch.main, ch.sub, ch.prev === undefined ? null : view(ch.prev).value]),
      [
        ['put', 3, 0, 'a'],
        ['put', 3, 1, null],
      ],
    );
    const next = new WriteTxn(v);
    assert.equal(next.beginRevision, 3);
    next.delete(v.get(b('a')) as KeyValue);
    assert.deepEqual(
      next.changes.map((ch) => [ch.kind, ch.main, ch.sub, view(ch.kv), view(ch.prev!).value]),
      [['delete', 4, 0, { key: 'a', value: '', create: 0, mod: 4, version: 0, lease: 0n }, 'A']],
    );
  });

  it('compact records the compaction revision on the view, once per request', () => {
    const base = committed(['a', 'b']);
    const v = new OverlayView(base);
    const tx = new WriteTxn(v);
    tx.compact(2);
    assert.equal(tx.compactRevision, 2);
    assert.equal(v.compactRevision(), 2);
    assert.equal(tx.hasChanges(), false);
    throwsWith(() => tx.compact(3), InvariantViolation);
  });
});
