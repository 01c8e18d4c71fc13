import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeaderFactory } from '../../../../src/adapters/grpc/header.js';
import { encodeRangeRecordsResponse, encodeRangeResponse } from '../../../../src/adapters/grpc/kv-response-encoder.js';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { executeRange, executeRangeRecords } from '../../../../src/domain/mvcc/range.js';
import type { RangeRequest } from '../../../../src/domain/mvcc/requests.js';
import { MvccModel, applyWorkload } from '../../../contract/mvcc-backend.contract.js';
import { b } from '../../../support/domain-fixtures.js';

const u = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);

/**
 * A Range answered from SQLite's concatenated records must be byte for byte the response the
 * key-by-key path gives, for every kind of range and limit; requests that need more than records
 * (older revisions, filters, keys only, count only, other sorts) are left to the key-by-key path.
 */
describe('Range from stored records (currentRecords)', () => {
  const headers = new HeaderFactory(5n, 6n, () => 1n);

  function loaded(): SqliteMvccBackend {
    const backend = new SqliteMvccBackend({ path: ':memory:', synchronous: 'normal' });
    applyWorkload(backend, new MvccModel(), 11, 80);
    return backend;
  }

  it('answers like the key-by-key path: single keys, prefixes, from-key, empty ranges, limits', () => {
    const backend = loaded();
    try {
      const starts = [u(0x00), b('a'), b('ab'), b('b'), b('c/'), b('c/2'), b('zz-missing'), u(0xff)];
      const ends: (Uint8Array | undefined)[] = [undefined, u(0), b('b'), b('c0'), b('d'), u(0xff, 0xff)];
      let compared = 0;
      for (const key of starts) {
        for (const rangeEnd of ends) {
          for (const limit of [0, 1, 2, 3, 7, 1000]) {
            for (const sortOrder of ['none', 'ascend'] as const) {
              const req: RangeRequest = { key, ...(rangeEnd === undefined ? {} : { rangeEnd }), limit, sortOrder, sortTarget: 'key' };
              const fast = executeRangeRecords(backend, req);
              assert.ok(fast !== undefined, 'a current-revision range qualifies');
              const slow = executeRange(backend, req);
              assert.equal(fast.n, slow.kvs.length);
              assert.deepEqual(encodeRangeRecordsResponse(fast, headers.encode(9)), encodeRangeResponse(slow, headers.encode(9)));
              compared++;
            }
          }
        }
      }
      assert.equal(compared, 8 * 6 * 6 * 2);
    } finally {
      backend.close();
    }
  });

  it('leaves requests that need more than records to the key-by-key path', () => {
    const backend = loaded();
    try {
      const base: RangeRequest = { key: u(0), rangeEnd: u(0) };
      const current = backend.currentRevision();
      for (const req of [
        { ...base, revision: current - 1 },
        { ...base, keysOnly: true },
        { ...base, countOnly: true },
        { ...base, minModRevision: 2 },
        { ...base, maxCreateRevision: 5 },
        { ...base, sortOrder: 'descend' as const },
        { ...base, sortOrder: 'ascend' as const, sortTarget: 'value' as const },
        { ...base, sortTarget: 'version' as const },
      ]) {
        assert.equal(executeRangeRecords(backend, req), undefined, JSON.stringify({ ...req, key: undefined, rangeEnd: undefined }));
      }
      assert.ok(executeRangeRecords(backend, { ...base, revision: current }) !== undefined, 'the current revision asked by number qualifies');
    } finally {
      backend.close();
    }
  });

  it('a store without records (the in-memory one) answers key by key', () => {
    assert.equal(executeRangeRecords(new InMemoryMvccBackend(), { key: u(0), rangeEnd: u(0) }), undefined);
  });

  it('pages of large records: a 70 KB value and 300 keys under one prefix', () => {
    const backend = new SqliteMvccBackend({ path: ':memory:', synchronous: 'normal' });
    try {
      const model = new MvccModel();
      backend.apply(model.batch([Array.from({ length: 300 }, (_, i) => ({ op: 'put' as const, key: b(`p/${String(i).padStart(3, '0')}`), value: new Uint8Array(i === 7 ? 70_000 : i).fill(i) }))]));
      for (const limit of [0, 1, 8, 100, 299, 300, 301]) {
        const req: RangeRequest = { key: b('p/'), rangeEnd: b('p0'), limit };
        const fast = executeRangeRecords(backend, req)!;
        const slow = executeRange(backend, req);
        assert.equal(fast.more, slow.more);
        assert.equal(fast.count, 300);
        assert.deepEqual(encodeRangeRecordsResponse(fast, headers.encode(3)), encodeRangeResponse(slow, headers.encode(3)));
      }
    } finally {
      backend.close();
    }
  });
});
