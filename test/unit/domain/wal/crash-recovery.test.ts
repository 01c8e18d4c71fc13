/**
 * Power-loss recovery, seeded: a workload of concurrent writes runs through the real write
 * pipeline and WAL on a disk model that loses every byte not covered by a completed fdatasync and
 * tears the rest (FaultInjectingWalFiles), and on a store model that keeps any prefix of its
 * applied batches at least up to its last durable checkpoint (SQLite with synchronous=NORMAL).
 * The power is cut after a random number of disk operations; then recovery runs and we check:
 *  - every acknowledged write is present, at its revision;
 *  - the store equals, at every revision, the sequential application of the batches written,
 *    up to the recovered revision (so nothing is half-applied and nothing unwritten appears);
 *  - the recovered node takes new writes, and a second clean restart changes nothing.
 * A disk that acknowledges fdatasync without syncing must be caught (last test).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaultInjectingWalFiles } from '../../../../src/adapters/memory/fault-injecting-wal-files.js';
import { InMemoryMvccBackend } from '../../../../src/adapters/memory/in-memory-mvcc-backend.js';
import { Crc32cChecksum } from '../../../../src/adapters/node/crc32c.js';
import { utf8 } from '../../../../src/domain/bytes.js';
import { KvService } from '../../../../src/domain/mvcc/kv-service.js';
import { Compactor } from '../../../../src/domain/mvcc/compactor.js';
import { DEFAULT_LIMITS } from '../../../../src/domain/limits.js';
import type { CommittedBatch, KeyValue } from '../../../../src/domain/mvcc/types.js';
import { replayWal } from '../../../../src/domain/wal/replay.js';
import { recoverWal, WalLog } from '../../../../src/domain/wal/wal-log.js';
import { WritePipeline } from '../../../../src/domain/write/write-pipeline.js';
import type { BatchLog } from '../../../../src/ports/batch-log.js';
import type { Logger } from '../../../../src/ports/logger.js';
import type { WalFile, WalFiles } from '../../../../src/ports/wal-files.js';
import { SeededRandom } from '../../../support/seeded-random.js';
import { VirtualClock } from '../../../../src/adapters/memory/virtual-clock.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const checksum = new Crc32cChecksum();
const yieldNow = { yield: () => new Promise<void>((r) => setImmediate(r)) };
const SEEDS = Number(process.env['T4_CRASH_SEEDS'] ?? 2000);

/** Applied batches of a store that may lose those after its last durable checkpoint. */
class CrashableStore {
  readonly applied: CommittedBatch[] = [];
  durableCount = 0;
  backend = new InMemoryMvccBackend();

  constructor(batches: readonly CommittedBatch[] = []) {
    for (const b of batches) this.backend.apply(b);
    this.applied.push(...batches);
    this.durableCount = batches.length;
    const apply = this.backend.apply.bind(this.backend);
    this.backend.apply = (b) => {
      apply(b);
      this.applied.push(b);
    };
    this.backend.durableCheckpoint = () => {
      this.durableCount = this.applied.length;
      return Promise.resolve(this.backend.currentRevision());
    };
  }

  crash(random: SeededRandom): CrashableStore {
    const kept = this.durableCount + random.int(this.applied.length - this.durableCount + 1);
    return new CrashableStore(this.applied.slice(0, kept));
  }
}

/** Records every batch handed to the WAL (the candidates for being durable). */
class RecordingLog implements BatchLog {
  readonly attempted: CommittedBatch[] = [];
  constructor(private readonly inner: BatchLog) {}
  async append(batch: CommittedBatch): Promise<void> {
    this.attempted.push(batch);
    await this.inner.append(batch);
  }
}

interface Opened {
  kv: KvService;
  pipeline: WritePipeline;
  wal: WalLog;
  log: RecordingLog;
}

