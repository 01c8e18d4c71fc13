// Txn as etcd's applier runs it: server/etcdserver/txn/txn.go (Txn, compareToPath, checkTxn,
// executeTxn), server/etcdserver/apply/*.go applyCompare/compareKV, and the revision rules of
// server/storage/mvcc/kvstore_txn.go (one revision per txn that changes something).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { prefixEnd } from '../../../../src/domain/bytes.js';
import {
  CompactedError,
  DuplicateKeyError,
  FutureRevisionError,
  KeyNotFoundError,
  LeaseNotFoundError,
  TooManyOpsError,
} from '../../../../src/domain/errors.js';
import type { Compare, CompareResult, ResponseOp, TxnRequest, TxnResult } from '../../../../src/domain/mvcc/requests.js';
import { evaluateReadOnlyTxn, isTxnReadOnly } from '../../../../src/domain/mvcc/txn.js';
import {
  b,
  buildDomain,
  cmp,
  deleteOp,
  FROM_KEY,
  keysOf,
  putOp,
  rangeOp,
  rejectsWith,
  txn,
  txnOp,
  view,
  views,
  type Domain,
} from '../../../support/domain-fixtures.js';

function rangeResponse(op: ResponseOp | undefined) {
  assert.ok(op !== undefined && op.kind === 'range', `expected a range response, got ${op?.kind}`);
  return op;
}
function putResponse(op: ResponseOp | undefined) {
  assert.ok(op !== undefined && op.kind === 'put', `expected a put response, got ${op?.kind}`);
  return op;
}
function deleteResponse(op: ResponseOp | undefined) {
  assert.ok(op !== undefined && op.kind === 'deleteRange', `expected a deleteRange response, got ${op?.kind}`);
  return op;
}
function txnResponse(op: ResponseOp | undefined): TxnResult {
  assert.ok(op !== undefined && op.kind === 'txn', `expected a txn response, got ${op?.kind}`);
  return op.result;
}
const get = (d: Domain, key: string) => d.kv.range({ key: b(key) }).result.kvs.map(view)[0];

