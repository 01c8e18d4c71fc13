import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PinoLogger } from '../../../src/adapters/node/pino-logger.js';
import { DEFAULT_LIMITS } from '../../../src/domain/limits.js';
import { T4Node } from '../../../src/app/node.js';

/** The local WAL stays bounded: sealed segments go once SQLite holds them durably (real SQLite, real files). */
describe('bounded local WAL', () => {
  const dir = mkdtempSync(join(tmpdir(), 't4-wal-bounded-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const open = () =>
    T4Node.open({ dataDir: dir, nodeId: 'wal', limits: { ...DEFAULT_LIMITS, walSegmentBytesMax: 4096 }, logger: PinoLogger.create('silent') });

  it('deletes covered segments as it rotates, and a restart replays to the same revision', async () => {
    const node = await open();
    const value = new Uint8Array(100);
    for (let i = 0; i < 500; i++) await node.kv.put({ key: new TextEncoder().encode(`k${i % 10}`), value });
    const segments = readdirSync(join(dir, 'wal')).length;
    // 500 writes of ~150 bytes would fill ~18 segments of 4 KiB; only the uncovered tail remains.
    assert.ok(segments <= 6, `${segments} segments left`);
    assert.equal(node.kv.currentRevision(), 501);
    await node.close();
    const again = await open();
    try {
      assert.equal(again.kv.currentRevision(), 501);
      assert.equal((await again.kv.put({ key: new TextEncoder().encode('next'), value })).revision, 502);
    } finally {
      await again.close();
    }
  });
});
