import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CompactedError, InvalidArgumentError, open, WatchCompactedError, type WatchMessage } from '../../../src/app/embedded.js';

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe('embedded watch', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 't4-embedded-watch-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('replays from startRevision, then follows live writes; prev_kv and filters; abort ends it', async () => {
    const t4 = await open({ dataDir: fresh(), logLevel: 'silent' });
    try {
      await t4.put('cfg/a', '1');
      await t4.put('cfg/b', '2');
      const ac = new AbortController();
      const seen: string[] = [];
      const done = (async () => {
        for await (const m of t4.watch('cfg/', { prefix: true, startRevision: 2, prevKv: true, filters: ['noDelete'], signal: ac.signal })) {
          if (m.kind === 'created') seen.push(`created@${m.revision}`);
          if (m.kind === 'events') for (const e of m.events) seen.push(`${e.kind} ${text(e.kv.key)}=${text(e.kv.value)}@${e.kv.modRevision} prev=${text(e.prevKv?.value)}`);
          if (seen.length === 5) ac.abort();
        }
      })();
      await t4.put('cfg/a', '3');
      await t4.delete('cfg/b');
      await t4.put('zzz', 'x');
      await t4.put('cfg/c', '4');
      await done;
      assert.deepEqual(seen, ['created@3', 'put cfg/a=1@2 prev=undefined', 'put cfg/b=2@3 prev=undefined', 'put cfg/a=3@4 prev=1', 'put cfg/c=4@7 prev=undefined']);
    } finally {
      await t4.close();
    }
  });

  it('requestProgress yields a progress message; a compacted start throws WatchCompactedError; an empty range InvalidArgumentError', async () => {
    const t4 = await open({ dataDir: fresh(), logLevel: 'silent' });
    try {
      await t4.put('k', '1');
      await t4.put('k', '2');
      const w = t4.watch('k');
      const it = w[Symbol.asyncIterator]();
      assert.deepEqual((await it.next()).value, { kind: 'created', revision: 3 } satisfies WatchMessage);
      w.requestProgress();
      assert.deepEqual((await it.next()).value, { kind: 'progress', revision: 3 });
      w.cancel();
      assert.equal((await it.next()).done, true);

      await t4.compact(3);
      const compacted = t4.watch('k', { startRevision: 2 })[Symbol.asyncIterator]();
      await compacted.next();
      const err = await compacted.next().then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof WatchCompactedError && err instanceof CompactedError);
      assert.equal(err.compactRevision, 3);

      const empty = t4.watch('b', { end: 'a' })[Symbol.asyncIterator]();
      await assert.rejects(empty.next(), InvalidArgumentError);
    } finally {
      await t4.close();
    }
  });

  it('close ends running watches', async () => {
    const t4 = await open({ dataDir: fresh(), logLevel: 'silent' });
    const messages: WatchMessage[] = [];
    const done = (async () => {
      for await (const m of t4.watch('x')) messages.push(m);
    })();
    await new Promise((r) => setImmediate(r));
    await t4.close();
    await done;
    assert.deepEqual(messages.map((m) => m.kind), ['created']);
  });
});