describe('Txn compares: every target x every result', () => {
  // k: create 2, mod 3, version 2, value "m", lease 5.
  async function setup(): Promise<Domain> {
    const d = buildDomain();
    d.leases.ids.add(5n);
    await d.kv.put({ key: b('k'), value: b('x'), lease: 5n });
    await d.kv.put({ key: b('k'), value: b('m'), lease: 5n });
    return d;
  }
  const results: CompareResult[] = ['equal', 'notEqual', 'greater', 'less'];
  const expected = (result: CompareResult, order: number): boolean =>
    result === 'equal' ? order === 0 : result === 'notEqual' ? order !== 0 : result === 'greater' ? order > 0 : order < 0;

  // [compare for operand, order of the key's actual value against that operand]
  const cases = (key: string): [string, Compare, number][] => {
    const out: [string, Compare, number][] = [];
    for (const result of results) {
      for (const [delta, order] of [[-1, 1], [0, 0], [1, -1]] as const) {
        out.push([`version ${result} ${2 + delta}`, cmp.version(key, result, 2 + delta), order]);
        out.push([`create ${result} ${2 + delta}`, cmp.create(key, result, 2 + delta), order]);
        out.push([`mod ${result} ${3 + delta}`, cmp.mod(key, result, 3 + delta), order]);
        out.push([`lease ${result} ${5 + delta}`, cmp.lease(key, result, BigInt(5 + delta)), order]);
        const value = ['l', 'm', 'n'][delta + 1] as string;
        out.push([`value ${result} ${value}`, cmp.value(key, result, value), order]);
      }
    }
    return out;
  };

  it('on an existing key, read-only txns', async () => {
    const d = await setup();
    for (const [name, c, order] of cases('k')) {
      const r = await d.kv.txn(txn([c]));
      assert.equal(r.result.succeeded, expected(c.result, order), name);
      assert.equal(r.revision, 3, name);
    }
    assert.equal(d.kv.currentRevision(), 3);
  });

  it('on an existing key, txns that may write (same answers, no revision taken)', async () => {
    const d = await setup();
    for (const [name, c, order] of cases('k')) {
      const r = await d.kv.txn(txn([c], [deleteOp('absent')], [deleteOp('absent2')]));
      assert.equal(r.result.succeeded, expected(c.result, order), name);
      assert.equal(r.revision, 3, name);
    }
    assert.equal(d.kv.currentRevision(), 3);
  });

  it('on a missing key, version/create/mod/lease compare a zero value', async () => {
    const d = await setup();
    for (const make of [cmp.version, cmp.create, cmp.mod]) {
      assert.equal((await d.kv.txn(txn([make('nokey', 'equal', 0)]))).result.succeeded, true);
      assert.equal((await d.kv.txn(txn([make('nokey', 'notEqual', 0)]))).result.succeeded, false);
      assert.equal((await d.kv.txn(txn([make('nokey', 'greater', 0)]))).result.succeeded, false);
      assert.equal((await d.kv.txn(txn([make('nokey', 'less', 1)]))).result.succeeded, true);
    }
    assert.equal((await d.kv.txn(txn([cmp.lease('nokey', 'equal', 0n)]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.lease('nokey', 'less', 5n)]))).result.succeeded, true);
  });

  it('on a missing key, a VALUE compare is false whatever the result (etcd applyCompare)', async () => {
    const d = await setup();
    for (const result of results) {
      for (const value of ['', 'm']) {
        assert.equal((await d.kv.txn(txn([cmp.value('nokey', result, value)]))).result.succeeded, false, `${result} "${value}"`);
      }
    }
  });

  it('an operand of another kind than the target compares against zero / empty', async () => {
    const d = await setup();
    const versionVsMod: Compare = { key: b('k'), target: 'version', result: 'equal', operand: { case: 'modRevision', value: 2n } };
    assert.equal((await d.kv.txn(txn([versionVsMod]))).result.succeeded, false);
    assert.equal((await d.kv.txn(txn([{ ...versionVsMod, result: 'greater' }]))).result.succeeded, true);
    const valueUnset: Compare = { key: b('k'), target: 'value', result: 'greater', operand: { case: undefined } };
    assert.equal((await d.kv.txn(txn([valueUnset]))).result.succeeded, true);
    const leaseVsVersion: Compare = { key: b('k'), target: 'lease', result: 'equal', operand: { case: 'version', value: 5n } };
    assert.equal((await d.kv.txn(txn([leaseVsVersion]))).result.succeeded, false);
  });

  it('all compares must hold', async () => {
    const d = await setup();
    assert.equal((await d.kv.txn(txn([cmp.version('k', 'equal', 2), cmp.value('k', 'equal', 'm')]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.version('k', 'equal', 2), cmp.value('k', 'equal', 'x')]))).result.succeeded, false);
    assert.equal((await d.kv.txn(txn([cmp.value('k', 'equal', 'x'), cmp.version('k', 'equal', 2)]))).result.succeeded, false);
  });
});

describe('Txn compares over a range_end', () => {
  // r1 v1, r2 v2, r3 v3, all value "same".
  async function setup(): Promise<Domain> {
    const d = buildDomain();
    for (const [key, times] of [['r1', 1], ['r2', 2], ['r3', 3]] as const) {
      for (let i = 0; i < times; i++) await d.kv.put({ key: b(key), value: b('same') });
    }
    return d;
  }

  it('every key in the range must pass', async () => {
    const d = await setup();
    const end = b('r4');
    assert.equal((await d.kv.txn(txn([cmp.version('r1', 'greater', 0, end)]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.version('r1', 'greater', 1, end)]))).result.succeeded, false);
    assert.equal((await d.kv.txn(txn([cmp.version('r2', 'greater', 1, end)]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.version('r1', 'less', 3, end)]))).result.succeeded, false);
    assert.equal((await d.kv.txn(txn([cmp.value('r1', 'equal', 'same', end)]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.mod('r', 'less', 100, prefixEnd(b('r')))]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.create('r1', 'greater', 1, FROM_KEY)]))).result.succeeded, true);
  });

  it('a range with no keys compares like a missing key', async () => {
    const d = await setup();
    const end = b('t');
    assert.equal((await d.kv.txn(txn([cmp.mod('s', 'equal', 0, end)]))).result.succeeded, true);
    assert.equal((await d.kv.txn(txn([cmp.version('s', 'greater', 0, end)]))).result.succeeded, false);
    assert.equal((await d.kv.txn(txn([cmp.value('s', 'notEqual', 'x', end)]))).result.succeeded, false);
  });
});