async function openNode(files: WalFiles, store: CrashableStore, segmentBytesMax: number): Promise<Opened> {
  const recovered = await recoverWal(files, checksum, silent);
  replayWal(recovered.batches, store.backend, silent);
  const wal = await WalLog.start(files, checksum, { segmentBytesMax, term: 1n }, silent, recovered, store.backend.currentRevision(), () =>
    store.backend.durableCheckpoint(),
  );
  const log = new RecordingLog(wal);
  const pipeline = new WritePipeline(store.backend, [log], { queueRequestsMax: 1000, batchRequestsMax: 16, requestTimeoutMs: 7_000 }, new VirtualClock(), silent);
  const compactor = new Compactor(store.backend, yieldNow, 100, silent);
  const kv = new KvService(store.backend, pipeline, compactor, { leaseExists: () => false }, DEFAULT_LIMITS);
  return { kv, pipeline, wal, log };
}

interface Acked {
  revision: number;
  key: string;
  value: string | undefined; // undefined: deleted
}

/** Random concurrent writes until the power is cut; returns the acknowledged ones. */
async function workload(node: Opened, random: SeededRandom, rounds: number): Promise<Acked[]> {
  const acked: Acked[] = [];
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (let round = 0; round < rounds; round++) {
    const inflight: Promise<void>[] = [];
    const n = 1 + random.int(6);
    for (let i = 0; i < n; i++) {
      const key = random.pick(keys);
      const value = `${key}-${round}-${i}-${random.int(1e6)}`;
      const kind = random.int(10);
      if (kind < 6) {
        inflight.push(node.kv.put({ key: utf8(key), value: utf8(value) }).then((r) => void acked.push({ revision: r.revision, key, value })));
      } else if (kind < 8) {
        inflight.push(
          node.kv.deleteRange({ key: utf8(key) }).then((r) => {
            if (r.result.deleted > 0) acked.push({ revision: r.revision, key, value: undefined });
          }),
        );
      } else {
        // A txn writing two keys at one revision: must never be half-applied.
        const other = random.pick(keys.filter((k) => k !== key));
        inflight.push(
          node.kv
            .txn({
              compare: [{ key: utf8(key), target: 'version', result: 'greater', operand: { case: 'version', value: -1n } }],
              success: [
                { kind: 'put', request: { key: utf8(key), value: utf8(value) } },
                { kind: 'put', request: { key: utf8(other), value: utf8(`${value}/pair`) } },
              ],
              failure: [],
            })
            .then((r) => {
              acked.push({ revision: r.revision, key, value }, { revision: r.revision, key: other, value: `${value}/pair` });
            }),
        );
      }
    }
    const settled = await Promise.allSettled(inflight);
    if (settled.some((s) => s.status === 'rejected')) break; // the power is out
  }
  return acked;
}

function modelAt(batches: readonly CommittedBatch[], revision: number): Map<string, KeyValue> {
  const model = new Map<string, KeyValue>();
  for (const b of batches) {
    for (const c of b.changes) {
      if (c.main > revision) continue;
      const k = new TextDecoder().decode(c.kv.key);
      if (c.kind === 'put') model.set(k, c.kv);
      else model.delete(k);
    }
  }
  return model;
}

