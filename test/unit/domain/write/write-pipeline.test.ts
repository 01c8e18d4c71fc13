import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { AbortedError, ClosedError, KeyNotFoundError, TooManyRequestsError } from '../../../../src/domain/errors.js';
import type { CommittedBatch } from '../../../../src/domain/mvcc/types.js';
import type { WriteTxn } from '../../../../src/domain/mvcc/write-txn.js';
import { WritePipeline } from '../../../../src/domain/write/write-pipeline.js';
import type { AppendHints, BatchLog } from '../../../../src/ports/batch-log.js';
import { VirtualClock } from '../../../../src/adapters/memory/virtual-clock.js';
import { b, buildDomain, cmp, putOp, rejectsWith, TestLogger, tick, txn } from '../../../support/domain-fixtures.js';

interface Harness {
  backend: InMemoryMvccBackend;
  pipeline: WritePipeline;
  logger: TestLogger;
  batches: CommittedBatch[];
}

function harness(options: { queueRequestsMax?: number; batchRequestsMax?: number; stages?: BatchLog[] } = {}): Harness {
  const backend = new InMemoryMvccBackend();
  const logger = new TestLogger();
  const pipeline = new WritePipeline(
    backend,
    options.stages ?? [],
    { queueRequestsMax: options.queueRequestsMax ?? 100, batchRequestsMax: options.batchRequestsMax ?? 100, requestTimeoutMs: 7_000 },
    new VirtualClock(),
    logger,
  );
  const batches: CommittedBatch[] = [];
  pipeline.onCommitted((batch) => batches.push(batch));
  return { backend, pipeline, logger, batches };
}

const put = (key: string, value = 'v') => (tx: WriteTxn) => {
  tx.put(b(key), b(value), 0n);
  return tx.writeRevision;
};

/** A stage whose appends wait until the test releases them. */
class GateStage implements BatchLog {
  readonly seen: CommittedBatch[] = [];
  readonly hints: (AppendHints | undefined)[] = [];
  private gates: (() => void)[] = [];
  append(batch: CommittedBatch, hints?: AppendHints): Promise<void> {
    this.seen.push(batch);
    this.hints.push(hints);
    return new Promise((resolve) => this.gates.push(resolve));
  }
  release(): void {
    for (const open of this.gates.splice(0)) open();
  }
}