describe('Txn Then / Else', () => {
  it('runs Then on success with Range, Put, DeleteRange and nested Txn responses', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') }); // 2
    await d.kv.put({ key: b('b'), value: b('1') }); // 3
    const r = await d.kv.txn(
      txn(
        [cmp.value('a', 'equal', '1')],
        [
          rangeOp('a'),
          putOp('c', 'new', { prevKv: true }),
          putOp('a', '2', { prevKv: true }),
          deleteOp('b', undefined, true),
          txnOp(txn([cmp.version('a', 'equal', 1)], [rangeOp('c')], [putOp('x', 'nested-else')])),
        ],
        [putOp('else', 'never')],
      ),
    );
    assert.equal(r.result.succeeded, true);
    assert.equal(r.revision, 4);
    const [range, putC, putA, del, nested] = r.result.responses;
    assert.equal(rangeResponse(range).revision, 3);
    assert.deepEqual(views(rangeResponse(range).result.kvs), [{ key: 'a', value: '1', create: 2, mod: 2, version: 1, lease: 0n }]);
    assert.equal(putResponse(putC).revision, 4);
    assert.equal(putResponse(putC).result.prevKv, undefined);
    assert.deepEqual(view(putResponse(putA).result.prevKv!), { key: 'a', value: '1', create: 2, mod: 2, version: 1, lease: 0n });
    assert.equal(deleteResponse(del).revision, 4);
    assert.equal(deleteResponse(del).result.deleted, 1);
    assert.deepEqual(views(deleteResponse(del).result.prevKvs), [{ key: 'b', value: '1', create: 3, mod: 3, version: 1, lease: 0n }]);
    const inner = txnResponse(nested);
    assert.equal(inner.succeeded, true);
    assert.deepEqual(views(rangeResponse(inner.responses[0]).result.kvs), [{ key: 'c', value: 'new', create: 4, mod: 4, version: 1, lease: 0n }]);
    assert.equal(get(d, 'else'), undefined);
    assert.equal(get(d, 'x'), undefined);
    assert.deepEqual(get(d, 'a'), { key: 'a', value: '2', create: 2, mod: 4, version: 2, lease: 0n });
    assert.equal(get(d, 'b'), undefined);
  });

  it('runs Else on failure', async () => {
    const d = buildDomain();
    const r = await d.kv.txn(txn([cmp.value('a', 'equal', '1')], [putOp('then', 'x')], [putOp('else', 'y'), rangeOp('else')]));
    assert.equal(r.result.succeeded, false);
    assert.equal(r.revision, 2);
    assert.equal(putResponse(r.result.responses[0]).revision, 2);
    assert.deepEqual(keysOf(rangeResponse(r.result.responses[1]).result.kvs), ['else']);
    assert.equal(get(d, 'then'), undefined);
  });

  it('a Range after a Put in the same txn sees the put, at the txn revision', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('k'), value: b('old') }); // 2
    const r = await d.kv.txn(txn([], [rangeOp('k'), putOp('k', 'new'), rangeOp('k'), rangeOp('k', { revision: 2 })]));
    const [before, , after, historical] = r.result.responses;
    assert.equal(rangeResponse(before).revision, 2);
    assert.equal(view(rangeResponse(before).result.kvs[0]!).value, 'old');
    assert.equal(rangeResponse(after).revision, 3);
    assert.deepEqual(views(rangeResponse(after).result.kvs), [{ key: 'k', value: 'new', create: 2, mod: 3, version: 2, lease: 0n }]);
    assert.equal(view(rangeResponse(historical).result.kvs[0]!).value, 'old');
  });

  it('a Range after a DeleteRange in the same txn does not see the deleted keys', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('p/1'), value: b('1') });
    await d.kv.put({ key: b('p/2'), value: b('2') });
    const r = await d.kv.txn(txn([], [deleteOp('p/1'), rangeOp('p/', { rangeEnd: prefixEnd(b('p/')) })]));
    const range = rangeResponse(r.result.responses[1]);
    assert.deepEqual(keysOf(range.result.kvs), ['p/2']);
    assert.equal(range.result.count, 1);
  });

  it('a Range with a limit inside a txn counts and cuts over the txn writes', async () => {
    const d = buildDomain();
    for (const key of ['a', 'b', 'c']) await d.kv.put({ key: b(key), value: b(key) }); // 2..4
    const r = await d.kv.txn(txn([], [putOp('d', 'd'), deleteOp('a'), putOp('a0', 'x'), rangeOp('a', { rangeEnd: FROM_KEY, limit: 2 })]));
    const range = rangeResponse(r.result.responses[3]);
    assert.deepEqual(keysOf(range.result.kvs), ['a0', 'b']);
    assert.equal(range.result.more, true);
    assert.equal(range.result.count, 4);
    const sorted = await d.kv.txn(txn([], [putOp('e', '0'), rangeOp('a', { rangeEnd: FROM_KEY, sortTarget: 'value', limit: 1 })]));
    // Order NONE with target VALUE: limit + 1 keys by key (a0, b), then sorted by value: b < x.
    assert.deepEqual(keysOf(rangeResponse(sorted.result.responses[1]).result.kvs), ['b']);
  });

  it('nested compares are evaluated against the state BEFORE the outer ops (etcd compareToPath)', async () => {
    const d = buildDomain();
    const r = await d.kv.txn(
      txn(
        [],
        [
          putOp('k', 'x'),
          txnOp(txn([cmp.value('k', 'equal', 'x')], [putOp('then', '1')], [putOp('else', '1'), rangeOp('k')])),
        ],
      ),
    );
    const inner = txnResponse(r.result.responses[1]);
    assert.equal(inner.succeeded, false, 'k did not exist before the txn');
    // Its ops still run after the outer put, so its Range sees k.
    assert.equal(view(rangeResponse(inner.responses[1]).result.kvs[0]!).value, 'x');
    assert.equal(get(d, 'then'), undefined);
    assert.equal(get(d, 'else')?.value, '1');
  });

  it('deeply nested txns take their paths independently', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('flag'), value: b('on') }); // 2
    const r = await d.kv.txn(
      txn(
        [cmp.value('flag', 'equal', 'on')],
        [txnOp(txn([cmp.value('flag', 'equal', 'off')], [putOp('a', 'then')], [txnOp(txn([cmp.mod('flag', 'equal', 2)], [putOp('b', 'deep')]))]))],
      ),
    );
    assert.equal(r.result.succeeded, true);
    const level1 = txnResponse(r.result.responses[0]);
    assert.equal(level1.succeeded, false);
    const level2 = txnResponse(level1.responses[0]);
    assert.equal(level2.succeeded, true);
    assert.equal(putResponse(level2.responses[0]).revision, 3);
    assert.equal(get(d, 'a'), undefined);
    assert.equal(get(d, 'b')?.value, 'deep');
  });

  it('an empty branch succeeds with no responses and no revision', async () => {
    const d = buildDomain();
    const r = await d.kv.txn(txn([], [], []));
    assert.deepEqual(r, { revision: 1, result: { succeeded: true, responses: [] } });
  });
});

