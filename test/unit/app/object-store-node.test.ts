// A node with an object store as its durable layer, in-process: disk loss, the store failing and
// coming back, lost responses, async upload, checkpoints, GC, fallbacks, and the dedupe target.
// The same behaviours against real MinIO/GCS processes with SIGKILL are in
// test/integration/disk-loss.test.ts.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DurableStoreUnavailableError, open, RemoteStateError, RequestTimedOutError, type OpenOptions, type T4 } from '../../../src/app/embedded.js';
import { FaultInjectingObjectStore } from '../../../src/adapters/memory/fault-injecting-object-store.js';
import { InMemoryObjectStore } from '../../../src/adapters/memory/in-memory-object-store.js';
import { InstrumentedObjectStore } from '../../../src/adapters/instrumented-object-store.js';
import { SystemClock } from '../../../src/adapters/node/system-clock.js';
import { listAll, type ObjectStore } from '../../../src/ports/object-store.js';
import { SeededRandom } from '../../support/seeded-random.js';
import { TestLogger } from '../../support/domain-fixtures.js';

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(store, prefix)) out.push(o.key);
  return out;
}

describe('node with an object store', () => {
  const dirs: string[] = [];
  const fresh = (): string => {
    const d = mkdtempSync(join(tmpdir(), 't4-remote-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  const openWith = (dataDir: string, objectStore: ObjectStore, extra: Partial<OpenOptions> = {}): Promise<T4> =>
    open({ dataDir, objectStore, logger: new TestLogger(), ...extra });

  it('rebuilds every acknowledged write (keys, deletes, compaction, leases) from the object store after the disk is lost', async () => {
    const store = new InMemoryObjectStore();
    const dir = fresh();
    const t4 = await openWith(dir, store);
    const written = new Map<string, { value: string; revision: number }>();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 25; i++) {
          const key = `w${w}/k${i}`;
          const { revision } = await t4.put(key, `v${w}-${i}`);
          written.set(key, { value: `v${w}-${i}`, revision });
        }
      }),
    );
    await t4.delete('w0/k0');
    written.delete('w0/k0');
    const lease = await t4.grant(600);
    await t4.put('leased', 'x', { lease: lease.id });
    await t4.compact(50);
    const revision = t4.revision();
    await t4.close();
    rmSync(dir, { recursive: true, force: true });

    const again = await openWith(dir, store);
    try {
      assert.equal(again.revision(), revision);
      for (const [key, { value, revision: rev }] of written) {
        const kv = await again.get(key);
        assert.equal(text(kv?.value), value, key);
        assert.equal(kv?.modRevision, rev, key);
      }
      assert.equal(await again.get('w0/k0'), undefined);
      assert.deepEqual(await again.leases(), [lease.id]);
      assert.equal((await again.get('leased'))?.lease, lease.id);
      await assert.rejects(again.get('w1/k1', { revision: 10 }), { name: 'Compacted' });
      // Writes continue from the restored revision.
      assert.equal((await again.put('after', '1')).revision, revision + 1);
    } finally {
      await again.close();
    }
  });

  it('when the object store fails: writes time out or are refused, then resume by themselves; nothing acknowledged is lost', async () => {
    const inner = new InMemoryObjectStore();
    const store = new FaultInjectingObjectStore(inner, { random: new SeededRandom(7) });
    const dir = fresh();
    const t4 = await openWith(dir, store, { writeRequestTimeoutMs: 300 });
    const acked = new Map<string, number>();
    const indeterminate = new Set<string>();
    for (let i = 0; i < 20; i++) acked.set(`before/${i}`, (await t4.put(`before/${i}`, 'v')).revision);

    store.setFaults({ unavailableRate: 1 });
    // The first write waits for the store and times out (it may still be applied later).
    await assert.rejects(t4.put('during/0', 'v'), (e: unknown) => e instanceof RequestTimedOutError && e.message === 'etcdserver: request timed out');
    indeterminate.add('during/0');
    // While the store is down, new writes are refused at once: nothing of them is written.
    await assert.rejects(t4.put('refused', 'v'), (e: unknown) => e instanceof DurableStoreUnavailableError && /object store unavailable/.test(e.message));
    // Reads still work.
    assert.equal(text((await t4.get('before/3'))?.value), 'v');

    store.setFaults({});
    // No restart: once the retry gets through, writes are accepted again.
    let resumed = false;
    for (let attempt = 0; attempt < 100 && !resumed; attempt++) {
      try {
        acked.set('after/0', (await t4.put('after/0', 'v')).revision);
        resumed = true;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(resumed, 'writes resume after the object store is back');
    for (let i = 1; i < 10; i++) acked.set(`after/${i}`, (await t4.put(`after/${i}`, 'v')).revision);
    // The timed-out write was applied once its upload got through, before the later writes.
    assert.ok((await t4.get('during/0')) !== undefined);
    assert.equal(await t4.get('refused'), undefined);
    const revision = t4.revision();
    await t4.close();
    rmSync(dir, { recursive: true, force: true });

    const again = await openWith(dir, inner);
    try {
      assert.equal(again.revision(), revision);
      for (const [key, rev] of acked) assert.equal((await again.get(key))?.modRevision, rev, key);
      assert.equal(await again.get('refused'), undefined);
    } finally {
      await again.close();
    }
  });

  it('an upload that succeeded but whose response was lost is retried to the same object: no loss, no duplicate', async () => {
    const inner = new InMemoryObjectStore();
    const store = new FaultInjectingObjectStore(inner, { random: new SeededRandom(11), faults: { lostResponseRate: 0.3, unavailableRate: 0.1, operations: ['put'] } });
    const dir = fresh();
    const t4 = await openWith(dir, store);
    const acked = new Map<string, number>();
    for (let i = 0; i < 60; i++) acked.set(`k${i}`, (await t4.put(`k${i}`, `v${i}`)).revision);
    assert.ok(store.injected['lost-response'] > 5, `lost responses injected: ${store.injected['lost-response']}`);
    const revision = t4.revision();
    await t4.close();
    rmSync(dir, { recursive: true, force: true });
    const again = await openWith(dir, inner);
    try {
      assert.equal(again.revision(), revision);
      for (const [key, rev] of acked) assert.equal((await again.get(key))?.modRevision, rev, key);
      assert.equal((await again.list('k')).count, 60);
    } finally {
      await again.close();
    }
  });

  it('async upload: acknowledged after fdatasync, segments uploaded in the background, the last one on close', async () => {
    const store = new InMemoryObjectStore();
    const dir = fresh();
    const t4 = await openWith(dir, store, { durability: { walSyncUpload: false, segmentMaxAgeMs: 100 } });
    const acked = new Map<string, number>();
    for (let i = 0; i < 30; i++) acked.set(`a${i}`, (await t4.put(`a${i}`, 'v')).revision);
    await new Promise((r) => setTimeout(r, 400));
    const uploadedMidRun = (await keys(store, 'wal/')).length;
    assert.ok(uploadedMidRun >= 1, 'a segment was uploaded by the age trigger');
    for (let i = 30; i < 40; i++) acked.set(`a${i}`, (await t4.put(`a${i}`, 'v')).revision);
    const revision = t4.revision();
    await t4.close();
    rmSync(dir, { recursive: true, force: true });
    const again = await openWith(dir, store);
    try {
      assert.equal(again.revision(), revision);
      for (const [key, rev] of acked) assert.equal((await again.get(key))?.modRevision, rev, key);
    } finally {
      await again.close();
    }
  });

  it('a disk ahead of the object store keeps its data and uploads what the store lacks', async () => {
    const inner = new InMemoryObjectStore();
    const store = new FaultInjectingObjectStore(inner, { random: new SeededRandom(3) });
    const dir = fresh();
    // Async mode with the store down: writes are acknowledged locally and cannot be uploaded.
    const t4 = await openWith(dir, store, { durability: { walSyncUpload: false, segmentMaxAgeMs: 60_000 } });
    await t4.put('up', '1');
    await t4.close();
    store.setFaults({ unavailableRate: 1 });
    const offline = await openWith(dir, store, { durability: { walSyncUpload: false, segmentMaxAgeMs: 60_000 }, objectStoreStartupTimeoutMs: 300 }).catch((e: unknown) => e);
    // Start-up needs the store: it waits for it (here 300 ms), then fails; it never serves unreconciled state.
    assert.ok(offline instanceof Error, `start-up with the store down: ${String(offline)}`);
    store.setFaults({});
    // A store that comes back while start-up waits is fine.
    store.setFaults({ unavailableRate: 1 });
    const waiting = openWith(dir, store, { durability: { walSyncUpload: false, segmentMaxAgeMs: 60_000 } });
    await new Promise((r) => setTimeout(r, 200));
    store.setFaults({});
    await (await waiting).close();
    const local = await openWith(dir, store, { durability: { walSyncUpload: false, segmentMaxAgeMs: 60_000 }, closeUploadTimeoutMs: 300 });
    const acked = new Map<string, number>();
    for (let i = 0; i < 10; i++) acked.set(`local${i}`, (await local.put(`local${i}`, 'v')).revision);
    const revision = local.revision();
    // Simulate a crash before the background upload: close with the store down (upload gives up).
    store.setFaults({ unavailableRate: 1 });
    await local.close();
    store.setFaults({});
    // Restart in sync mode: the local batches the store lacks are uploaded before serving.
    const synced = await openWith(dir, store);
    assert.equal(synced.revision(), revision);
    await synced.close();
    rmSync(dir, { recursive: true, force: true });
    const restored = await openWith(dir, inner);
    try {
      assert.equal(restored.revision(), revision);
      for (const [key, rev] of acked) assert.equal((await restored.get(key))?.modRevision, rev, key);
    } finally {
      await restored.close();
    }
  });

  it('checkpoints: restore from the newest, GC keeps 2 and the WAL they need; a damaged newest falls back to the previous', async () => {
    const store = new InMemoryObjectStore();
    const dir = fresh();
    const t4 = await openWith(dir, store, { durability: { checkpointIntervalMs: 3_600_000 } });
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 20; i++) await t4.put(`r${round}/k${i}`, `v${round}`);
      await t4.checkpoint();
    }
    for (let i = 0; i < 5; i++) await t4.put(`tail/${i}`, 'v');
    const revision = t4.revision();
    await t4.close();
    const manifests = (await keys(store, 'checkpoint/')).filter((k) => k.endsWith('manifest.json'));
    assert.equal(manifests.length, 2, `GC keeps 2: ${manifests.join(', ')}`);
    const oldestKept = Number(/\/(\d{20})\/manifest\.json$/.exec(manifests[0] as string)?.[1]);
    const walFirst = Number((await keys(store, 'wal/'))[0]?.split('/')[2]);
    assert.ok(walFirst <= oldestKept + 1, `WAL from ${walFirst} still covers the oldest kept checkpoint ${oldestKept}`);
    assert.ok(walFirst > 2, 'older WAL segments were collected');

    rmSync(dir, { recursive: true, force: true });
    const restored = await openWith(dir, store);
    assert.equal(restored.revision(), revision);
    assert.equal(text((await restored.get('r3/k19'))?.value), 'v3');
    assert.equal(text((await restored.get('tail/4'))?.value), 'v');
    await restored.close();

    // Damage a chunk only the newest checkpoint has: restore falls back to the previous checkpoint
    // and replays the WAL from there. (The restored node wrote a checkpoint at start: list again.)
    manifests.splice(0, manifests.length, ...(await keys(store, 'checkpoint/')).filter((k) => k.endsWith('manifest.json')));
    const newest = JSON.parse(text(await store.get(manifests[1] as string)) as string) as { database: { chunks: string[] } };
    const previous = JSON.parse(text(await store.get(manifests[0] as string)) as string) as { database: { chunks: string[] } };
    const onlyNewest = newest.database.chunks.find((c) => !previous.database.chunks.includes(c)) as string;
    await store.put(`chunks/${onlyNewest}`, new TextEncoder().encode('garbage'));
    rmSync(dir, { recursive: true, force: true });
    const logger = new TestLogger();
    const fallback = await open({ dataDir: dir, objectStore: store, logger });
    try {
      assert.equal(fallback.revision(), revision);
      assert.equal(text((await fallback.get('tail/4'))?.value), 'v');
      assert.ok(logger.entries.some((l) => /trying the previous one/.test(l.message)), 'a warning names the fallback');
    } finally {
      await fallback.close();
    }
  });

  it('refuses a checkpoint format newer than it understands', async () => {
    const store = new InMemoryObjectStore();
    const dir = fresh();
    const t4 = await openWith(dir, store);
    await t4.put('a', '1');
    await t4.checkpoint();
    await t4.close();
    const latest = JSON.parse(text(await store.get('manifest/latest')) as string) as Record<string, unknown>;
    await store.put('manifest/latest', new TextEncoder().encode(JSON.stringify({ ...latest, format_version: 99 })));
    rmSync(dir, { recursive: true, force: true });
    await assert.rejects(openWith(dir, store), (e: unknown) => e instanceof RemoteStateError && /format_version 99, newer than this T4 understands/.test(e.message));
  });

  it('a disk behind the object store whose WAL was collected is re-restored from the newest checkpoint', async () => {
    const store = new InMemoryObjectStore();
    const dir = fresh();
    const t4 = await openWith(dir, store);
    await t4.put('old', '1');
    await t4.close();
    const stale = fresh();
    cpSync(dir, stale, { recursive: true });
    const again = await openWith(dir, store);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10; i++) await again.put(`n${round}/${i}`, 'v');
      await again.checkpoint();
    }
    const revision = again.revision();
    await again.close();
    const behind = await openWith(stale, store);
    try {
      assert.equal(behind.revision(), revision);
      assert.equal(text((await behind.get('n2/9'))?.value), 'v');
    } finally {
      await behind.close();
    }
  });

  it('dedupe: after changing one key of a 64 MiB database, a checkpoint uploads at most 5% of its bytes', async () => {
    const inner = new InMemoryObjectStore();
    const store = new InstrumentedObjectStore(inner, new SystemClock());
    const dir = fresh();
    const t4 = await openWith(dir, store, { durability: { walSyncUpload: false, segmentMaxAgeMs: 60_000 } });
    try {
      const value = new Uint8Array(4096).map((_, i) => (i * 31) % 251);
      for (let start = 0; start < 16_384; start += 512) {
        await Promise.all(Array.from({ length: 512 }, (_, i) => t4.put(`key/${String(start + i).padStart(6, '0')}`, value)));
      }
      await t4.checkpoint();
      const manifest = JSON.parse(text(await inner.get('manifest/latest')) as string) as { checkpoint_key: string };
      const first = JSON.parse(text(await inner.get(manifest.checkpoint_key)) as string) as { database: { size_bytes: number } };
      assert.ok(first.database.size_bytes >= 64 * 1024 * 1024, `database is ${first.database.size_bytes} bytes`);
      const before = store.snapshot().put.bytesSent;
      await t4.put('key/008000', 'changed');
      await t4.checkpoint();
      const uploaded = store.snapshot().put.bytesSent - before;
      const ratio = uploaded / first.database.size_bytes;
      assert.ok(ratio <= 0.05, `uploaded ${uploaded} of ${first.database.size_bytes} bytes (${(ratio * 100).toFixed(2)}%)`);
    } finally {
      await t4.close();
    }
  });
});