function storeAt(backend: InMemoryMvccBackend, revision: number): Map<string, KeyValue> {
  const out = new Map<string, KeyValue>();
  for (const kv of backend.range({ kind: 'fromKey', key: new Uint8Array([0]) }, revision, 0)) out.set(new TextDecoder().decode(kv.key), kv);
  return out;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Runs one seeded crash case; returns the violations found (empty = recovery was correct). */
async function crashCase(seed: number, wrapFiles: (f: FaultInjectingWalFiles) => WalFiles = (f) => f): Promise<string[]> {
  const random = new SeededRandom(seed);
  const disk = new FaultInjectingWalFiles();
  const files = wrapFiles(disk);
  const segmentBytesMax = 200 + random.int(2000);
  let store = new CrashableStore();
  const first = await openNode(files, store, segmentBytesMax);
  disk.powerCutAfter(3 + random.int(80));
  const acked = await workload(first, random, 30);
  const attempted = first.log.attempted;
  await first.pipeline.close();

  disk.crash(random);
  store = store.crash(random);
  const violations: string[] = [];
  let second: Opened;
  try {
    second = await openNode(files, store, segmentBytesMax);
  } catch (error) {
    return [`seed ${seed}: recovery failed: ${(error as Error).message}`];
  }
  const recoveredRevision = store.backend.currentRevision();
  const maxAcked = Math.max(1, ...acked.map((a) => a.revision));
  if (recoveredRevision < maxAcked) violations.push(`seed ${seed}: recovered revision ${recoveredRevision} < acknowledged ${maxAcked}`);
  for (const a of acked) {
    if (a.revision > recoveredRevision) continue;
    const at = storeAt(store.backend, a.revision).get(a.key);
    const got = at === undefined ? undefined : text(at.value);
    if (got !== a.value) violations.push(`seed ${seed}: acknowledged ${a.key}=${a.value}@${a.revision} reads ${got}`);
  }
  const written = attempted.filter((b) => b.toRevision <= recoveredRevision);
  for (let rev = 1; rev <= recoveredRevision; rev++) {
    const want = modelAt(written, rev);
    const got = storeAt(store.backend, rev);
    const wantText = JSON.stringify([...want].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, kv]) => [k, text(kv.value), kv.modRevision, kv.version, kv.createRevision]));
    const gotText = JSON.stringify([...got].map(([k, kv]) => [k, text(kv.value), kv.modRevision, kv.version, kv.createRevision]));
    if (wantText !== gotText) {
      violations.push(`seed ${seed}: state at revision ${rev} differs: want ${wantText} got ${gotText}`);
      break;
    }
  }
  // The recovered node writes on, and a clean restart replays to the same state.
  const next = await second.kv.put({ key: utf8('after'), value: utf8('crash') });
  if (next.revision !== recoveredRevision + 1) violations.push(`seed ${seed}: next write took ${next.revision}, want ${recoveredRevision + 1}`);
  await second.pipeline.close();
  await second.wal.close();
  const again = new CrashableStore(store.applied.slice(0, store.durableCount));
  await openNode(files, again, segmentBytesMax);
  if (again.backend.currentRevision() !== recoveredRevision + 1) {
    violations.push(`seed ${seed}: clean restart reached ${again.backend.currentRevision()}, want ${recoveredRevision + 1}`);
  }
  return violations;
}

describe('WAL recovery after power loss (seeded)', () => {
  it(`keeps every acknowledged write and never half-applies a batch, over ${SEEDS} crash points`, async () => {
    const violations: string[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) violations.push(...(await crashCase(seed)));
    assert.deepEqual(violations.slice(0, 10), []);
  });

  it('catches a disk that acknowledges fdatasync without syncing (the check has teeth)', async () => {
    const lying = (disk: FaultInjectingWalFiles): WalFiles => ({
      list: () => disk.list(),
      read: (n) => disk.read(n),
      remove: (n) => disk.remove(n),
      syncDir: () => disk.syncDir(),
      create: async (n) => lieAboutSync(await disk.create(n)),
      openAppend: async (n) => lieAboutSync(await disk.openAppend(n)),
    });
    let caught = 0;
    for (let seed = 1; seed <= 200; seed++) if ((await crashCase(seed, lying)).length > 0) caught++;
    assert.ok(caught > 20, `only ${caught} of 200 seeds noticed lost acknowledged writes`);
  });
});

function lieAboutSync(file: WalFile): WalFile {
  let synced = false;
  return {
    name: file.name,
    size: () => file.size(),
    append: (d) => file.append(d),
    truncate: (l) => file.truncate(l),
    // Syncs the segment header once (so segments exist), then pretends.
    sync: async () => {
      if (!synced) {
        synced = true;
        await file.sync();
      }
    },
    close: () => file.close(),
  };
}