describe('Txn revisions', () => {
  it('the whole txn takes one revision; each change its own sub revision', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('p/1'), value: b('1') }); // 2
    await d.kv.put({ key: b('p/2'), value: b('2') }); // 3
    const r = await d.kv.txn(txn([], [putOp('a', '1'), deleteOp('p/', prefixEnd(b('p/'))), putOp('b', '1')]));
    assert.equal(r.revision, 4);
    assert.equal(d.kv.currentRevision(), 4);
    const last = d.batches[d.batches.length - 1]!;
    assert.deepEqual(
      last.changes.map((c) => [c.kind, c.main, c.sub, String.fromCharCode(...c.kv.key)]),
      [
        ['put', 4, 0, 'a'],
        ['delete', 4, 1, 'p/1'],
        ['delete', 4, 2, 'p/2'],
        ['put', 4, 3, 'b'],
      ],
    );
    assert.equal(get(d, 'a')?.mod, 4);
    assert.equal(get(d, 'b')?.mod, 4);
  });

  it('read-only txns, failed compares without writes and deletes of nothing take no revision', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') }); // 2
    const shapes: TxnRequest[] = [
      txn([cmp.value('a', 'equal', '1')], [rangeOp('a')]),
      txn([cmp.value('a', 'equal', 'no')], [putOp('a', '2')]),
      txn([cmp.value('a', 'equal', 'no')], [putOp('a', '2')], [rangeOp('a')]),
      txn([], [deleteOp('missing')]),
      txn([], [deleteOp('m', 'n'), txnOp(txn([], [rangeOp('a')]))]),
      txn([], [txnOp(txn([cmp.value('a', 'equal', 'no')], [putOp('x', '1')]))]),
    ];
    for (const [i, shape] of shapes.entries()) {
      const r = await d.kv.txn(shape);
      assert.equal(r.revision, 2, `shape ${i}`);
      assert.equal(d.kv.currentRevision(), 2, `shape ${i}`);
    }
    assert.equal(d.batches.length, 1);
  });

  it('a DeleteRange that deletes nothing reports the begin revision, or the txn revision after a change', async () => {
    // etcd storeTxnWrite.DeleteRange: beginRev+1 when n != 0 || len(changes) > 0, else beginRev.
    const d = buildDomain();
    const nothing = await d.kv.txn(txn([], [deleteOp('x')]));
    assert.equal(deleteResponse(nothing.result.responses[0]).revision, 1);
    const afterPut = await d.kv.txn(txn([], [putOp('a', '1'), deleteOp('x')]));
    assert.equal(afterPut.revision, 2);
    assert.equal(deleteResponse(afterPut.result.responses[1]).revision, 2);
    assert.equal(deleteResponse(afterPut.result.responses[1]).result.deleted, 0);
  });

  it('the same key deleted twice: the second delete finds nothing', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('k'), value: b('1') }); // 2
    const r = await d.kv.txn(txn([], [deleteOp('k', undefined, true), deleteOp('k', undefined, true), deleteOp('j', FROM_KEY)]));
    assert.equal(r.revision, 3);
    assert.equal(deleteResponse(r.result.responses[0]).result.deleted, 1);
    assert.equal(deleteResponse(r.result.responses[1]).result.deleted, 0);
    assert.deepEqual(deleteResponse(r.result.responses[1]).result.prevKvs, []);
    assert.equal(deleteResponse(r.result.responses[2]).result.deleted, 0);
    assert.equal(d.batches[d.batches.length - 1]!.changes.length, 1);
  });
});

