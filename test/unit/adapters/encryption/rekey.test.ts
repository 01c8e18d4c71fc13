import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EncryptedObjectStore } from '../../../../src/adapters/encryption/encrypted-object-store.js';
import { Keyring, type EncryptionKey } from '../../../../src/adapters/encryption/encryption-key.js';
import { envelopeKeyId } from '../../../../src/adapters/encryption/envelope.js';
import { describeRekeyResult, rekeyPrefix, type RekeyProgress } from '../../../../src/adapters/encryption/rekey.js';
import { FaultInjectingObjectStore } from '../../../../src/adapters/memory/fault-injecting-object-store.js';
import { InMemoryObjectStore } from '../../../../src/adapters/memory/in-memory-object-store.js';
import { SystemClock } from '../../../../src/adapters/node/system-clock.js';
import { listAll, type ConditionalObjectStore, type ObjectStoreCallOptions, type ObjectVersion, type VersionedObject } from '../../../../src/ports/object-store.js';
import { PreconditionFailedError } from '../../../../src/ports/object-store-errors.js';
import { SeededRandom } from '../../../support/seeded-random.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : new TextDecoder().decode(b));
const key0: EncryptionKey = { id: 0, bytes: new Uint8Array(32).fill(1), source: 'old key' };
const key1: EncryptionKey = { id: 1, bytes: new Uint8Array(32).fill(2), source: 'new key' };
const oldRing = new Keyring(key0);
const newRing = new Keyring(key1, [key0]);

async function keyIds(raw: ConditionalObjectStore): Promise<Map<string, number | undefined>> {
  const ids = new Map<string, number | undefined>();
  for await (const o of listAll(raw, '')) ids.set(o.key, envelopeKeyId((await raw.get(o.key)) as Uint8Array));
  return ids;
}

/** Runs `hook` once, between rekey's read of `key` and its conditional write. */
class RaceOnce extends InMemoryObjectStore {
  constructor(
    private readonly key: string,
    private hook: (() => Promise<void>) | undefined,
  ) {
    super();
  }

  override async getWithVersion(key: string, options?: ObjectStoreCallOptions): Promise<VersionedObject | undefined> {
    const got = await super.getWithVersion(key, options);
    if (key === this.key && this.hook !== undefined) {
      const hook = this.hook;
      this.hook = undefined;
      await hook();
    }
    return got;
  }
}

