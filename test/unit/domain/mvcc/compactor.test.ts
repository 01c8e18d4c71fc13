import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { Compactor } from '../../../../src/domain/mvcc/compactor.js';
import { b, ManualScheduler, TestLogger, tick } from '../../../support/domain-fixtures.js';

/** Counts purge steps; each compaction needs `stepsPerPurge` calls before it reports done. */
class SteppingBackend extends InMemoryMvccBackend {
  stepsPerPurge = 3;
  steps: number[] = [];
  private left = -1;
  private target = -1;
  override purgeStep(rowsMax: number): boolean {
    this.steps.push(rowsMax);
    if (this.target !== this.compactRevision()) {
      this.target = this.compactRevision();
      this.left = this.stepsPerPurge;
    }
    if (this.left > 0) {
      this.left--;
      return false;
    }
    return super.purgeStep(rowsMax);
  }
  putKey(key: string, value: string): void {
    const main = this.currentRevision() + 1;
    const prev = this.get(b(key));
    const kv = { key: b(key), value: b(value), lease: 0n, modRevision: main, createRevision: prev?.createRevision ?? main, version: (prev?.version ?? 0) + 1 };
    this.apply({ fromRevision: main - 1, toRevision: main, changes: [{ kind: 'put', main, sub: 0, kv, prev }], compactRevision: undefined });
  }
  compactTo(revision: number): void {
    this.apply({ fromRevision: this.currentRevision(), toRevision: this.currentRevision(), changes: [], compactRevision: revision });
  }
}

async function settle(scheduler: ManualScheduler, until: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !until(); i++) {
    scheduler.release();
    await tick();
  }
  assert.ok(until(), 'did not settle');
}

describe('Compactor', () => {
  it('purges in steps of rowsPerStep, yielding between steps', async () => {
    const backend = new SteppingBackend();
    const scheduler = new ManualScheduler();
    const compactor = new Compactor(backend, scheduler, 7, new TestLogger());
    backend.compactTo(1);
    let done = false;
    void compactor.purge().then(() => (done = true));
    assert.equal(scheduler.pending, 1, 'yields after the first step');
    await settle(scheduler, () => done);
    assert.deepEqual(backend.steps, [7, 7, 7, 7]);
  });

  it('a purge requested while one runs joins it and continues to the newest compaction', async () => {
    const backend = new SteppingBackend();
    const scheduler = new ManualScheduler();
    const compactor = new Compactor(backend, scheduler, 1, new TestLogger());
    for (const value of ['1', '2', '3']) backend.putKey('k', value); // k@2, k@3, k@4
    backend.compactTo(2);
    const first = compactor.purge();
    scheduler.release();
    await tick();
    backend.compactTo(3);
    const second = compactor.purge();
    assert.equal(first, second, 'joins the running purge');
    let done = false;
    void second.then(() => (done = true));
    await settle(scheduler, () => done);
    assert.equal(backend.historyRows(), 2, 'purged up to 3: k@3 and k@4 remain');
    assert.equal(backend.purgeStep(1), true, 'nothing left to purge');
  });

  it('stop() ends the purge after its current step; later purges do nothing', async () => {
    const backend = new SteppingBackend();
    backend.stepsPerPurge = 50;
    const scheduler = new ManualScheduler();
    const compactor = new Compactor(backend, scheduler, 1, new TestLogger());
    backend.compactTo(1);
    const running = compactor.purge();
    const stopping = compactor.stop();
    scheduler.release();
    await stopping;
    await running;
    const stepsAtStop = backend.steps.length;
    assert.ok(stepsAtStop < 50, `stopped early (${stepsAtStop} steps)`);
    await compactor.purge();
    assert.equal(backend.steps.length, stepsAtStop);
  });
});