describe('Txn checks fail the whole txn before any change', () => {
  it('a Put with a lease that does not exist is LeaseNotFound, even after other ops', async () => {
    const d = buildDomain();
    await rejectsWith(d.kv.txn(txn([], [putOp('a', '1'), putOp('b', '1', { lease: 9n })])), LeaseNotFoundError);
    await rejectsWith(d.kv.txn(txn([], [txnOp(txn([], [putOp('b', '1', { lease: 9n })]))])), LeaseNotFoundError);
    assert.equal(d.kv.currentRevision(), 1);
    assert.equal(get(d, 'a'), undefined);
  });

  it('ignore_value / ignore_lease on a missing key is KeyNotFound', async () => {
    const d = buildDomain();
    await rejectsWith(d.kv.txn(txn([], [putOp('a', '1'), putOp('b', '', { ignoreValue: true })])), KeyNotFoundError);
    await rejectsWith(d.kv.txn(txn([], [putOp('b', 'v', { ignoreLease: true })])), KeyNotFoundError);
    assert.equal(d.kv.currentRevision(), 1);
  });

  it('a Range at a future or compacted revision fails the txn (etcd checkRange, on the pre-txn state)', async () => {
    const d = buildDomain();
    for (let i = 0; i < 4; i++) await d.kv.put({ key: b('a'), value: b(String(i)) }); // 2..5
    await d.kv.compact(4, false);
    await rejectsWith(d.kv.txn(txn([], [putOp('b', '1'), rangeOp('a', { revision: 6 })])), FutureRevisionError);
    await rejectsWith(d.kv.txn(txn([], [putOp('b', '1'), rangeOp('a', { revision: 3 })])), CompactedError);
    await rejectsWith(d.kv.txn(txn([], [rangeOp('a', { revision: 3 })])), CompactedError);
    await rejectsWith(d.kv.txn(txn([], [txnOp(txn([], [rangeOp('a', { revision: 9 })]))])), FutureRevisionError);
    assert.equal(d.kv.currentRevision(), 5);
    assert.equal(get(d, 'b'), undefined);
    const ok = await d.kv.txn(txn([], [putOp('b', '1'), rangeOp('a', { revision: 4 })]));
    assert.equal(view(rangeResponse(ok.result.responses[1]).result.kvs[0]!).value, '2');
  });

  it('only the chosen path is checked', async () => {
    const d = buildDomain();
    const r = await d.kv.txn(
      txn([cmp.mod('a', 'equal', 0)], [putOp('a', '1')], [putOp('b', '1', { lease: 9n }), rangeOp('a', { revision: 99 })]),
    );
    assert.equal(r.result.succeeded, true);
    const nested = await d.kv.txn(txn([], [txnOp(txn([cmp.mod('a', 'equal', 0)], [putOp('c', '', { ignoreValue: true })], [putOp('c', '1')]))]));
    assert.equal(txnResponse(nested.result.responses[0]).succeeded, false);
    assert.equal(get(d, 'c')?.value, '1');
  });

  it('validation errors: duplicate keys and too many ops', async () => {
    const d = buildDomain({ limits: { txnOpsMax: 2 } });
    await rejectsWith(d.kv.txn(txn([], [putOp('a', '1'), putOp('a', '2')])), DuplicateKeyError);
    await rejectsWith(d.kv.txn(txn([], [putOp('a', '1'), putOp('b', '2'), putOp('c', '3')])), TooManyOpsError);
    await rejectsWith(d.kv.txn(txn([], [putOp('a', '1'), txnOp(txn([], [putOp('b', '1')]))])), TooManyOpsError);
    assert.equal(d.kv.currentRevision(), 1);
  });
});

