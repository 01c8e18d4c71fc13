import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyncLatency } from '../../../../src/adapters/fs/node-wal-files.js';

/** A lone write may fdatasync on the event loop only while syncs on this disk are short. */
describe('SyncLatency', () => {
  it('allows inline syncs on a fast disk, stops them once syncs average over 0.5 ms, and allows them again when the disk is fast again', () => {
    const syncs = new SyncLatency();
    assert.equal(syncs.inlineAllowed(), true, 'before any sync');
    for (let i = 0; i < 20; i++) syncs.record(0.15);
    assert.equal(syncs.inlineAllowed(), true, 'a local SSD');
    for (let i = 0; i < 5; i++) syncs.record(3);
    assert.equal(syncs.inlineAllowed(), false, 'network block storage');
    for (let i = 0; i < 60; i++) syncs.record(0.2);
    assert.equal(syncs.inlineAllowed(), true, 'fast again');
  });

  it('a first slow sync is enough to stop inline syncs', () => {
    const syncs = new SyncLatency();
    syncs.record(5);
    assert.equal(syncs.inlineAllowed(), false);
  });
});
