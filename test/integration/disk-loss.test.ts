/**
 * Losing the disk: `t4 run` with an object store as its durable layer, concurrent writers, then the
 * process is killed, its data dir deleted, and a new process started on an empty data dir with the
 * same flags. Every acknowledged write must come back from the object store with its value at the
 * revision it was acknowledged at, and revisions never go back.
 *
 *  1. sync upload (the default), SIGKILL, 3 cycles;
 *  2. sync upload, the object store refuses connections (a TCP proxy in front of it), first for 2 s,
 *     then for longer than T4's write timeout (7 s): no write is acknowledged while the store is
 *     down, none goes unanswered, writes held past the timeout fail with UNAVAILABLE (`etcdserver:
 *     request timed out`, or the store is unavailable) and are indeterminate, and writes succeed
 *     again once the store is back, without a restart; then SIGKILL and restore. (A 2 s outage is
 *     shorter than the write timeout: the writes in flight wait and are acknowledged after it.)
 *  3. async upload (`--wal-sync-upload=false`, 1 s segments), SIGTERM while writing: the graceful
 *     stop uploads the last segment, so every acknowledged write survives the disk.
 *
 * Runs on MinIO (test/support/minio.ts) and on fake-gcs-server (test/support/fake-gcs.ts); each is
 * skipped, or failed under T4_REQUIRE_EXTERNAL=1, when it is missing. T4_DISK_LOSS_SEED replays the writers' timing.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { fromUtf8, prefixEnd, utf8 } from '../../src/domain/bytes.js';
import { DEFAULT_LIMITS } from '../../src/domain/limits.js';
import { sleep } from '../support/child-process.js';
import { EtcdGrpcClient, EtcdGrpcError } from '../support/etcd-grpc-client.js';
import { findFakeGcs, startFakeGcs, type FakeGcsServer } from '../support/fake-gcs.js';
import { findMinio, startMinio, type MinioServer } from '../support/minio.js';
import { SeededRandom } from '../support/seeded-random.js';
import { startT4, type T4Process } from '../support/t4-process.js';
import { startTcpFaultProxy, type TcpFaultProxy } from '../support/tcp-fault-proxy.js';

const SEED = Number(process.env['T4_DISK_LOSS_SEED'] ?? Date.now() % 1_000_000);
const WRITERS = 8;
const KEYS_PER_WRITER = 40;
const KEY_PREFIX = 'dl/';
/** Client deadline: far above any answer T4 should give, so a hang shows as a client-side deadline. */
const CLIENT_DEADLINE_MS = 60_000;
/** T4's write timeout (DEFAULT_LIMITS.writeRequestTimeoutMs): a write held longer gets `request timed out`. */
const WRITE_TIMEOUT_MS = DEFAULT_LIMITS.writeRequestTimeoutMs;
/** The longest a write may take to be answered (acknowledged or failed) while the store is down. */
const ANSWER_MS_MAX = WRITE_TIMEOUT_MS + 5_000;
const SHORT_OUTAGE_MS = 2_000;
const LONG_OUTAGE_MS = WRITE_TIMEOUT_MS + 2_000;
/** An upload that finished just before the outage may be acknowledged a moment after it started. */
const OUTAGE_ACK_GRACE_MS = 250;
const START_TIMEOUT_MS = 60_000;

/** An object store T4 can run on, as `t4 run` flags. */
interface StoreUnderTest {
  readonly name: string;
  /** host and port of the server, for a proxy in front of it. */
  target(): { host: string; port: number };
  /** `t4 run` flags for `prefix` in the test bucket, through `endpoint` (default: the server). */
  flags(prefix: string, endpoint?: string): string[];
}

interface Write {
  readonly key: string;
  readonly value: string;
  readonly startedMs: number;
  endedMs?: number;
  /** The revision of the acknowledgement. */
  revision?: number;
  /** Why it failed: indeterminate, it may or may not be there later. */
  error?: { codeName: string; details: string };
}

/** Every write sent, per key in the order sent (each key has one writer, so per-key order is total). */
class History {
  readonly writes: Write[] = [];
  private readonly byKey = new Map<string, Write[]>();
  private counter = 0;