describe('Txn: a key changed twice in one revision (accepted by etcd)', () => {
  it('a from-key delete then a put of a deleted key: the key is re-created at the txn revision', async () => {
    // etcd lets this through checkIntervals (etcd-io/etcd#22445) and runs the ops in order:
    // storeTxnWrite.put finds the key tombstoned at this revision, so create = rev, version 1.
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') }); // 2
    await d.kv.put({ key: b('b'), value: b('1') }); // 3
    await d.kv.put({ key: b('b'), value: b('2') }); // 4
    const r = await d.kv.txn(txn([], [deleteOp('a', FROM_KEY, true), putOp('b', 'new', { prevKv: true }), rangeOp('a', { rangeEnd: FROM_KEY })]));
    assert.equal(r.revision, 5);
    assert.equal(deleteResponse(r.result.responses[0]).result.deleted, 2);
    assert.equal(putResponse(r.result.responses[1]).result.prevKv, undefined);
    assert.deepEqual(views(rangeResponse(r.result.responses[2]).result.kvs), [{ key: 'b', value: 'new', create: 5, mod: 5, version: 1, lease: 0n }]);
    assert.deepEqual(
      d.batches[d.batches.length - 1]!.changes.map((c) => [c.kind, c.sub, String.fromCharCode(...c.kv.key)]),
      [
        ['delete', 0, 'a'],
        ['delete', 1, 'b'],
        ['put', 2, 'b'],
      ],
    );
    assert.deepEqual(get(d, 'b'), { key: 'b', value: 'new', create: 5, mod: 5, version: 1, lease: 0n });
    assert.equal(get(d, 'a'), undefined);
    assert.equal(d.kv.range({ key: b('a'), rangeEnd: FROM_KEY, countOnly: true }).result.count, 1);
    assert.equal(d.kv.range({ key: b('b'), revision: 4 }).result.kvs[0]?.version, 2);
    await d.kv.put({ key: b('b'), value: b('next') }); // 6
    assert.deepEqual(get(d, 'b'), { key: 'b', value: 'next', create: 5, mod: 6, version: 2, lease: 0n });
  });

  it('a put then a from-key delete: the key ends deleted', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') }); // 2
    const r = await d.kv.txn(txn([], [putOp('b', 'new'), deleteOp('a', FROM_KEY, true)]));
    assert.equal(r.revision, 3);
    assert.deepEqual(keysOf(deleteResponse(r.result.responses[1]).result.prevKvs), ['a', 'b']);
    assert.equal(get(d, 'a'), undefined);
    assert.equal(get(d, 'b'), undefined);
    assert.equal(d.kv.range({ key: b('a'), rangeEnd: FROM_KEY }).result.count, 0);
    await d.kv.put({ key: b('b'), value: b('again') }); // 4
    assert.deepEqual(get(d, 'b'), { key: 'b', value: 'again', create: 4, mod: 4, version: 1, lease: 0n });
  });

  it('a put in one nested txn and a delete in a later one (etcd-io/etcd#16380)', async () => {
    const d = buildDomain();
    const r = await d.kv.txn(txn([], [txnOp(txn([], [putOp('k', '1')])), txnOp(txn([], [deleteOp('k')]))]));
    assert.equal(r.revision, 2);
    assert.equal(deleteResponse(txnResponse(r.result.responses[1]).responses[0]).result.deleted, 1);
    assert.equal(get(d, 'k'), undefined);
    assert.equal(d.kv.currentRevision(), 2);
  });

  it('the state survives a compaction at that revision', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') }); // 2
    await d.kv.put({ key: b('b'), value: b('1') }); // 3
    await d.kv.txn(txn([], [deleteOp('a', FROM_KEY), putOp('b', 'new')])); // 4
    await d.kv.compact(4, true);
    assert.deepEqual(views(d.kv.range({ key: b('a'), rangeEnd: FROM_KEY, revision: 4 }).result.kvs), [
      { key: 'b', value: 'new', create: 4, mod: 4, version: 1, lease: 0n },
    ]);
  });
});

