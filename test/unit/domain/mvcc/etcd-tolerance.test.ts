/**
 * Values etcd 3.4/3.5 do not define but do not refuse either (differential suite against etcd
 * 3.4.23; etcd 3.5.13 api/v3rpc/key.go checkRangeRequest only checks for an empty key):
 *  - an unknown sort order reads every key and sorts none, so the limit applies in key order;
 *  - an unknown compare target compares as equal; an unknown compare result makes the compare true.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { b, buildDomain, keysOf, putOp, txn } from '../../../support/domain-fixtures.js';

describe('etcd tolerance of undefined enum values', () => {
  it('an unknown sort order returns keys in key order with limit and more', async () => {
    const d = buildDomain();
    for (const k of ['c', 'a', 'b']) await d.kv.put({ key: b(k), value: b(k) });
    const { result } = d.kv.range({ key: b('a'), rangeEnd: b('z'), limit: 2, sortOrder: 'unknown', sortTarget: 'mod' });
    assert.deepEqual(keysOf(result.kvs), ['a', 'b']);
    assert.equal(result.more, true);
    assert.equal(result.count, 3);
  });

  it('an unknown compare result is true and an unknown target compares as equal', async () => {
    const d = buildDomain();
    await d.kv.put({ key: b('k'), value: b('v') });
    const unknownResult = await d.kv.txn(
      txn([{ key: b('k'), target: 'version', result: 'unknown', operand: { case: 'version', value: 99n } }], [putOp('r', '1')]),
    );
    assert.equal(unknownResult.result.succeeded, true);
    const unknownTargetEqual = await d.kv.txn(
      txn([{ key: b('k'), target: 'unknown', result: 'equal', operand: { case: 'version', value: 5n } }], [putOp('t', '1')]),
    );
    assert.equal(unknownTargetEqual.result.succeeded, true);
    const unknownTargetGreater = await d.kv.txn(
      txn([{ key: b('k'), target: 'unknown', result: 'greater', operand: { case: 'version', value: 5n } }], [putOp('g', '1')]),
    );
    assert.equal(unknownTargetGreater.result.succeeded, false);
  });
});
