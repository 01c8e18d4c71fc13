// The ObjectStore / ConditionalObjectStore contract (src/ports/object-store.ts), run against every
// adapter by object-store.test.ts. Each `makeStore()` call must return a store on a fresh, empty
// namespace (a new prefix, or a new in-memory bucket).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AbortedError } from '../../src/domain/errors.js';
import { listAll, type ConditionalObjectStore, type ObjectStore, type ObjectSummary } from '../../src/ports/object-store.js';
import { PreconditionFailedError, type PreconditionFailure } from '../../src/ports/object-store-errors.js';

export interface ObjectStoreContractOptions {
  /** Keys written for the pagination test; above 1000 so a default-sized page cannot hold them. */
  readonly manyKeys?: number;
}

export type MakeObjectStore = () => ConditionalObjectStore | Promise<ConditionalObjectStore>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string): Uint8Array => encoder.encode(s);

async function listKeys(store: ObjectStore, prefix = '', maxKeys?: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of listAll(store, prefix, maxKeys === undefined ? {} : { maxKeys })) keys.push(o.key);
  return keys;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function byCodePoint(a: string, b: string): number {
  const ca = [...a].map((c) => c.codePointAt(0) ?? 0);
  const cb = [...b].map((c) => c.codePointAt(0) ?? 0);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return (ca[i] ?? 0) - (cb[i] ?? 0);
  return ca.length - cb.length;
}

function assertPreconditionFailed(error: unknown, reasons: readonly PreconditionFailure[]): true {
  assert.ok(error instanceof PreconditionFailedError, `expected PreconditionFailedError, got ${String(error)}`);
  assert.ok(reasons.includes(error.reason), `reason ${error.reason} not in ${reasons.join(', ')}`);
  return true;
}