describe('Kubernetes txn shapes (k8s.io/apiserver storage/etcd3)', () => {
  it('create: If mod(k) == 0 Then Put', async () => {
    const d = buildDomain();
    const create = (value: string) => d.kv.txn(txn([cmp.mod('/registry/pods/p', 'equal', 0)], [putOp('/registry/pods/p', value)]));
    const first = await create('v1');
    assert.deepEqual(first.result.succeeded, true);
    assert.equal(first.revision, 2);
    assert.equal(putResponse(first.result.responses[0]).revision, 2);
    const again = await create('v2');
    assert.deepEqual(again, { revision: 2, result: { succeeded: false, responses: [] } });
    assert.equal(get(d, '/registry/pods/p')?.value, 'v1');
  });

  it('update: If mod(k) == rev Then Put Else Range (returns the current kv)', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('k'), value: b('v1') }); // 2
    const update = (rev: number, value: string) => d.kv.txn(txn([cmp.mod('k', 'equal', rev)], [putOp('k', value)], [rangeOp('k')]));
    const ok = await update(2, 'v2');
    assert.equal(ok.result.succeeded, true);
    assert.equal(ok.revision, 3);
    const stale = await update(2, 'v3');
    assert.equal(stale.result.succeeded, false);
    assert.equal(stale.revision, 3);
    const current = rangeResponse(stale.result.responses[0]);
    assert.equal(current.revision, 3);
    assert.deepEqual(views(current.result.kvs), [{ key: 'k', value: 'v2', create: 2, mod: 3, version: 2, lease: 0n }]);
    assert.equal(d.kv.currentRevision(), 3);
  });

  it('delete: If mod(k) == rev Then Delete Else Range', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('k'), value: b('v1') }); // 2
    await d.kv.put({ key: b('k'), value: b('v2') }); // 3
    const del = (rev: number) => d.kv.txn(txn([cmp.mod('k', 'equal', rev)], [deleteOp('k', undefined, true)], [rangeOp('k')]));
    const stale = await del(2);
    assert.equal(stale.result.succeeded, false);
    assert.equal(stale.revision, 3);
    assert.deepEqual(views(rangeResponse(stale.result.responses[0]).result.kvs), [{ key: 'k', value: 'v2', create: 2, mod: 3, version: 2, lease: 0n }]);
    const ok = await del(3);
    assert.equal(ok.result.succeeded, true);
    assert.equal(ok.revision, 4);
    assert.equal(deleteResponse(ok.result.responses[0]).result.deleted, 1);
    assert.equal(view(deleteResponse(ok.result.responses[0]).result.prevKvs[0]!).value, 'v2');
    const gone = await del(3);
    assert.equal(gone.result.succeeded, false);
    assert.deepEqual(rangeResponse(gone.result.responses[0]).result.kvs, []);
    assert.equal(gone.revision, 4);
  });

  it('compaction: If version(compact_rev_key) == t Then Put Else Range', async () => {
    const d = buildDomain();
    const key = 'compact_rev_key';
    const compactTxn = (t: number, rev: number) => d.kv.txn(txn([cmp.version(key, 'equal', t)], [putOp(key, String(rev))], [rangeOp(key)]));
    const first = await compactTxn(0, 1);
    assert.equal(first.result.succeeded, true);
    assert.equal(get(d, key)?.version, 1);
    const second = await compactTxn(1, 2);
    assert.equal(second.result.succeeded, true);
    assert.equal(get(d, key)?.version, 2);
    const lost = await compactTxn(1, 3);
    assert.equal(lost.result.succeeded, false);
    assert.equal(lost.revision, 3);
    const current = rangeResponse(lost.result.responses[0]).result.kvs[0]!;
    assert.equal(current.version, 2);
    assert.equal(view(current).value, '2');
  });
});