describe('WritePipeline batching', () => {
  it('requests submitted in the same tick form one batch with contiguous revisions', async () => {
    const h = harness();
    const revisions = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => h.pipeline.submit(put(k))));
    assert.deepEqual(revisions, [2, 3, 4, 5, 6]);
    assert.equal(h.backend.appliedBatches, 1);
    assert.equal(h.batches.length, 1);
    const batch = h.batches[0]!;
    assert.equal(batch.fromRevision, 1);
    assert.equal(batch.toRevision, 6);
    assert.deepEqual(batch.changes.map((c) => [c.main, c.sub]), [[2, 0], [3, 0], [4, 0], [5, 0], [6, 0]]);
    assert.equal(h.backend.currentRevision(), 6);
  });

  it('batchRequestsMax splits the queue into several batches, in order', async () => {
    const h = harness({ batchRequestsMax: 2 });
    const revisions = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => h.pipeline.submit(put(k))));
    assert.deepEqual(revisions, [2, 3, 4, 5, 6]);
    assert.equal(h.backend.appliedBatches, 3);
    assert.deepEqual(h.batches.map((x) => [x.fromRevision, x.toRevision]), [[1, 3], [3, 5], [5, 6]]);
  });

  it('requests arriving while a batch is in its stages form the next batch', async () => {
    const gate = new GateStage();
    const h = harness({ stages: [gate] });
    const first = h.pipeline.submit(put('a'));
    await tick();
    assert.equal(gate.seen.length, 1);
    const later = ['b', 'c', 'd'].map((k) => h.pipeline.submit(put(k)));
    await tick();
    assert.equal(gate.seen.length, 1, 'the next batch waits for the one in flight');
    gate.release();
    assert.equal(await first, 2);
    await tick();
    gate.release();
    assert.deepEqual(await Promise.all(later), [3, 4, 5]);
    assert.equal(h.backend.appliedBatches, 2);
    assert.deepEqual(gate.seen.map((x) => [x.fromRevision, x.toRevision]), [[1, 2], [2, 5]]);
  });

  it('tells the stages a batch is alone only when it is one request with nothing queued behind it', async () => {
    const gate = new GateStage();
    const h = harness({ stages: [gate], batchRequestsMax: 2 });
    const lone = h.pipeline.submit(put('a'));
    await tick();
    gate.release();
    await lone;
    // Three at once: a batch of two (not alone), then one with nothing behind it (alone).
    const three = ['b', 'c', 'd'].map((k) => h.pipeline.submit(put(k)));
    await tick();
    gate.release();
    await tick();
    gate.release();
    await Promise.all(three);
    assert.deepEqual(gate.hints.map((x) => x?.alone), [true, false, true]);

    // One request per batch, with another queued behind it: not alone; the last one is.
    const single = new GateStage();
    const one = harness({ stages: [single], batchRequestsMax: 1 });
    const two = ['a', 'b'].map((k) => one.pipeline.submit(put(k)));
    await tick();
    single.release();
    await tick();
    single.release();
    await Promise.all(two);
    assert.deepEqual(single.hints.map((x) => x?.alone), [false, true]);
  });

  it('a later request in a batch sees the earlier ones: the second create of a key fails its compare', async () => {
    const d = buildDomain();
    const create = (value: string) => d.kv.txn(txn([cmp.mod('k', 'equal', 0)], [putOp('k', value)]));
    const [first, second] = await Promise.all([create('one'), create('two')]);
    assert.equal((d.backend as InMemoryMvccBackend).appliedBatches, 1);
    assert.deepEqual(first, { revision: 2, result: { succeeded: true, responses: [{ kind: 'put', revision: 2, result: { prevKv: undefined } }] } });
    assert.deepEqual(second, { revision: 2, result: { succeeded: false, responses: [] } });
    assert.equal(d.kv.range({ key: b('k') }).result.kvs[0]?.version, 1);
  });

  it('reads inside a batch see the uncommitted writes ahead of them', async () => {
    const h = harness();
    const [, seen] = await Promise.all([
      h.pipeline.submit(put('k', 'first')),
      h.pipeline.submit((tx) => ({ value: tx.view.get(b('k'))?.value, current: tx.currentRevision() })),
    ]);
    assert.deepEqual(seen, { value: b('first'), current: 2 });
  });

  it('a typed error in one request does not affect the others', async () => {
    const h = harness();
    const results = await Promise.allSettled([
      h.pipeline.submit(put('a')),
      h.pipeline.submit(() => {
        throw new KeyNotFoundError();
      }),
      h.pipeline.submit(put('c')),
    ]);
    assert.equal(results[0].status === 'fulfilled' && results[0].value, 2);
    assert.ok(results[1].status === 'rejected' && results[1].reason instanceof KeyNotFoundError);
    assert.equal(results[2].status === 'fulfilled' && results[2].value, 3);
    assert.equal(h.backend.appliedBatches, 1);
    assert.equal(h.backend.currentRevision(), 3);
  });

  it('a batch that changes nothing is not applied nor published, and takes no revision', async () => {
    const h = harness();
    const results = await Promise.all([h.pipeline.submit((tx) => tx.currentRevision()), h.pipeline.submit((tx) => tx.beginRevision)]);
    assert.deepEqual(results, [1, 1]);
    assert.equal(h.backend.appliedBatches, 0);
    assert.equal(h.batches.length, 0);
    assert.equal(h.backend.currentRevision(), 1);
  });
});

describe('WritePipeline limits and cancellation', () => {
  it('refuses requests beyond queueRequestsMax with TooManyRequests', async () => {
    const h = harness({ queueRequestsMax: 2 });
    const a = h.pipeline.submit(put('a'));
    const c = h.pipeline.submit(put('b'));
    await rejectsWith(h.pipeline.submit(put('c')), TooManyRequestsError);
    assert.deepEqual(await Promise.all([a, c]), [2, 3]);
    assert.equal(await h.pipeline.submit(put('d')), 4, 'accepts again once the queue drained');
  });

  it('an already aborted signal is rejected with Aborted and never queued', async () => {
    const h = harness({ queueRequestsMax: 1 });
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(h.pipeline.submit(put('a'), controller.signal), AbortedError);
    assert.equal(await h.pipeline.submit(put('b')), 2);
    assert.equal(h.backend.get(b('a')), undefined);
  });

  it('a request aborted while queued is rejected with Aborted; the rest of the batch goes on', async () => {
    const h = harness();
    const controller = new AbortController();
    const a = h.pipeline.submit(put('a'));
    const aborted = h.pipeline.submit(put('x'), controller.signal);
    const c = h.pipeline.submit(put('c'));
    controller.abort();
    await rejectsWith(aborted, AbortedError);
    assert.deepEqual(await Promise.all([a, c]), [2, 3]);
    assert.equal(h.backend.get(b('x')), undefined);
  });
});

