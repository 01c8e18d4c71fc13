// Range as etcd's applier runs it (server/etcdserver/txn/range.go executeRange, and
// server/storage/mvcc/kvstore_txn.go rangeKeys for the revision checks).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { prefixEnd } from '../../../../src/domain/bytes.js';
import { CompactedError, FutureRevisionError } from '../../../../src/domain/errors.js';
import { executeRange, readRevision } from '../../../../src/domain/mvcc/range.js';
import type { RangeRequest, SortTarget } from '../../../../src/domain/mvcc/requests.js';
import { b, buildDomain, FROM_KEY, keysOf, throwsWith, view, views, type Domain } from '../../../support/domain-fixtures.js';

/**
 * Four keys whose order differs by every sort target (current revision 11):
 *   key      a    b    c    d
 *   version  2    4    1    3     ascending: c a d b
 *   create   4    2    6    3     ascending: b d a c
 *   mod      5    9    6    11    ascending: a c b d
 *   value    v4   v2   v3   v1    ascending: d b c a
 */
async function seedSortFixture(d: Domain): Promise<void> {
  const steps: [string, string][] = [
    ['b', 'b-1'], // 2
    ['d', 'd-1'], // 3
    ['a', 'a-1'], // 4
    ['a', 'v4'], // 5
    ['c', 'v3'], // 6
    ['b', 'b-2'], // 7
    ['b', 'b-3'], // 8
    ['b', 'v2'], // 9
    ['d', 'd-2'], // 10
    ['d', 'v1'], // 11
  ];
  for (const [key, value] of steps) await d.kv.put({ key: b(key), value: b(value) });
  assert.equal(d.kv.currentRevision(), 11);
}

const ALL: Pick<RangeRequest, 'key' | 'rangeEnd'> = { key: b('a'), rangeEnd: FROM_KEY };

describe('executeRange: which keys', () => {
  const d = buildDomain();
  before(() => seedSortFixture(d));
  const range = (req: RangeRequest) => executeRange(d.backend, req);

  it('a single key, with its full KeyValue', () => {
    const r = range({ key: b('a') });
    assert.deepEqual(views(r.kvs), [{ key: 'a', value: 'v4', create: 4, mod: 5, version: 2, lease: 0n }]);
    assert.equal(r.count, 1);
    assert.equal(r.more, false);
  });

  it('a missing key: no kvs, count 0', () => {
    assert.deepEqual(range({ key: b('zz') }), { kvs: [], more: false, count: 0 });
  });

  it('from key (range_end "\\0"): the key and everything after it', () => {
    assert.deepEqual(keysOf(range({ key: b('b'), rangeEnd: FROM_KEY }).kvs), ['b', 'c', 'd']);
    assert.deepEqual(keysOf(range({ key: b('\0'), rangeEnd: FROM_KEY }).kvs), ['a', 'b', 'c', 'd']);
  });

  it('an interval [key, range_end), end exclusive', () => {
    const r = range({ key: b('b'), rangeEnd: b('d') });
    assert.deepEqual(keysOf(r.kvs), ['b', 'c']);
    assert.equal(r.count, 2);
  });

  it('a prefix', () => {
    assert.deepEqual(keysOf(range({ key: b('c'), rangeEnd: prefixEnd(b('c')) }).kvs), ['c']);
  });

  it('an interval whose end is at or before its start is empty', () => {
    assert.deepEqual(range({ key: b('c'), rangeEnd: b('b') }), { kvs: [], more: false, count: 0 });
    assert.deepEqual(range({ key: b('c'), rangeEnd: b('c') }), { kvs: [], more: false, count: 0 });
  });
});