describe('isTxnReadOnly / evaluateReadOnlyTxn', () => {
  it('a txn is read-only when both branches (and nested txns) only range', () => {
    assert.equal(isTxnReadOnly(txn([], [rangeOp('a')], [rangeOp('b'), txnOp(txn([], [rangeOp('c')]))])), true);
    assert.equal(isTxnReadOnly(txn([], [rangeOp('a')], [deleteOp('b')])), false);
    assert.equal(isTxnReadOnly(txn([], [txnOp(txn([], [], [putOp('c', '1')]))])), false);
  });

  it('reads at the current revision and reports it in each range response', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('a'), value: b('1') });
    await d.kv.put({ key: b('a'), value: b('2') });
    const r = evaluateReadOnlyTxn(d.backend, txn([cmp.version('a', 'equal', 2)], [rangeOp('a'), rangeOp('a', { revision: 2 }), txnOp(txn([], [rangeOp('a')]))]));
    assert.equal(r.succeeded, true);
    assert.equal(rangeResponse(r.responses[0]).revision, 3);
    assert.equal(view(rangeResponse(r.responses[0]).result.kvs[0]!).value, '2');
    assert.equal(rangeResponse(r.responses[1]).revision, 3);
    assert.equal(view(rangeResponse(r.responses[1]).result.kvs[0]!).value, '1');
    assert.equal(rangeResponse(txnResponse(r.responses[2]).responses[0]).revision, 3);
  });
});