describe('WritePipeline failures', () => {
  it('passes each batch through every stage, in order, before applying it', async () => {
    const calls: string[] = [];
    const h0 = { backend: undefined as InMemoryMvccBackend | undefined };
    const stage = (name: string): BatchLog => ({
      append: async (batch) => {
        calls.push(`${name}:${batch.fromRevision}->${batch.toRevision}@${h0.backend?.currentRevision()}`);
      },
    });
    const h = harness({ stages: [stage('wal'), stage('object-store')] });
    h0.backend = h.backend;
    await Promise.all([h.pipeline.submit(put('a')), h.pipeline.submit(put('b'))]);
    assert.deepEqual(calls, ['wal:1->3@1', 'object-store:1->3@1']);
  });

  it('a throwing stage fails every request of the batch and closes the pipeline', async () => {
    const gate = new GateStage();
    let fail = false;
    const failing: BatchLog = {
      append: async () => {
        if (fail) throw new Error('disk on fire');
      },
    };
    const h = harness({ stages: [failing, gate] });
    const ok = h.pipeline.submit(put('ok'));
    await tick();
    gate.release();
    assert.equal(await ok, 2);

    fail = true;
    const a = h.pipeline.submit(put('a'));
    const c = h.pipeline.submit(put('c'));
    const errA = await rejectsWith(a, ClosedError);
    await rejectsWith(c, ClosedError);
    assert.match(errA.message, /disk on fire/);
    assert.equal(h.backend.currentRevision(), 2, 'the failed batch is not applied');
    assert.equal(h.backend.appliedBatches, 1);
    assert.equal(h.batches.length, 1, 'nor published');
    assert.ok(h.logger.entries.some((e) => e.level === 'error'));
    const later = await rejectsWith(h.pipeline.submit(put('later')), ClosedError);
    assert.match(later.message, /disk on fire/);
  });

  it('requests queued behind a failing batch are rejected too', async () => {
    let reject: ((e: Error) => void) | undefined;
    const stage: BatchLog = { append: () => new Promise((_, r) => (reject = r)) };
    const h = harness({ stages: [stage] });
    const first = h.pipeline.submit(put('a'));
    await tick();
    const queued = h.pipeline.submit(put('b'));
    reject!(new Error('upload failed'));
    await rejectsWith(first, ClosedError);
    await rejectsWith(queued, ClosedError);
    assert.equal(h.backend.currentRevision(), 1);
  });

  it('a failing apply fails the batch and closes the pipeline', async () => {
    const h = harness();
    h.backend.apply = () => {
      throw new Error('SQLITE_FULL');
    };
    await rejectsWith(h.pipeline.submit(put('a')), ClosedError);
    await rejectsWith(h.pipeline.submit(put('b')), ClosedError);
    assert.equal(h.batches.length, 0);
  });

  it('an unexpected (non-T4) error in a request is a bug: its whole batch fails, nothing is written, writes go on', async () => {
    const h = harness();
    const results = await Promise.allSettled([
      h.pipeline.submit(put('a')),
      h.pipeline.submit(() => {
        throw new TypeError('undefined is not a function');
      }),
      h.pipeline.submit(put('c')),
    ]);
    for (const r of results) assert.ok(r.status === 'rejected' && r.reason instanceof TypeError);
    assert.equal(h.backend.currentRevision(), 1, 'nothing of the failed batch was applied');
    assert.ok(h.logger.entries.some((e) => e.level === 'error'), 'the bug is logged');
    assert.equal(await h.pipeline.submit(put('d')), 2, 'the next batch is written');
  });

  it('close() rejects queued requests, lets the batch in flight finish and refuses new ones', async () => {
    const gate = new GateStage();
    const h = harness({ stages: [gate] });
    const inFlight = h.pipeline.submit(put('a'));
    await tick();
    const queued = h.pipeline.submit(put('b'));
    const closing = h.pipeline.close();
    await rejectsWith(queued, ClosedError);
    gate.release();
    await closing;
    assert.equal(await inFlight, 2);
    await rejectsWith(h.pipeline.submit(put('c')), ClosedError);
    assert.equal(h.backend.currentRevision(), 2);
  });
});