  begin(writer: number, cycle: number): Write {
    const n = this.counter++;
    const key = `${KEY_PREFIX}${writer}/${n % KEYS_PER_WRITER}`;
    const write: Write = { key, value: `c${cycle}:w${writer}:n${n}`, startedMs: performance.now() };
    this.writes.push(write);
    let list = this.byKey.get(key);
    if (list === undefined) this.byKey.set(key, (list = []));
    list.push(write);
    return write;
  }

  acked(): Write[] {
    return this.writes.filter((w) => w.revision !== undefined);
  }

  highestAcked(): number {
    return this.writes.reduce((max, w) => Math.max(max, w.revision ?? 0), 1);
  }

  keys(): IterableIterator<[string, Write[]]> {
    return this.byKey.entries();
  }
}

/** Writers put to their own keys until `stop()` says so; with `stopOnError` the first failure ends a writer. */
function runWriters(client: EtcdGrpcClient, history: History, cycle: number, opts: { stop: () => boolean; stopOnError: boolean }): Promise<void[]> {
  const writer = async (w: number): Promise<void> => {
    while (!opts.stop()) {
      const write = history.begin(w, cycle);
      try {
        const res = await client.put({ key: utf8(write.key), value: utf8(write.value) });
        write.revision = Number(res.header?.revision);
      } catch (err) {
        write.error = err instanceof EtcdGrpcError ? { codeName: err.codeName, details: err.details } : { codeName: 'NOT_GRPC', details: String(err) };
        if (opts.stopOnError) return;
        await sleep(20); // the store is down: do not spin on fast refusals
      } finally {
        write.endedMs = performance.now();
      }
    }
  };
  return Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Checks a freshly restored node against everything written so far: its revision is at least the
 * highest acknowledged one; every acknowledged write reads back at its revision; each key's current
 * value is its last acknowledged write or one sent after it (indeterminate); revisions are unique.
 */
async function checkRestored(client: EtcdGrpcClient, history: History, label: string): Promise<number> {
  const status = await client.status();
  const revision = Number(status.header?.revision);
  const highest = history.highestAcked();
  assert.ok(revision >= highest, `${label}: the restored node is at revision ${revision}, below the acknowledged ${highest}`);

  const acked = history.acked();
  const revisions = new Set(acked.map((w) => w.revision));
  assert.equal(revisions.size, acked.length, `${label}: two acknowledged writes share a revision`);

  const problems: string[] = [];
  await eachLimit(acked, 16, async (w) => {
    const res = await client.range({ key: utf8(w.key), revision: BigInt(w.revision!) });
    const kv = res.kvs[0];
    if (kv === undefined) problems.push(`${w.key}=${w.value}@${w.revision} is missing at its revision`);
    else if (Number(kv.modRevision) !== w.revision || fromUtf8(kv.value) !== w.value) {
      problems.push(`${w.key}=${w.value}@${w.revision} reads as ${fromUtf8(kv.value)}@${kv.modRevision}`);
    }
  });
  assert.deepEqual(problems.slice(0, 20), [], `${label}: ${problems.length} of ${acked.length} acknowledged writes are wrong after the restore`);

  const all = await client.range({ key: utf8(KEY_PREFIX), rangeEnd: prefixEnd(utf8(KEY_PREFIX)) });
  const present = new Map(all.kvs.map((kv) => [fromUtf8(kv.key), kv]));
  const modRevisions = new Set(all.kvs.map((kv) => kv.modRevision));
  assert.equal(modRevisions.size, all.kvs.length, `${label}: two keys were written at the same revision`);
  for (const [key, writes] of history.keys()) {
    let lastAcked = -1;
    writes.forEach((w, i) => {
      if (w.revision !== undefined) lastAcked = i;
    });
    const kv = present.get(key);
    const possible = writes.slice(Math.max(lastAcked, 0)).map((w) => w.value);
    if (lastAcked < 0) {
      if (kv !== undefined) assert.ok(possible.includes(fromUtf8(kv.value)), `${label}: ${key} holds ${fromUtf8(kv.value)}, never written`);
      continue;
    }
    const last = writes[lastAcked]!;
    assert.ok(kv !== undefined, `${label}: ${key} is gone (last acknowledged ${last.value}@${last.revision})`);
    const rev = Number(kv.modRevision);
    assert.ok(rev >= last.revision!, `${label}: ${key} went back from ${last.revision} to ${rev}`);
    if (rev === last.revision) assert.equal(fromUtf8(kv.value), last.value, `${label}: ${key}@${rev} has the wrong value`);
    else assert.ok(possible.includes(fromUtf8(kv.value)), `${label}: ${key}@${rev} holds ${fromUtf8(kv.value)}, not a write sent after ${last.value}@${last.revision}`);
  }
  return revision;
}

/** A fresh node on a new, empty data dir (removed by cleanup()). */
function startNode(flags: string[]): Promise<T4Process> {
  return startT4({ args: flags, startTimeoutMs: START_TIMEOUT_MS });
}

function describeStore(availability: { skip: string | false }, name: string, start: () => Promise<{ store: StoreUnderTest; stop: () => Promise<void> }>): void {
  describe(`disk loss on ${name}`, { skip: availability.skip }, () => {
    let store: StoreUnderTest;
    let stopStore: (() => Promise<void>) | undefined;
    const nodes = new Set<T4Process>();
    const proxies = new Set<TcpFaultProxy>();
    const node = async (flags: string[]): Promise<T4Process> => {
      const t4 = await startNode(flags);
      nodes.add(t4);
      return t4;
    };
    /** SIGKILLs `t4` and deletes its data dir: the disk is gone. */
    const loseDisk = async (t4: T4Process): Promise<void> => {
      await t4.cleanup();
      nodes.delete(t4);
    };

    before(async () => {
      ({ store, stop: stopStore } = await start());
    });
    after(async () => {
      for (const t4 of nodes) await t4.cleanup();
      for (const p of proxies) await p.close();
      await stopStore?.();
    });

    it(`SIGKILL and a lost disk, 3 cycles, sync upload: no acknowledged write is lost (seed ${SEED})`, async () => {
      const random = new SeededRandom(SEED);
      const flags = store.flags(`disk-loss-kill-${SEED}-${Date.now()}`);
      const history = new History();
      for (let cycle = 0; cycle < 3; cycle++) {
        const t4 = await node(flags);
        const client = new EtcdGrpcClient(t4.endpoint, { deadlineMs: CLIENT_DEADLINE_MS });
        try {
          await checkRestored(client, history, `cycle ${cycle} start`);
          let stop = false;
          const writers = runWriters(client, history, cycle, { stop: () => stop, stopOnError: true });
          await sleep(1_500 + random.int(1_500));
          await t4.kill9();
          stop = true;
          await writers;
        } finally {
          client.close();
        }
        await loseDisk(t4);
      }
      const t4 = await node(flags);
      const client = new EtcdGrpcClient(t4.endpoint, { deadlineMs: CLIENT_DEADLINE_MS });
      try {
        await checkRestored(client, history, 'after the last cycle');
      } finally {
        client.close();
      }
      assert.ok(history.acked().length > 0, 'some writes were acknowledged');
      await loseDisk(t4);
    });

    it(`the object store refuses connections for ${SHORT_OUTAGE_MS} ms, then ${LONG_OUTAGE_MS} ms: writes wait or fail, then resume; SIGKILL and a lost disk lose nothing`, async () => {
      const target = store.target();
      const proxy = await startTcpFaultProxy(target.host, target.port);
      proxies.add(proxy);
      const flags = store.flags(`disk-loss-outage-${SEED}-${Date.now()}`, proxy.endpoint);
      const history = new History();
      const t4 = await node(flags);
      const client = new EtcdGrpcClient(t4.endpoint, { deadlineMs: CLIENT_DEADLINE_MS });
      const outages: Outage[] = [];
      try {
        let stop = false;
        const writers = runWriters(client, history, 0, { stop: () => stop, stopOnError: false });
        await sleep(1_500);
        outages.push(await outage(proxy, history, SHORT_OUTAGE_MS));
        await sleep(1_500);
        outages.push(await outage(proxy, history, LONG_OUTAGE_MS));
        await sleep(1_500);
        stop = true;
        await writers;
        const summary = summarize(history, outages, t4);

        assert.ok(history.writes.some((w) => w.startedMs < outages[0]!.startMs && w.revision !== undefined), `writes were acknowledged before the outages\n${summary}`);
        for (const o of outages) {
          assert.ok(o.resumedAtMs !== undefined, `no write sent after the ${o.durationMs} ms outage was acknowledged within ${ANSWER_MS_MAX} ms\n${summary}`);
          const ackedInOutage = history.writes.filter((w) => w.revision !== undefined && w.endedMs! > o.startMs + OUTAGE_ACK_GRACE_MS && w.endedMs! < o.endMs);
          assert.deepEqual(ackedInOutage.map(show), [], `writes acknowledged while the object store was refusing connections (${o.durationMs} ms outage)\n${summary}`);
        }
        const slow = history.writes.filter((w) => w.endedMs! - w.startedMs > ANSWER_MS_MAX);
        assert.deepEqual(slow.map(show), [], `writes left unanswered for over ${ANSWER_MS_MAX} ms\n${summary}`);
        const failed = history.writes.filter((w) => w.error !== undefined);
        const badErrors = failed.filter((w) => w.error!.codeName !== 'UNAVAILABLE');
        assert.deepEqual(badErrors.map(show), [], `writes failed with something other than UNAVAILABLE (request timed out / store unavailable)\n${summary}`);
        const long = outages[1]!;
        assert.ok(failed.some((w) => w.startedMs < long.endMs && w.endedMs! > long.startMs), `no write failed during the ${long.durationMs} ms outage, longer than the ${WRITE_TIMEOUT_MS} ms write timeout\n${summary}`);
        // Once a write sent after an outage is acknowledged, writes succeed until the next outage.
        const failedAfterResume = history.writes.filter(
          (w) => w.error !== undefined && outages.some((o, i) => w.startedMs >= o.resumedAtMs! && w.endedMs! < (outages[i + 1]?.startMs ?? Infinity)),
        );
        assert.deepEqual(failedAfterResume.map(show), [], `writes failed after writing had resumed\n${summary}`);
      } finally {
        client.close();
      }
      await loseDisk(t4);

      const restored = await node(flags);
      const check = new EtcdGrpcClient(restored.endpoint, { deadlineMs: CLIENT_DEADLINE_MS });
      try {
        await checkRestored(check, history, 'after the outages and a lost disk');
      } finally {
        check.close();
      }
      await loseDisk(restored);
    });

    it('async upload, SIGTERM while writing, then a lost disk: the graceful stop uploaded every acknowledged write', async () => {
      const flags = [...store.flags(`disk-loss-async-${SEED}-${Date.now()}`), '--wal-sync-upload=false', '--segment-max-age-sec', '1'];
      const history = new History();
      for (let cycle = 0; cycle < 2; cycle++) {
        const t4 = await node(flags);
        const client = new EtcdGrpcClient(t4.endpoint, { deadlineMs: CLIENT_DEADLINE_MS });
        try {
          await checkRestored(client, history, `async cycle ${cycle} start`);
          let stop = false;
          const writers = runWriters(client, history, cycle, { stop: () => stop, stopOnError: true });
          await sleep(2_500);
          const exit = await t4.stop('SIGTERM');
          stop = true;
          await writers;
          assert.deepEqual(exit, { code: 0, signal: null }, `graceful stop\n${t4.logs().slice(-5_000)}`);
        } finally {
          client.close();
        }
        await loseDisk(t4);
      }
      const t4 = await node(flags);
      const client = new EtcdGrpcClient(t4.endpoint, { deadlineMs: CLIENT_DEADLINE_MS });
      try {
        await checkRestored(client, history, 'async, after the last graceful stop');
      } finally {
        client.close();
      }
      assert.ok(history.acked().length > 0, 'some writes were acknowledged');
      await loseDisk(t4);
    });
  });
}

function show(w: Write): string {
  const outcome = w.revision !== undefined ? `@${w.revision}` : `${w.error?.codeName}: ${w.error?.details}`;
  return `${w.key}=${w.value} ${Math.round(w.startedMs)}..${Math.round(w.endedMs ?? -1)} ms ${outcome}`;
}

interface Outage {
  readonly durationMs: number;
  readonly startMs: number;
  readonly endMs: number;
  /** When the first write sent after the outage that was acknowledged was sent. */
  readonly resumedAtMs: number | undefined;
}

/** Refuses connections to the store for `durationMs`, then waits (at most ANSWER_MS_MAX) for writes to resume. */
async function outage(proxy: TcpFaultProxy, history: History, durationMs: number): Promise<Outage> {
  const startMs = performance.now();
  proxy.setMode('refuse');
  await sleep(durationMs);
  proxy.setMode('pass');
  const endMs = performance.now();
  let resumedAtMs: number | undefined;
  while (resumedAtMs === undefined && performance.now() < endMs + ANSWER_MS_MAX) {
    resumedAtMs = history.writes.find((w) => w.startedMs > endMs && w.revision !== undefined)?.startedMs;
    if (resumedAtMs === undefined) await sleep(50);
  }
  return { durationMs, startMs, endMs, resumedAtMs };
}

/** Counts of writes per phase and outcome (errors by text), and the node's log tail, for failure messages. */
function summarize(history: History, outages: readonly Outage[], t4: T4Process): string {
  const phase = (w: Write): string => {
    let name = 'before the outages';
    for (const [i, o] of outages.entries()) {
      if (w.startedMs >= o.startMs) name = w.startedMs < o.endMs ? `during outage ${i + 1}` : `after outage ${i + 1}`;
    }
    return name;
  };
  const counts = new Map<string, { n: number; msMax: number }>();
  for (const w of history.writes) {
    const outcome = w.revision !== undefined ? 'acked' : w.error !== undefined ? `failed (${w.error.codeName}: ${w.error.details})` : 'unanswered';
    const k = `sent ${phase(w)}, ${outcome}`;
    const c = counts.get(k) ?? { n: 0, msMax: 0 };
    counts.set(k, { n: c.n + 1, msMax: Math.max(c.msMax, Math.round((w.endedMs ?? performance.now()) - w.startedMs)) });
  }
  const lines = outages.map((o, i) => `outage ${i + 1}: ${Math.round(o.startMs)}..${Math.round(o.endMs)} ms, resumed ${o.resumedAtMs === undefined ? 'never' : `at ${Math.round(o.resumedAtMs)} ms`}`);
  for (const [k, c] of counts) lines.push(`${k}: ${c.n} (slowest ${c.msMax} ms)`);
  return `${lines.join('\n')}\n--- t4 log tail ---\n${t4.logs().slice(-4_000)}`;
}

const MINIO_BUCKET = 't4-disk-loss';
const minio = await findMinio();
describeStore(minio, 'MinIO', async () => {
  const server: MinioServer = await startMinio(minio);
  await server.createBucket(MINIO_BUCKET);
  const url = new URL(server.endpoint);
  return {
    store: {
      name: 'MinIO',
      target: () => ({ host: url.hostname, port: Number(url.port) }),
      flags: (prefix, endpoint = server.endpoint) => [
        '--s3-bucket', MINIO_BUCKET,
        '--s3-prefix', prefix,
        '--s3-endpoint', endpoint,
        '--s3-region', server.region,
        '--s3-access-key-id', server.accessKeyId,
        '--s3-secret-access-key', server.secretAccessKey,
      ],
    },
    stop: () => server.stop(),
  };
});

const GCS_BUCKET = 't4-disk-loss';
const fakeGcs = await findFakeGcs();
describeStore(fakeGcs, 'fake-gcs-server', async () => {
  const server: FakeGcsServer = await startFakeGcs(fakeGcs);
  await server.createBucket(GCS_BUCKET);
  const url = new URL(server.endpoint);
  return {
    store: {
      name: 'fake-gcs-server',
      target: () => ({ host: url.hostname, port: Number(url.port) }),
      flags: (prefix, endpoint = server.endpoint) => ['--gcs-bucket', GCS_BUCKET, '--gcs-prefix', prefix, '--gcs-endpoint', endpoint],
    },
    stop: () => server.stop(),
  };
});
