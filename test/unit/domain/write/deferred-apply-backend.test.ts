import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { VirtualClock } from '../../../../src/adapters/memory/virtual-clock.js';
import { ClosedError } from '../../../../src/domain/errors.js';
import { keyRange } from '../../../../src/domain/mvcc/key-range.js';
import type { CommittedBatch } from '../../../../src/domain/mvcc/types.js';
import { DeferredApplyBackend } from '../../../../src/domain/write/deferred-apply-backend.js';
import { WritePipeline } from '../../../../src/domain/write/write-pipeline.js';
import { KvService } from '../../../../src/domain/mvcc/kv-service.js';
import { Compactor } from '../../../../src/domain/mvcc/compactor.js';
import { DEFAULT_LIMITS } from '../../../../src/domain/limits.js';
import type { BatchLog } from '../../../../src/ports/batch-log.js';
import { b, ManualScheduler, rejectsWith, s, TestLeases, TestLogger, throwsWith } from '../../../support/domain-fixtures.js';

const ALL = keyRange(new Uint8Array(0), new Uint8Array([0]));

/** An in-memory store that counts applies and can be told to fail the next one. */
class CountingStore extends InMemoryMvccBackend {
  applies = 0;
  failNext = false;
  closed = false;
  override apply(batch: CommittedBatch): void {
    if (this.failNext) throw new Error('disk I/O error');
    this.applies++;
    super.apply(batch);
  }
  override close(): void {
    this.closed = true;
    super.close();
  }
}

function putBatch(fromRevision: number, key: string, value: string): CommittedBatch {
  const main = fromRevision + 1;
  return {
    fromRevision,
    toRevision: main,
    changes: [{ kind: 'put', main, sub: 0, prev: undefined, kv: { key: b(key), value: b(value), lease: 0n, modRevision: main, createRevision: main, version: 1 } }],
    compactRevision: undefined,
  };
}

function fixture() {
  const store = new CountingStore();
  const scheduler = new ManualScheduler();
  const logger = new TestLogger();
  const backend = new DeferredApplyBackend(store, scheduler, logger);
  return { store, scheduler, logger, backend };
}

describe('DeferredApplyBackend', () => {
  it('queues a batch and applies it on the next scheduler turn', async () => {
    const { store, scheduler, backend } = fixture();
    backend.apply(putBatch(1, 'a', '1'));
    backend.apply(putBatch(2, 'b', '2'));
    assert.equal(store.applies, 0);
    assert.equal(backend.queuedBatches(), 2);
    assert.equal(scheduler.pending, 1, 'one turn scheduled for both batches');
    scheduler.release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.applies, 2);
    assert.equal(backend.queuedBatches(), 0);
    assert.equal(store.currentRevision(), 3);
  });

  it('every read applies what is queued first, in order, exactly once', () => {
    const reads: [string, (backend: DeferredApplyBackend) => unknown][] = [
      ['currentRevision', (x) => x.currentRevision()],
      ['compactRevision', (x) => x.compactRevision()],
      ['range', (x) => x.range(ALL, 2, 0)],
      ['count', (x) => x.count(ALL, 2)],
      ['get', (x) => x.get(b('a'))],
      ['currentRecords', (x) => x.currentRecords(ALL, 0)],
      ['changesBetween', (x) => x.changesBetween(1, 2, 10)],
      ['authState', (x) => x.authState()],
      ['leases', (x) => x.leases()],
      ['keysWithLease', (x) => x.keysWithLease(1n)],
      ['purgeStep', (x) => x.purgeStep(10)],
      ['size', (x) => x.size()],
    ];
    for (const [name, read] of reads) {
      const { store, backend } = fixture();
      backend.apply(putBatch(1, 'a', '1'));
      read(backend);
      assert.equal(store.applies, 1, `${name} applied the queued batch`);
      assert.equal(store.currentRevision(), 2, name);
      read(backend);
      assert.equal(store.applies, 1, `${name} applied it once`);
    }
    const { backend } = fixture();
    backend.apply(putBatch(1, 'a', '1'));
    assert.equal(s(backend.get(b('a'))?.value ?? b('')), '1', 'the read sees the queued write');
  });

  it('a failed apply is logged once and then refuses every read and write until a restart', () => {
    const { store, logger, backend } = fixture();
    store.failNext = true;
    backend.apply(putBatch(1, 'a', '1'));
    const error = throwsWith(() => backend.currentRevision(), ClosedError);
    assert.match(error.message, /applying a written batch failed \(disk I\/O error\); restart to replay the WAL/);
    store.failNext = false;
    throwsWith(() => backend.range(ALL, 1, 0), ClosedError);
    throwsWith(() => backend.apply(putBatch(1, 'b', '2')), ClosedError);
    assert.equal(store.applies, 0, 'nothing applied after the failure');
    assert.equal(logger.entries.filter((e) => e.level === 'error').length, 1);
    backend.close();
    assert.equal(store.closed, true, 'close still closes the store');
  });

  it('close applies what is queued before closing the store', () => {
    const { store, backend } = fixture();
    backend.apply(putBatch(1, 'a', '1'));
    backend.close();
    assert.equal(store.applies, 1);
    assert.equal(store.closed, true);
  });
});

describe('WritePipeline over DeferredApplyBackend', () => {
  function domain(stages: BatchLog[] = []) {
    const { store, scheduler, logger, backend } = fixture();
    const pipeline = new WritePipeline(backend, stages, { queueRequestsMax: 100, batchRequestsMax: 100, requestTimeoutMs: 7_000 }, new VirtualClock(), logger);
    const kv = new KvService(backend, pipeline, new Compactor(backend, scheduler, 100, logger), new TestLeases(), DEFAULT_LIMITS);
    return { store, scheduler, logger, backend, pipeline, kv };
  }

  it('answers a put before the store applies it, and a read right after the answer sees the put', async () => {
    const { store, kv } = domain();
    const put = await kv.put({ key: b('k'), value: b('v1') });
    assert.equal(put.revision, 2);
    assert.equal(store.applies, 0, 'the caller was answered before the store transaction');
    const read = kv.range({ key: b('k') });
    assert.equal(read.revision, 2);
    assert.deepEqual(read.result.kvs.map((kv) => s(kv.value)), ['v1']);
    assert.equal(store.applies, 1);
  });

  it('the next batch is evaluated against the applied state (compares see the previous write)', async () => {
    const { store, kv } = domain();
    await kv.put({ key: b('k'), value: b('v1') });
    const second = await kv.put({ key: b('k'), value: b('v2'), prevKv: true });
    assert.equal(s(second.result.prevKv?.value ?? b('')), 'v1');
    assert.equal(second.revision, 3);
    assert.equal(store.applies, 1, 'the first batch was applied when the second read the store');
  });

  it('after a failed apply, writes are refused with the failure instead of hanging', async () => {
    const { store, kv, logger } = domain();
    await kv.put({ key: b('k'), value: b('v1') });
    store.failNext = true;
    const refused = await rejectsWith(kv.put({ key: b('k'), value: b('v2') }), ClosedError);
    assert.match(refused.message, /disk I\/O error/);
    await rejectsWith(kv.put({ key: b('x'), value: b('y') }), ClosedError);
    assert.ok(logger.entries.some((e) => e.level === 'error' && /write pipeline failed/.test(e.message)));
  });
});
