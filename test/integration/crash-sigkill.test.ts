/**
 * Process crashes: concurrent writers against the built `t4 run`, SIGKILL at a random moment,
 * restart on the same data dir, and check that every acknowledged write is there with the
 * revision it was acknowledged at, and that revisions never go backwards. T4_CRASH_CYCLES sets
 * the number of cycles (default 50). The seed is printed so a failure can be replayed
 * (T4_CRASH_SEED).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fromUtf8, prefixEnd, utf8 } from '../../src/domain/bytes.js';
import { EtcdGrpcClient } from '../support/etcd-grpc-client.js';
import { SeededRandom } from '../support/seeded-random.js';
import { startT4, type T4Process } from '../support/t4-process.js';

const CYCLES = Number(process.env['T4_CRASH_CYCLES'] ?? 50);
const SEED = Number(process.env['T4_CRASH_SEED'] ?? Date.now() % 1_000_000);
const WRITERS = 8;

interface Acked {
  key: string;
  value: string;
  revision: number;
}

describe('SIGKILL during concurrent writes', () => {
  let t4: T4Process | undefined;
  after(async () => {
    await t4?.cleanup();
  });

  it(`loses no acknowledged write over ${CYCLES} kill -9 cycles (seed ${SEED})`, async () => {
    const random = new SeededRandom(SEED);
    const acked = new Map<string, Acked>();
    let highestSeen = 1;
    let dataDir: string | undefined;
    let counter = 0;
    /** The last value sent for each key (acknowledged or not). */
    const inflight = new Map<string, string>();

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      t4 = await startT4(dataDir === undefined ? {} : { dataDir });
      dataDir = t4.dataDir;
      const client = new EtcdGrpcClient(t4.endpoint, { deadlineMs: 5_000 });

      // Everything acknowledged so far is there, at its revision.
      const status = await client.status();
      const revision = Number(status.header?.revision);
      assert.ok(revision >= highestSeen, `cycle ${cycle}: revision went back from ${highestSeen} to ${revision}`);
      const all = await client.range({ key: utf8('w/'), rangeEnd: prefixEnd(utf8('w/')) });
      const present = new Map(all.kvs.map((kv) => [fromUtf8(kv.key), kv]));
      for (const a of acked.values()) {
        const kv = present.get(a.key);
        assert.ok(kv !== undefined, `cycle ${cycle}: acknowledged ${a.key}@${a.revision} is missing`);
        const rev = Number(kv.modRevision);
        if (rev === a.revision) {
          assert.equal(fromUtf8(kv.value), a.value, `cycle ${cycle}: ${a.key}@${rev} has the wrong value`);
        } else {
          // Only a later write to the key, sent but not acknowledged before the kill, may replace it.
          assert.ok(rev > a.revision, `cycle ${cycle}: ${a.key} went back from ${a.revision} to ${rev}`);
          assert.equal(fromUtf8(kv.value), inflight.get(a.key), `cycle ${cycle}: ${a.key}@${rev} holds a value never written`);
          acked.set(a.key, { key: a.key, value: fromUtf8(kv.value), revision: rev });
        }
      }
      highestSeen = revision;

      // Writers run until the process dies under them.
      let stop = false;
      const writer = async (w: number) => {
        while (!stop) {
          const key = `w/${w}/${counter++ % 40}`;
          const value = `${cycle}:${counter}`;
          inflight.set(key, value);
          try {
            const res = await client.put({ key: utf8(key), value: utf8(value) });
            const rev = Number(res.header?.revision);
            acked.set(key, { key, value, revision: rev });
            if (rev > highestSeen) highestSeen = rev;
          } catch {
            return; // killed: this write was not acknowledged
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 50 + random.int(300)));
      await t4.kill9();
      stop = true;
      await Promise.all(writers);
      client.close();
    }
    assert.ok(acked.size > 0, 'some writes were acknowledged');
  });
});