describe('executeRange: limit, more and count', () => {
  const d = buildDomain();
  before(() => seedSortFixture(d));
  const range = (req: RangeRequest) => executeRange(d.backend, req);

  it('limit cuts the result, sets more, and does not cap count', () => {
    const r = range({ ...ALL, limit: 1 });
    assert.deepEqual(keysOf(r.kvs), ['a']);
    assert.equal(r.more, true);
    assert.equal(r.count, 4);
    const r3 = range({ ...ALL, limit: 3 });
    assert.deepEqual(keysOf(r3.kvs), ['a', 'b', 'c']);
    assert.equal(r3.more, true);
    assert.equal(r3.count, 4);
  });

  it('a limit equal to or above the number of keys: everything, more false', () => {
    for (const limit of [4, 5, 100]) {
      const r = range({ ...ALL, limit });
      assert.deepEqual(keysOf(r.kvs), ['a', 'b', 'c', 'd']);
      assert.equal(r.more, false);
      assert.equal(r.count, 4);
    }
  });

  it('limit 0 or negative means no limit', () => {
    assert.equal(range({ ...ALL, limit: 0 }).kvs.length, 4);
    assert.equal(range({ ...ALL, limit: -3 }).kvs.length, 4);
  });

  it('limit on a historical read counts the keys at that revision', () => {
    // At 4: b, d, a exist (c is created at 6).
    const r = range({ ...ALL, revision: 4, limit: 2 });
    assert.deepEqual(keysOf(r.kvs), ['a', 'b']);
    assert.equal(r.more, true);
    assert.equal(r.count, 3);
  });

  it('count_only: no kvs, the count of the range', () => {
    assert.deepEqual(range({ ...ALL, countOnly: true }), { kvs: [], more: false, count: 4 });
    assert.deepEqual(range({ key: b('b'), rangeEnd: b('d'), countOnly: true, limit: 1 }), { kvs: [], more: false, count: 2 });
    assert.deepEqual(range({ ...ALL, countOnly: true, revision: 3 }), { kvs: [], more: false, count: 2 });
  });

  it('keys_only: values are empty, everything else is kept', () => {
    const r = range({ ...ALL, keysOnly: true, limit: 2 });
    assert.deepEqual(views(r.kvs), [
      { key: 'a', value: '', create: 4, mod: 5, version: 2, lease: 0n },
      { key: 'b', value: '', create: 2, mod: 9, version: 4, lease: 0n },
    ]);
    assert.equal(r.more, true);
    // The stored value is untouched.
    assert.equal(view(range({ key: b('a') }).kvs[0]!).value, 'v4');
  });
});

describe('executeRange: min/max mod and create revision filters', () => {
  const d = buildDomain();
  before(() => seedSortFixture(d));
  const range = (req: RangeRequest) => executeRange(d.backend, req);

  it('each filter drops keys; count stays the number of keys in the range', () => {
    const cases: [Partial<RangeRequest>, string[]][] = [
      [{ minModRevision: 6 }, ['b', 'c', 'd']],
      [{ maxModRevision: 6 }, ['a', 'c']],
      [{ minCreateRevision: 4 }, ['a', 'c']],
      [{ maxCreateRevision: 3 }, ['b', 'd']],
      [{ minModRevision: 6, maxModRevision: 9 }, ['b', 'c']],
      [{ minCreateRevision: 3, maxCreateRevision: 4, minModRevision: 1, maxModRevision: 100 }, ['a', 'd']],
    ];
    for (const [filters, keys] of cases) {
      const r = range({ ...ALL, ...filters });
      assert.deepEqual(keysOf(r.kvs), keys, JSON.stringify(filters));
      assert.equal(r.count, 4, JSON.stringify(filters));
      assert.equal(r.more, false);
    }
  });

  it('limit applies after the filters; more says whether filtered keys were cut', () => {
    const one = range({ ...ALL, maxModRevision: 6, limit: 1 });
    assert.deepEqual(keysOf(one.kvs), ['a']);
    assert.equal(one.more, true);
    assert.equal(one.count, 4);
    const two = range({ ...ALL, maxModRevision: 6, limit: 2 });
    assert.deepEqual(keysOf(two.kvs), ['a', 'c']);
    assert.equal(two.more, false);
    assert.equal(two.count, 4);
  });

  it('filters apply to the versions at a historical revision', () => {
    // At 8: a{mod 5, create 4}, b{mod 8, create 2}, c{mod 6, create 6}, d{mod 3, create 3}.
    assert.deepEqual(keysOf(range({ ...ALL, revision: 8, minModRevision: 6 }).kvs), ['b', 'c']);
    assert.equal(range({ ...ALL, revision: 8, minModRevision: 6 }).count, 4);
  });
});