/** A deterministic pseudo-random body (xorshift), so a failure shows which bytes differ. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function describeObjectStoreContract(name: string, makeStore: MakeObjectStore, options: ObjectStoreContractOptions = {}): void {
  const manyKeys = options.manyKeys ?? 1010;

  describe(`ObjectStore contract: ${name}`, () => {
    it('get and getWithVersion of a missing key answer undefined', async () => {
      const store = await makeStore();
      assert.equal(await store.get('missing'), undefined);
      assert.equal(await store.getWithVersion('missing'), undefined);
    });

    it('put then get returns the body; a second put replaces it', async () => {
      const store = await makeStore();
      await store.put('k', text('one'));
      assert.equal(decoder.decode(await store.get('k')), 'one');
      await store.put('k', text('two, longer'));
      assert.equal(decoder.decode(await store.get('k')), 'two, longer');
      assert.deepEqual(await listKeys(store), ['k']);
    });

    it('binary bodies round-trip exactly: every byte value, empty, 1 MiB', async () => {
      const store = await makeStore();
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const big = noise(1 << 20, 7);
      await store.put('bin/all-bytes', all);
      await store.put('bin/empty', new Uint8Array(0));
      await store.put('bin/big', big);
      assert.deepEqual(await store.get('bin/all-bytes'), all);
      assert.deepEqual(await store.get('bin/empty'), new Uint8Array(0));
      assert.deepEqual(await store.get('bin/big'), big);
      const sizes = Object.fromEntries((await store.listPage('bin/')).objects.map((o: ObjectSummary) => [o.key, o.sizeBytes]));
      assert.deepEqual(sizes, { 'bin/all-bytes': 256, 'bin/big': 1 << 20, 'bin/empty': 0 });
    });

    it('a stored body does not change when the caller reuses its buffer', async () => {
      const store = await makeStore();
      const buffer = text('original');
      await store.put('k', buffer);
      buffer.fill(0);
      const read = await store.get('k');
      assert.equal(decoder.decode(read), 'original');
      read?.fill(0);
      assert.equal(decoder.decode(await store.get('k')), 'original');
    });

    it('delete is idempotent: deleting a missing key succeeds, twice', async () => {
      const store = await makeStore();
      await store.delete('never-there');
      await store.put('k', text('v'));
      await store.delete('k');
      assert.equal(await store.get('k'), undefined);
      await store.delete('k');
      assert.deepEqual(await listKeys(store), []);
    });

    it('deleteMany removes exactly the given keys, ignores missing ones and accepts an empty list', async () => {
      const store = await makeStore();
      for (const k of ['a', 'b', 'c', 'd']) await store.put(k, text(k));
      await store.deleteMany([]);
      await store.deleteMany(['a', 'c', 'missing-1', 'missing-2']);
      assert.deepEqual(await listKeys(store), ['b', 'd']);
      await store.deleteMany(['a', 'c']);
      assert.deepEqual(await listKeys(store), ['b', 'd']);
    });

    it('list is in UTF-8 byte order (not UTF-16), with sizes, whatever the insertion order', async () => {
      const store = await makeStore();
      // '\uFF61' < '\u{1F600}' in UTF-8 (EF.. < F0..) but not in UTF-16 (FF61 > D83D).
      // No key is also a directory of others ('a' beside 'a/b'): see the port's key rules (MinIO).
      const keys = ['b', 'a/b', 'a+', '0', 'Z', 'a0', 'ab', 'a/a', '\u00e9', '\uFF61', '\u{1F600}', 'a-', 'a.', 'a/\u{1F600}', 'a/\uFF61'];
      for (const k of keys) await store.put(k, text(`value of ${k}`));
      const expected = [...keys].sort(byCodePoint);
      assert.deepEqual(await listKeys(store), expected);
      const page = await store.listPage('');
      assert.equal(page.nextStartAfter, undefined);
      for (const o of page.objects) assert.equal(o.sizeBytes, text(`value of ${o.key}`).length);
    });

    it('list filters by prefix, resumes after startAfter and pages by maxKeys', async () => {
      const store = await makeStore();
      const keys = ['x/1', 'x/2', 'x/3', 'x/4', 'x/5', 'x/6', 'x/7', 'x0', 'xa', 'y/1'];
      for (const k of keys) await store.put(k, text(k));
      assert.deepEqual(await listKeys(store, 'x/'), ['x/1', 'x/2', 'x/3', 'x/4', 'x/5', 'x/6', 'x/7']);
      assert.deepEqual(await listKeys(store, 'x'), ['x/1', 'x/2', 'x/3', 'x/4', 'x/5', 'x/6', 'x/7', 'x0', 'xa']);
      assert.deepEqual(await listKeys(store, 'nothing/'), []);
      const first = await store.listPage('x/', { maxKeys: 3 });
      assert.deepEqual(first.objects.map((o) => o.key), ['x/1', 'x/2', 'x/3']);
      assert.equal(first.nextStartAfter, 'x/3');
      const second = await store.listPage('x/', { maxKeys: 3, startAfter: first.nextStartAfter });
      assert.deepEqual(second.objects.map((o) => o.key), ['x/4', 'x/5', 'x/6']);
      const rest = await store.listPage('x/', { startAfter: 'x/6' });
      assert.deepEqual(rest.objects.map((o) => o.key), ['x/7']);
      assert.equal(rest.nextStartAfter, undefined);
      assert.deepEqual(await listKeys(store, 'x/', 2), ['x/1', 'x/2', 'x/3', 'x/4', 'x/5', 'x/6', 'x/7']);
      // startAfter need not be a key that exists.
      const after = await store.listPage('', { startAfter: 'x/35' });
      assert.deepEqual(after.objects.map((o) => o.key), ['x/4', 'x/5', 'x/6', 'x/7', 'x0', 'xa', 'y/1']);
    });

    it(`list pages through ${manyKeys} keys (more than one default page) and deleteMany removes them all`, async () => {
      const store = await makeStore();
      const keys = Array.from({ length: manyKeys }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      // Written out of order: i -> i * 7919 mod n is a permutation (7919 is prime).
      const shuffled = keys.map((_, i) => keys[(i * 7919) % keys.length] as string);
      await eachLimit(shuffled, 32, (k) => store.put(k, text(k)));
      const first = await store.listPage('many/');
      assert.equal(first.objects.length, 1000);
      assert.equal(first.nextStartAfter, keys[999]);
      assert.deepEqual(await listKeys(store, 'many/'), keys);
      await store.deleteMany(keys);
      assert.deepEqual(await listKeys(store, 'many/'), []);
    });

    it('an overwrite is atomic to readers: every concurrent get sees a whole old or new body', async () => {
      const store = await makeStore();
      const size = 256 * 1024;
      const bodies = [new Uint8Array(size).fill(0x61), new Uint8Array(size).fill(0x62), new Uint8Array(size).fill(0x63)];
      await store.put('atomic', bodies[0] as Uint8Array);
      const writes = [1, 2, 0, 1, 2].map(async (i) => store.put('atomic', bodies[i] as Uint8Array));
      const reads = Array.from({ length: 12 }, async () => {
        const body = await store.get('atomic');
        assert.ok(body !== undefined, 'an overwritten object never disappears');
        assert.equal(body.length, size);
        const first = body[0];
        assert.ok(body.every((b) => b === first), 'a read mixed two versions');
      });
      await Promise.all([...writes, ...reads]);
    });

    it('putIfAbsent creates once: a second one fails with PreconditionFailedError (exists) and changes nothing', async () => {
      const store = await makeStore();
      const version = await store.putIfAbsent('lock', text('first'));
      await assert.rejects(store.putIfAbsent('lock', text('second')), (e) => assertPreconditionFailed(e, ['exists', 'conflict']));
      const read = await store.getWithVersion('lock');
      assert.equal(decoder.decode(read?.body), 'first');
      assert.equal(read?.version, version);
    });

    it('racing putIfAbsent on one key: exactly one wins, the rest fail typed, the winner is what is stored', async () => {
      const store = await makeStore();
      const contenders = Array.from({ length: 6 }, (_, i) => `contender-${i}`);
      const results = await Promise.allSettled(contenders.map((c) => store.putIfAbsent('race', text(c))));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ body: contenders[i], version: r.value }] : []));
      assert.equal(winners.length, 1, `exactly one putIfAbsent must win, got ${winners.length}`);
      for (const r of results) if (r.status === 'rejected') assertPreconditionFailed(r.reason, ['exists', 'conflict']);
      const read = await store.getWithVersion('race');
      assert.equal(decoder.decode(read?.body), winners[0]?.body);
      assert.equal(read?.version, winners[0]?.version);
    });

    it('putIfMatch with the current version replaces; with a stale version it fails and changes nothing', async () => {
      const store = await makeStore();
      const v1 = await store.putIfAbsent('cas', text('v1'));
      const v2 = await store.putIfMatch('cas', text('v2'), v1);
      assert.notEqual(v2, v1);
      assert.equal((await store.getWithVersion('cas'))?.version, v2);
      await assert.rejects(store.putIfMatch('cas', text('v3 from a stale reader'), v1), (e) => assertPreconditionFailed(e, ['version-mismatch', 'conflict']));
      const read = await store.getWithVersion('cas');
      assert.equal(decoder.decode(read?.body), 'v2');
      assert.equal(read?.version, v2);
      const v3 = await store.putIfMatch('cas', text('v3'), v2);
      assert.equal((await store.getWithVersion('cas'))?.version, v3);
    });

    it('a plain put changes the version, so a putIfMatch holding the old one fails', async () => {
      const store = await makeStore();
      const v1 = await store.putIfAbsent('k', text('v1'));
      await store.put('k', text('overwritten by put'));
      await assert.rejects(store.putIfMatch('k', text('late'), v1), (e) => assertPreconditionFailed(e, ['version-mismatch', 'conflict']));
      assert.equal(decoder.decode(await store.get('k')), 'overwritten by put');
    });

    it('racing putIfMatch with the same version: exactly one wins', async () => {
      const store = await makeStore();
      const v1 = await store.putIfAbsent('cas', text('base'));
      const contenders = Array.from({ length: 5 }, (_, i) => `next-${i}`);
      const results = await Promise.allSettled(contenders.map((c) => store.putIfMatch('cas', text(c), v1)));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [contenders[i]] : []));
      assert.equal(winners.length, 1, `exactly one putIfMatch must win, got ${winners.length}`);
      for (const r of results) if (r.status === 'rejected') assertPreconditionFailed(r.reason, ['version-mismatch', 'conflict']);
      assert.equal(decoder.decode(await store.get('cas')), winners[0]);
    });

    it('putIfMatch on a missing key fails (not-found) and never creates the object', async () => {
      const store = await makeStore();
      const elsewhere = await store.putIfAbsent('other', text('x'));
      await assert.rejects(store.putIfMatch('absent', text('must not appear'), elsewhere), (e) => assertPreconditionFailed(e, ['not-found']));
      assert.equal(await store.get('absent'), undefined);
      // The same after the object existed and was deleted, with the version it had.
      const v = await store.putIfAbsent('gone', text('here'));
      await store.delete('gone');
      await assert.rejects(store.putIfMatch('gone', text('must not reappear'), v), (e) => assertPreconditionFailed(e, ['not-found']));
      assert.equal(await store.get('gone'), undefined);
      assert.deepEqual(await listKeys(store), ['other']);
    });

    it('putIfAbsent succeeds again after the object was deleted', async () => {
      const store = await makeStore();
      await store.putIfAbsent('k', text('one'));
      await store.delete('k');
      await store.putIfAbsent('k', text('two'));
      assert.equal(decoder.decode(await store.get('k')), 'two');
    });

    it('stores from different makeStore() calls are isolated namespaces', async () => {
      const a = await makeStore();
      const b = await makeStore();
      await a.put('shared-name', text('in a'));
      await b.put('shared-name', text('in b'));
      await a.put('only-a', text('a'));
      assert.equal(decoder.decode(await a.get('shared-name')), 'in a');
      assert.equal(decoder.decode(await b.get('shared-name')), 'in b');
      assert.equal(await b.get('only-a'), undefined);
      assert.deepEqual(await listKeys(a), ['only-a', 'shared-name']);
      assert.deepEqual(await listKeys(b), ['shared-name']);
      await b.deleteMany(['shared-name', 'only-a']);
      assert.deepEqual(await listKeys(a), ['only-a', 'shared-name']);
    });

    it('an already-aborted signal rejects with AbortedError and writes nothing', async () => {
      const store = await makeStore();
      const signal = AbortSignal.abort();
      await assert.rejects(store.put('k', text('v'), { signal }), AbortedError);
      await assert.rejects(store.putIfAbsent('k', text('v'), { signal }), AbortedError);
      await assert.rejects(store.get('k', { signal }), AbortedError);
      await assert.rejects(store.listPage('', { signal }), AbortedError);
      assert.equal(await store.get('k'), undefined);
    });
  });
}