describe('rekeyPrefix', () => {
  it('moves every object to the current key, keeps their contents, reports progress and that the old key can go', async () => {
    const raw = new InMemoryObjectStore();
    const before = new EncryptedObjectStore(raw, oldRing);
    const values = new Map<string, string>();
    for (let i = 0; i < 25; i++) {
      const key = `wal/${String(i).padStart(4, '0')}`;
      values.set(key, `segment ${i} `.repeat(i * 500));
      await before.put(key, text(values.get(key) as string));
    }
    await new EncryptedObjectStore(raw, newRing).put('manifest/latest', text('already on key 1'));
    values.set('manifest/latest', 'already on key 1');
    const progress: RekeyProgress[] = [];
    const result = await rekeyPrefix(raw, newRing, { onProgress: (p) => progress.push(p), concurrency: 3 });
    assert.equal(result.objectsListed, 26);
    assert.equal(result.rewritten, 25);
    assert.equal(result.alreadyCurrent, 1);
    assert.equal(result.remainingOnOldKeys, 0);
    assert.deepEqual(result.left, []);
    assert.equal(progress.length, 26);
    assert.deepEqual(progress.map((p) => p.objectsDone), Array.from({ length: 26 }, (_, i) => i + 1));
    const last = progress[25] as RekeyProgress;
    assert.equal(last.bytesDone, last.bytesTotal);
    assert.equal(last.rewritten, 25);
    assert.match(describeRekeyResult(result, newRing), /25 re-encrypted with key id 1, 1 already on it, 0 deleted meanwhile; no object needs key id 0: the old key can be dropped/);
    for (const [key, id] of await keyIds(raw)) assert.equal(id, 1, `${key} is still on key ${id}`);
    const after = new EncryptedObjectStore(raw, new Keyring(key1));
    for (const [key, value] of values) assert.equal(decode(await after.get(key)), value, `${key} changed`);
    // Resumable: a second run finds nothing to do.
    const again = await rekeyPrefix(raw, newRing);
    assert.equal(again.rewritten, 0);
    assert.equal(again.alreadyCurrent, 26);
  });

  it('a write between its read and its conditional write wins; rekey re-reads and skips or redoes', async () => {
    // A node with the new keyring rewrites the object: rekey finds it on key 1 and leaves it.
    const raced = new RaceOnce('manifest/latest', async () => {
      await new EncryptedObjectStore(raced, newRing).put('manifest/latest', text('newer, from the node'));
    });
    await new EncryptedObjectStore(raced, oldRing).put('manifest/latest', text('old'));
    const result = await rekeyPrefix(raced, newRing);
    assert.equal(result.conflicts, 1);
    assert.equal(result.rewritten, 0);
    assert.equal(result.alreadyCurrent, 1);
    assert.equal(decode(await new EncryptedObjectStore(raced, newRing).get('manifest/latest')), 'newer, from the node');

    // A node still on the old key rewrites it: rekey re-encrypts the newer body, not the one it read.
    const racedOld = new RaceOnce('manifest/latest', async () => {
      await new EncryptedObjectStore(racedOld, oldRing).put('manifest/latest', text('newer, old key'));
    });
    await new EncryptedObjectStore(racedOld, oldRing).put('manifest/latest', text('old'));
    const redo = await rekeyPrefix(racedOld, newRing);
    assert.equal(redo.conflicts, 1);
    assert.equal(redo.rewritten, 1);
    assert.equal(decode(await new EncryptedObjectStore(racedOld, newRing).get('manifest/latest')), 'newer, old key');
    assert.equal(envelopeKeyId((await racedOld.get('manifest/latest')) as Uint8Array), 1);

    // The object is collected meanwhile: fine.
    const gone: RaceOnce = new RaceOnce('wal/1', async (): Promise<void> => gone.delete('wal/1'));
    await new EncryptedObjectStore(gone, oldRing).put('wal/1', text('old'));
    const vanished = await rekeyPrefix(gone, newRing);
    assert.equal(vanished.vanished, 1);
    assert.equal(vanished.remainingOnOldKeys, 0);
    assert.equal(await gone.get('wal/1'), undefined, 'rekey never re-creates a deleted object');
  });

  it('under concurrent putIfMatch read-modify-writes and plain puts, leaves nothing on the old key and loses no write', async () => {
    const base = new InMemoryObjectStore();
    // Latency on every request, so rekey and the writers interleave between reads and writes.
    const raw = new FaultInjectingObjectStore(base, { random: new SeededRandom(77), timers: new SystemClock({ keepAlive: true }), faults: { latencyMs: { min: 0, max: 2 } } });
    const keys = Array.from({ length: 40 }, (_, i) => `obj/${String(i).padStart(3, '0')}`);
    const old = new EncryptedObjectStore(base, oldRing);
    for (const key of keys) await old.put(key, text(`${key}:`));

    // Writers already run with the new keyring (step 2 of the rotation procedure).
    const node = new EncryptedObjectStore(raw, newRing);
    const appended = new Map<string, string[]>(keys.map((k) => [k, []]));
    const plainPuts = new Map<string, string>();
    const ops = new SeededRandom(5);
    let stop = false;
    const casWriter = async (w: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const key = keys[ops.int(8)] as string; // a hot set of keys, to force conflicts
        for (;;) {
          const got = await node.getWithVersion(key);
          assert.ok(got !== undefined);
          try {
            await node.putIfMatch(key, text(`${decode(got.body)}w${w}.${n},`), got.version);
            (appended.get(key) as string[]).push(`w${w}.${n}`);
            break;
          } catch (error) {
            if (!(error instanceof PreconditionFailedError)) throw error;
          }
        }
      }
    };
    const putWriter = async (): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const key = `plain/${ops.int(10)}`;
        const value = `put ${n}`;
        await node.put(key, text(value));
        plainPuts.set(key, value);
      }
    };
    const writers = [casWriter(1), casWriter(2), casWriter(3), putWriter()];
    const result = await rekeyPrefix(raw, newRing, { concurrency: 4 });
    stop = true;
    await Promise.all(writers);

    assert.equal(result.remainingOnOldKeys, 0);
    assert.ok(result.conflicts > 0, 'the workload should make rekey lose at least one race');
    for (const [key, id] of await keyIds(base)) assert.equal(id, 1, `${key} is on key ${id}`);
    const reader = new EncryptedObjectStore(base, new Keyring(key1));
    for (const key of keys) {
      const body = decode(await reader.get(key)) as string;
      const expected = `${key}:${(appended.get(key) as string[]).map((a) => `${a},`).join('')}`;
      assert.equal(body, expected, `a write to ${key} was lost`);
    }
    for (const [key, value] of plainPuts) assert.equal(decode(await reader.get(key)), value);
    assert.ok([...appended.values()].some((a) => a.length > 0));
  });

  it('leaves plaintext objects, unknown key ids and damaged objects alone and reports them', async () => {
    const raw = new InMemoryObjectStore();
    await raw.put('plain', text('plaintext'));
    await new EncryptedObjectStore(raw, new Keyring({ id: 7, bytes: new Uint8Array(32).fill(7), source: 'lost key' })).put('lost', text('x'));
    await new EncryptedObjectStore(raw, oldRing).put('ok', text('fine'));
    const damaged = (await new EncryptedObjectStore(raw, oldRing).put('bad', text('will be damaged')), (await raw.get('bad')) as Uint8Array);
    damaged[20] = (damaged[20] as number) ^ 1;
    await raw.put('bad', damaged);
    const result = await rekeyPrefix(raw, newRing);
    assert.equal(result.rewritten, 1);
    assert.equal(result.remainingOnOldKeys, 3);
    assert.deepEqual(result.left.map((l) => [l.key, l.keyId]), [['bad', 0], ['lost', 7], ['plain', undefined]]);
    assert.match(result.left[1]?.reason ?? '', /unknown-key-id/);
    assert.match(result.left[2]?.reason ?? '', /not encrypted/);
    assert.equal(decode(await raw.get('plain')), 'plaintext', 'never touched');
    assert.match(describeRekeyResult(result, newRing), /3 objects are not on key id 1 .*keep the old keys/);
  });
});