describe('executeRange: sort', () => {
  const d = buildDomain();
  before(() => seedSortFixture(d));
  const range = (req: RangeRequest) => executeRange(d.backend, req);
  const ascending: Record<SortTarget, string[]> = {
    key: ['a', 'b', 'c', 'd'],
    version: ['c', 'a', 'd', 'b'],
    create: ['b', 'd', 'a', 'c'],
    mod: ['a', 'c', 'b', 'd'],
    value: ['d', 'b', 'c', 'a'],
  };

  it('every target ascending and descending', () => {
    for (const [target, order] of Object.entries(ascending) as [SortTarget, string[]][]) {
      assert.deepEqual(keysOf(range({ ...ALL, sortTarget: target, sortOrder: 'ascend' }).kvs), order, `${target} ascend`);
      assert.deepEqual(keysOf(range({ ...ALL, sortTarget: target, sortOrder: 'descend' }).kvs), [...order].reverse(), `${target} descend`);
    }
  });

  it('a target other than KEY without an order sorts ascending (etcd sortRangeResults)', () => {
    for (const [target, order] of Object.entries(ascending) as [SortTarget, string[]][]) {
      assert.deepEqual(keysOf(range({ ...ALL, sortTarget: target }).kvs), order, `${target} no order`);
      assert.deepEqual(keysOf(range({ ...ALL, sortTarget: target, sortOrder: 'none' }).kvs), order, `${target} none`);
    }
  });

  it('sort then limit when an order is given: the first of all keys by the target', () => {
    const r = range({ ...ALL, sortTarget: 'create', sortOrder: 'ascend', limit: 2 });
    assert.deepEqual(keysOf(r.kvs), ['b', 'd']);
    assert.equal(r.more, true);
    assert.equal(r.count, 4);
    const k = range({ ...ALL, sortTarget: 'key', sortOrder: 'descend', limit: 2 });
    assert.deepEqual(keysOf(k.kvs), ['d', 'c']);
    assert.equal(k.more, true);
  });

  it('with sort_order NONE and a target other than KEY, limit (+1) is applied BEFORE the sort', () => {
    // etcd rangeLimit() keeps the limit when the order is NONE (isDefaultOrdering), so mvcc reads
    // limit+1 keys by key (a, b, c), then sortRangeResults sorts those ascending and the response
    // keeps `limit` of them: d is never considered.
    const create = range({ ...ALL, sortTarget: 'create', limit: 2 });
    assert.deepEqual(keysOf(create.kvs), ['b', 'a']);
    assert.equal(create.more, true);
    assert.equal(create.count, 4);
    const value = range({ ...ALL, sortTarget: 'value', sortOrder: 'none', limit: 2 });
    assert.deepEqual(keysOf(value.kvs), ['b', 'c']);
    assert.equal(value.more, true);
    // limit + 1 covering every key: nothing lost, still cut to limit after sorting.
    assert.deepEqual(keysOf(range({ ...ALL, sortTarget: 'create', limit: 3 }).kvs), ['b', 'd', 'a']);
  });

  it('keys_only sorts by the stored values before blanking them', () => {
    const r = range({ ...ALL, sortTarget: 'value', sortOrder: 'descend', keysOnly: true });
    assert.deepEqual(keysOf(r.kvs), ['a', 'c', 'b', 'd']);
    assert.ok(r.kvs.every((kv) => kv.value.length === 0));
  });

  it('sort applies to a filtered historical read', () => {
    // At 9: versions a2 b4 c1 d1; keys with mod >= 5: a(5) b(9) c(6).
    const r = range({ ...ALL, revision: 9, minModRevision: 5, sortTarget: 'mod', sortOrder: 'descend' });
    assert.deepEqual(keysOf(r.kvs), ['b', 'c', 'a']);
    assert.equal(r.count, 4);
  });
});

describe('readRevision and historical reads', () => {
  it('<= 0 or absent is current; above current is a future revision', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') });
    assert.equal(readRevision(d.backend, undefined), 2);
    assert.equal(readRevision(d.backend, 0), 2);
    assert.equal(readRevision(d.backend, -1), 2);
    assert.equal(readRevision(d.backend, 1), 1);
    throwsWith(() => readRevision(d.backend, 3), FutureRevisionError);
    throwsWith(() => executeRange(d.backend, { key: b('a'), revision: 3 }), FutureRevisionError);
  });

  it('the compaction revision itself is readable, below it is compacted', async () => {
    const d = buildDomain();
    for (const v of ['1', '2', '3', '4']) await d.kv.put({ key: b('a'), value: b(v) }); // 2..5
    await d.kv.compact(3, true);
    assert.equal(readRevision(d.backend, 3), 3);
    assert.deepEqual(views(executeRange(d.backend, { key: b('a'), revision: 3 }).kvs), [
      { key: 'a', value: '2', create: 2, mod: 3, version: 2, lease: 0n },
    ]);
    throwsWith(() => readRevision(d.backend, 2), CompactedError);
    throwsWith(() => executeRange(d.backend, { key: b('a'), revision: 2 }), CompactedError);
    throwsWith(() => executeRange(d.backend, { key: b('a'), revision: 1, countOnly: true }), CompactedError);
  });

  it('a read at revision R sees each key as of R: deleted keys and re-created keys', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('k'), value: b('1') }); // 2
    await d.kv.put({ key: b('k'), value: b('2') }); // 3
    await d.kv.deleteRange({ key: b('k') }); // 4
    await d.kv.put({ key: b('k'), value: b('3') }); // 5
    const at = (revision: number) => views(executeRange(d.backend, { key: b('k'), revision }).kvs);
    assert.deepEqual(at(1), []);
    assert.deepEqual(at(2), [{ key: 'k', value: '1', create: 2, mod: 2, version: 1, lease: 0n }]);
    assert.deepEqual(at(3), [{ key: 'k', value: '2', create: 2, mod: 3, version: 2, lease: 0n }]);
    assert.deepEqual(at(4), []);
    assert.deepEqual(at(5), [{ key: 'k', value: '3', create: 5, mod: 5, version: 1, lease: 0n }]);
    assert.equal(executeRange(d.backend, { key: b('k'), revision: 4, countOnly: true }).count, 0);
  });
});
