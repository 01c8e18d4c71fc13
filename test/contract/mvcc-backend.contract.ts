// The MvccBackend contract (src/ports/mvcc-backend.ts), run against every adapter by
// mvcc-backend.test.ts. Batches are built by a reference model (a list of versions per key) that
// also answers every read, so each backend is checked read by read against the model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvariantViolation } from '../../src/domain/assert.js';
import { bytesToMapKey, compareBytes, EMPTY_BYTES, prefixEnd, utf8 } from '../../src/domain/bytes.js';
import { keyRange, rangeContains, type KeyRange } from '../../src/domain/mvcc/key-range.js';
import {
  INITIAL_REVISION,
  NEVER_COMPACTED,
  type Change,
  type CommittedBatch,
  type KeyValue,
  type LeaseId,
  type Revision,
} from '../../src/domain/mvcc/types.js';
import type { MvccBackend } from '../../src/ports/mvcc-backend.js';
import type { AuthState } from '../../src/domain/auth/types.js';

export interface MvccBackendContractOptions {
  /** Closes `backend` and opens the same store again (persistent backends only). */
  readonly reopen?: (backend: MvccBackend) => MvccBackend;
  /** Number of history rows the backend keeps (versions and tombstones), to check purges exactly. */
  readonly historyRows?: (backend: MvccBackend) => number;
}

// ---- the reference model ----

export type ModelOp =
  | { readonly op: 'put'; readonly key: Uint8Array; readonly value: Uint8Array; readonly lease?: LeaseId }
  | { readonly op: 'delete'; readonly key: Uint8Array };

interface ModelVersion {
  readonly main: Revision;
  readonly kv: KeyValue | undefined;
}

/** MVCC as the port describes it, kept as simple as possible. */
export class MvccModel {
  private readonly keys = new Map<string, { key: Uint8Array; list: ModelVersion[] }>();
  current: Revision = INITIAL_REVISION;
  compacted: Revision = NEVER_COMPACTED;
  private sorted: Uint8Array[] | undefined;

  latest(key: Uint8Array): KeyValue | undefined {
    const list = this.keys.get(bytesToMapKey(key))?.list;
    return list?.[list.length - 1]?.kv;
  }

  at(key: Uint8Array, revision: Revision): KeyValue | undefined {
    const list = this.keys.get(bytesToMapKey(key))?.list ?? [];
    let found: KeyValue | undefined;
    for (const v of list) if (v.main <= revision) found = v.kv;
    return found;
  }

  range(range: KeyRange, revision: Revision, limit: number): KeyValue[] {
    const out: KeyValue[] = [];
    for (const key of this.sortedKeys()) {
      if (!rangeContains(range, key)) continue;
      const kv = this.at(key, revision);
      if (kv !== undefined) out.push(kv);
    }
    return limit > 0 ? out.slice(0, limit) : out;
  }

  /** Every key ever written, in byte order. */
  sortedKeys(): Uint8Array[] {
    this.sorted ??= [...this.keys.values()].map((e) => e.key).sort(compareBytes);
    return this.sorted;
  }

  liveKeys(): Uint8Array[] {
    return this.sortedKeys().filter((k) => this.latest(k) !== undefined);
  }

  /**
   * Builds the batch for `requests` (each request's ops share one main revision, one sub per op,
   * as the write pipeline produces) and applies it to the model. A delete names an existing key.
   */
  batch(requests: readonly (readonly ModelOp[])[], compactRevision?: Revision): CommittedBatch {
    return this.build((add) => requests.forEach(add), compactRevision);
  }

  /** Like `batch`, with the requests added one by one (each sees the ones added before it). */
  build(fill: (add: (ops: readonly ModelOp[]) => void) => void, compactRevision?: Revision): CommittedBatch {
    const fromRevision = this.current;
    const changes: Change[] = [];
    fill((ops) => {
      if (ops.length === 0) return;
      const main = this.current + 1;
      ops.forEach((op, sub) => {
        const prev = this.latest(op.key);
        if (op.op === 'put') {
          const kv: KeyValue = {
            key: op.key,
            value: op.value,
            lease: op.lease ?? 0n,
            modRevision: main,
            createRevision: prev === undefined ? main : prev.createRevision,
            version: prev === undefined ? 1 : prev.version + 1,
          };
          changes.push({ kind: 'put', main, sub, kv, prev });
          this.record(op.key, main, kv);
        } else {
          assert.ok(prev !== undefined, 'the model deletes existing keys only');
          const kv: KeyValue = { key: op.key, value: EMPTY_BYTES, lease: 0n, modRevision: main, createRevision: 0, version: 0 };
          changes.push({ kind: 'delete', main, sub, kv, prev });
          this.record(op.key, main, undefined);
        }
      });
      this.current = main;
    });
    if (compactRevision !== undefined) this.compacted = compactRevision;
    return { fromRevision, toRevision: this.current, changes, compactRevision };
  }

  /** History rows a backend needs to serve every read at revisions >= `compacted` (all rows if never compacted). */
  rowsNeeded(): number {
    const c = this.compacted;
    let n = 0;
    for (const { list } of this.keys.values()) {
      const newestAtOrBelow = list.filter((v) => v.main <= c).pop();
      // A tombstone at exactly C stays (a watch from C must see the deletion, etcd-io/etcd#18274).
      if (newestAtOrBelow !== undefined && (newestAtOrBelow.kv !== undefined || newestAtOrBelow.main === c)) n++;
      n += list.filter((v) => v.main > c).length;
    }
    return n;
  }

  private record(key: Uint8Array, main: Revision, kv: KeyValue | undefined): void {
    const mk = bytesToMapKey(key);
    let entry = this.keys.get(mk);
    if (entry === undefined) {
      entry = { key, list: [] };
      this.keys.set(mk, entry);
      this.sorted = undefined;
    }
    const last = entry.list[entry.list.length - 1];
    // A key changed twice at one revision (etcd allows it in a txn) is stored as its last change.
    if (last !== undefined && last.main === main) entry.list[entry.list.length - 1] = { main, kv };
    else entry.list.push({ main, kv });
  }
}

// ---- reads compared ----

const u = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);
const b = utf8;

/** Keys of the generated workloads: text, binary with 0x00 and 0xff, prefixes of each other. */
export const KEY_POOL: readonly Uint8Array[] = [
  b('a'),
  u(0x61, 0x00),
  b('ab'),
  b('b'),
  b('c/1'),
  b('c/2'),
  b('c/3'),
  u(0x80),
  u(0xff),
  u(0xff, 0xff),
];

function probeRanges(model: MvccModel): { label: string; range: KeyRange }[] {
  const out: { label: string; range: KeyRange }[] = [];
  const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');
  for (const key of [...model.sortedKeys(), b('zz-missing'), u(0x61, 0x00, 0x00)]) {
    out.push({ label: `single ${hex(key)}`, range: keyRange(key, undefined) });
  }
  for (const start of [u(0x00), b('a'), b('ab'), b('c/2'), u(0xff)]) {
    out.push({ label: `fromKey ${hex(start)}`, range: keyRange(start, u(0)) });
  }
  const intervals: [Uint8Array, Uint8Array][] = [
    [b('a'), b('b')],
    [u(0x61, 0x00), b('c/2')],
    [b('c/'), prefixEnd(b('c/'))],
    [u(0xff), u(0xff, 0xff, 0xff)],
    [b('b'), b('a')],
    [b('b'), b('b')],
  ];
  for (const [start, end] of intervals) out.push({ label: `interval ${hex(start)}..${hex(end)}`, range: keyRange(start, end) });
  return out;
}

interface PlainKv {
  key: string;
  value: string;
  create: number;
  mod: number;
  version: number;
  lease: bigint;
}

function plain(kvs: readonly KeyValue[]): PlainKv[] {
  return kvs.map((kv) => ({
    key: Buffer.from(kv.key).toString('hex'),
    value: Buffer.from(kv.value).toString('hex'),
    create: kv.createRevision,
    mod: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  }));
}

/** Every probe read at every revision in [from, to], as one comparable list. */
function readEverything(backend: MvccBackend, model: MvccModel, from: Revision, to: Revision): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const probes = probeRanges(model);
  for (let rev = from; rev <= to; rev++) {
    for (const { label, range } of probes) {
      for (const limit of [0, 1, 2, 3]) out.set(`${label} @${rev} limit ${limit}`, plain(backend.range(range, rev, limit)));
      out.set(`${label} @${rev} count`, backend.count(range, rev));
    }
  }
  return out;
}

/** Asserts the backend answers every probe read like the model, at every readable revision. */
export function assertMatchesModel(backend: MvccBackend, model: MvccModel, from: Revision = Math.max(model.compacted, 1)): void {
  assert.equal(backend.currentRevision(), model.current, 'current revision');
  assert.equal(backend.compactRevision(), model.compacted, 'compaction revision');
  const probes = probeRanges(model);
  for (let rev = from; rev <= model.current; rev++) {
    for (const { label, range } of probes) {
      for (const limit of [0, 1, 2, 3]) {
        assert.deepEqual(plain(backend.range(range, rev, limit)), plain(model.range(range, rev, limit)), `${label} @${rev} limit ${limit}`);
      }
      assert.equal(backend.count(range, rev), model.range(range, rev, 0).length, `${label} @${rev} count`);
    }
  }
  for (const key of [...model.sortedKeys(), b('zz-missing')]) {
    const got = backend.get(key);
    const want = model.latest(key);
    assert.deepEqual(got === undefined ? undefined : plain([got]), want === undefined ? undefined : plain([want]), `get ${Buffer.from(key).toString('hex')}`);
  }
}

// ---- generated workloads ----

/** A small deterministic PRNG (mulberry32), so a failing workload is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LEASES: readonly LeaseId[] = [0n, 0n, 0n, 7n, 2n ** 53n + 1n, 2n ** 63n - 1n];

/** Ops of one request: puts and deletes over the key pool; sometimes a key changed twice. */
function randomRequest(model: MvccModel, next: () => number, pending: Map<string, boolean>): ModelOp[] {
  const ops: ModelOp[] = [];
  const n = 1 + Math.floor(next() * 3);
  const exists = (k: Uint8Array) => pending.get(bytesToMapKey(k)) ?? model.latest(k) !== undefined;
  for (let i = 0; i < n; i++) {
    const key = KEY_POOL[Math.floor(next() * KEY_POOL.length)] as Uint8Array;
    if (exists(key) && next() < 0.35) {
      ops.push({ op: 'delete', key });
      pending.set(bytesToMapKey(key), false);
      if (next() < 0.3) {
        ops.push({ op: 'put', key, value: b(`re-${Math.floor(next() * 1000)}`) });
        pending.set(bytesToMapKey(key), true);
      }
    } else {
      const value = next() < 0.1 ? EMPTY_BYTES : b(`v${Math.floor(next() * 1000)}`);
      ops.push({ op: 'put', key, value, lease: LEASES[Math.floor(next() * LEASES.length)] as LeaseId });
      pending.set(bytesToMapKey(key), true);
      if (next() < 0.1) {
        ops.push({ op: 'delete', key });
        pending.set(bytesToMapKey(key), false);
      }
    }
  }
  return ops;
}

/** Applies `batches` generated batches (1-3 requests each) to the backend and the model. */
export function applyWorkload(backend: MvccBackend, model: MvccModel, seed: number, batches: number): void {
  const next = prng(seed);
  for (let i = 0; i < batches; i++) {
    const count = 1 + Math.floor(next() * 3);
    // Each request is generated against the model including the requests before it in the batch.
    const batch = model.build((add) => {
      for (let r = 0; r < count; r++) add(randomRequest(model, next, new Map()));
    });
    backend.apply(batch);
  }
}

/** Applies a compaction at `revision` (no changes). */
function compact(backend: MvccBackend, model: MvccModel, revision: Revision): void {
  backend.apply(model.batch([], revision));
}

function purgeAll(backend: MvccBackend, rowsMax: number, between?: (step: number) => void): number {
  for (let step = 1; step <= 100_000; step++) {
    if (backend.purgeStep(rowsMax)) return step;
    between?.(step);
  }
  assert.fail('purge did not finish');
}

/** An auth state with binary keys, a no-password user and an open-ended grant. */
export function sampleAuthState(revision: number): AuthState {
  return {
    enabled: false,
    revision,
    users: [
      { name: 'alice', passwordHash: 'scrypt$1$8$1$c2FsdA==$aGFzaA==', roles: ['readers'] },
      { name: 'root', passwordHash: undefined, roles: ['root'] },
    ],
    roles: [
      {
        name: 'readers',
        permissions: [
          { key: new Uint8Array([0, 0xff, 0x61]), rangeEnd: new Uint8Array(0), permType: 'read' },
          { key: b('/a/'), rangeEnd: u(0), permType: 'readwrite' },
        ],
      },
      { name: 'root', permissions: [] },
    ],
  };
}

// ---- the suite ----

export function describeMvccBackendContract(
  name: string,
  makeBackend: () => MvccBackend,
  options: MvccBackendContractOptions = {},
): void {
  const withBackend = (fn: (backend: MvccBackend) => void) => () => {
    const backend = makeBackend();
    try {
      fn(backend);
    } finally {
      backend.close();
    }
  };

  describe(`MvccBackend contract: ${name}`, () => {
    it('an empty store is at revision 1, never compacted, with nothing to purge', withBackend((backend) => {
      assert.equal(backend.currentRevision(), 1);
      assert.equal(backend.compactRevision(), NEVER_COMPACTED);
      assert.deepEqual(backend.range(keyRange(u(0), u(0)), 1, 0), []);
      assert.equal(backend.count(keyRange(u(0), u(0)), 1), 0);
      assert.equal(backend.get(b('a')), undefined);
      assert.equal(backend.purgeStep(1), true);
    }));

    it('reads at the current and every historical revision: single, from-key and interval, with limits', withBackend((backend) => {
      const model = new MvccModel();
      const put = (key: string, value: string): ModelOp => ({ op: 'put', key: b(key), value: b(value) });
      backend.apply(model.batch([[put('a', '1')]])); // 2
      backend.apply(model.batch([[put('b', '1'), put('c', '1')], [put('a', '2')]])); // 3, 4
      backend.apply(model.batch([[put('d', '1')]])); // 5
      assert.equal(backend.currentRevision(), 5);
      const all = keyRange(b('a'), u(0));
      assert.deepEqual(plain(backend.range(all, 5, 0)).map((kv) => [kv.key, kv.mod, kv.version, kv.create]), [
        ['61', 4, 2, 2],
        ['62', 3, 1, 3],
        ['63', 3, 1, 3],
        ['64', 5, 1, 5],
      ]);
      assert.deepEqual(plain(backend.range(all, 3, 2)).map((kv) => [kv.key, kv.mod]), [
        ['61', 2],
        ['62', 3],
      ]);
      assert.equal(backend.count(all, 2), 1);
      assert.equal(backend.count(keyRange(b('b'), b('d')), 5), 2);
      assertMatchesModel(backend, model);
    }));

    it('a deletion hides the key from its revision on; a re-created key has its new create revision and version', withBackend((backend) => {
      const model = new MvccModel();
      const k = b('k');
      backend.apply(model.batch([[{ op: 'put', key: k, value: b('1') }]])); // 2
      backend.apply(model.batch([[{ op: 'put', key: k, value: b('2') }]])); // 3
      backend.apply(model.batch([[{ op: 'delete', key: k }]])); // 4
      assert.equal(backend.get(k), undefined);
      assert.deepEqual(backend.range(keyRange(k, undefined), 4, 0), []);
      assert.equal(backend.count(keyRange(k, u(0)), 4), 0);
      assert.equal(plain(backend.range(keyRange(k, undefined), 3, 0))[0]?.version, 2);
      backend.apply(model.batch([[{ op: 'put', key: k, value: b('3') }]])); // 5
      assert.deepEqual(plain([backend.get(k)!]), [{ key: '6b', value: '33', create: 5, mod: 5, version: 1, lease: 0n }]);
      assert.deepEqual(backend.range(keyRange(k, undefined), 4, 0), []);
      assertMatchesModel(backend, model);
    }));

    it('a key changed twice at one revision reads as its last change (etcd allows it inside a txn)', withBackend((backend) => {
      const model = new MvccModel();
      const [a, c] = [b('a'), b('c')];
      backend.apply(model.batch([[{ op: 'put', key: a, value: b('1') }, { op: 'put', key: c, value: b('1') }]])); // 2
      backend.apply(
        model.batch([
          [{ op: 'delete', key: a }, { op: 'put', key: a, value: b('again') }, { op: 'put', key: c, value: b('2') }, { op: 'delete', key: c }], // 3
          [{ op: 'put', key: b('n'), value: b('1') }, { op: 'delete', key: b('n') }], // 4
        ]),
      );
      assert.deepEqual(plain([backend.get(a)!]), [{ key: '61', value: '616761696e', create: 3, mod: 3, version: 1, lease: 0n }]);
      assert.equal(backend.get(c), undefined);
      assert.equal(backend.get(b('n')), undefined);
      assertMatchesModel(backend, model);
      compact(backend, model, 3);
      purgeAll(backend, 1);
      assertMatchesModel(backend, model);
      if (options.historyRows) assert.equal(options.historyRows(backend), model.rowsNeeded());
    }));

    it('values and int64 leases round-trip: empty, binary, large, beyond 2^53 and negative', withBackend((backend) => {
      const model = new MvccModel();
      const leases = [2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -1n, 1n];
      const values = [EMPTY_BYTES, u(0, 0xff, 0, 0x80), new Uint8Array(200_000).map((_, i) => i % 251)];
      backend.apply(model.batch([leases.map((lease, i) => ({ op: 'put', key: b(`lease/${i}`), value: b('v'), lease }))]));
      backend.apply(model.batch([values.map((value, i) => ({ op: 'put', key: b(`value/${i}`), value }))]));
      for (const [i, lease] of leases.entries()) {
        assert.equal(backend.get(b(`lease/${i}`))?.lease, lease);
        assert.equal(backend.range(keyRange(b(`lease/${i}`), undefined), 2, 0)[0]?.lease, lease);
      }
      for (const [i, value] of values.entries()) {
        assert.deepEqual(Buffer.from(backend.get(b(`value/${i}`))!.value), Buffer.from(value));
      }
      backend.apply(model.batch([[{ op: 'put', key: b('lease/0'), value: b('w'), lease: 5n }]]));
      assert.equal(backend.range(keyRange(b('lease/0'), undefined), 3, 0)[0]?.lease, 2n ** 53n + 1n, 'historical lease');
    }));

    it('a generated workload reads like the model at every revision', withBackend((backend) => {
      const model = new MvccModel();
      applyWorkload(backend, model, 1, 25);
      assert.ok(model.current > 30, `workload wrote ${model.current - 1} revisions`);
      assertMatchesModel(backend, model);
    }));

    it('apply asserts fromRevision and changes nothing when it does not match', withBackend((backend) => {
      const model = new MvccModel();
      backend.apply(model.batch([[{ op: 'put', key: b('a'), value: b('1') }]])); // 2
      const stale = new MvccModel().batch([[{ op: 'put', key: b('x'), value: b('1') }]]); // from 1
      assert.throws(() => backend.apply(stale), InvariantViolation);
      const ahead: CommittedBatch = { ...new MvccModel().batch([]), fromRevision: 3, toRevision: 4 };
      assert.throws(() => backend.apply(ahead), InvariantViolation);
      assert.equal(backend.currentRevision(), 2);
      assert.equal(backend.get(b('x')), undefined);
      assertMatchesModel(backend, model);
      backend.apply(model.batch([[{ op: 'put', key: b('b'), value: b('1') }]])); // 3: still usable
      assertMatchesModel(backend, model);
    }));

    it('a compaction-only batch keeps the revision; the compaction revision must advance', withBackend((backend) => {
      const model = new MvccModel();
      applyWorkload(backend, model, 2, 4);
      const current = model.current;
      compact(backend, model, current - 1);
      assert.equal(backend.currentRevision(), current);
      assert.equal(backend.compactRevision(), current - 1);
      const again: CommittedBatch = { fromRevision: current, toRevision: current, changes: [], compactRevision: current - 1 };
      assert.throws(() => backend.apply(again), InvariantViolation);
      assert.equal(backend.compactRevision(), current - 1);
    }));

    for (const rowsMax of [1, 2, 3]) {
      it(`purge in steps of ${rowsMax} rows keeps exactly what reads at revisions >= C need`, withBackend((backend) => {
        const model = new MvccModel();
        applyWorkload(backend, model, 10 + rowsMax, 20);
        const c = Math.floor(model.current * 0.6);
        compact(backend, model, c);
        const before = readEverything(backend, model, c, model.current);
        assertMatchesModel(backend, model);

        purgeAll(backend, rowsMax);
        assert.deepEqual(readEverything(backend, model, c, model.current), before, 'reads at C..current unchanged by the purge');
        assertMatchesModel(backend, model);
        if (options.historyRows) assert.equal(options.historyRows(backend), model.rowsNeeded(), 'rows kept');
        assert.equal(backend.purgeStep(rowsMax), true, 'nothing pending after a finished purge');
      }));
    }

    it('writes and a newer compaction between purge steps', withBackend((backend) => {
      const model = new MvccModel();
      applyWorkload(backend, model, 21, 15);
      compact(backend, model, model.current - 10);
      let extra = 0;
      purgeAll(backend, 2, (step) => {
        if (step % 3 === 0 && extra < 5) {
          applyWorkload(backend, model, 100 + step, 1);
          extra++;
        }
        if (step === 7) compact(backend, model, model.current - 4);
      });
      assertMatchesModel(backend, model);
      if (options.historyRows) assert.equal(options.historyRows(backend), model.rowsNeeded(), 'rows kept');
      // A later compaction purges from where the previous one stopped.
      applyWorkload(backend, model, 22, 5);
      compact(backend, model, model.current - 2);
      purgeAll(backend, 3);
      assertMatchesModel(backend, model);
      if (options.historyRows) assert.equal(options.historyRows(backend), model.rowsNeeded(), 'rows kept');
    }));

    it('auth state: absent at first, replaced whole by a batch without taking a revision, never in KV reads', withBackend((backend) => {
      assert.equal(backend.authState(), undefined);
      const first = sampleAuthState(2);
      backend.apply({ fromRevision: 1, toRevision: 1, changes: [], compactRevision: undefined, authState: first });
      assert.equal(backend.currentRevision(), 1);
      assert.deepEqual(backend.authState(), first);
      const second = { ...sampleAuthState(3), enabled: true };
      backend.apply({ fromRevision: 1, toRevision: 1, changes: [], compactRevision: undefined, authState: second });
      backend.apply({ fromRevision: 1, toRevision: 1, changes: [], compactRevision: undefined, authState: second });
      assert.deepEqual(backend.authState(), second);
      assert.deepEqual(backend.range(keyRange(u(0), u(0)), 1, 0), [], 'auth state is not a key');
      assert.equal(backend.count(keyRange(u(0), u(0)), 1), 0);
    }));

    if (options.reopen !== undefined) {
      const reopen = options.reopen;

      it('reopening keeps the auth state', () => {
        let backend = makeBackend();
        try {
          const state = { ...sampleAuthState(5), enabled: true };
          backend.apply({ fromRevision: 1, toRevision: 1, changes: [], compactRevision: undefined, authState: state });
          backend = reopen(backend);
          assert.deepEqual(backend.authState(), state);
        } finally {
          backend.close();
        }
      });

      it('reopening keeps revisions, compaction and every version', () => {
        let backend = makeBackend();
        try {
          const model = new MvccModel();
          applyWorkload(backend, model, 31, 10);
          compact(backend, model, 5);
          backend = reopen(backend);
          assertMatchesModel(backend, model);
          applyWorkload(backend, model, 32, 3);
          assertMatchesModel(backend, model);
        } finally {
          backend.close();
        }
      });

      it('a purge cut short resumes after reopening', () => {
        let backend = makeBackend();
        try {
          const model = new MvccModel();
          applyWorkload(backend, model, 41, 20);
          const c = model.current - 8;
          compact(backend, model, c);
          const before = readEverything(backend, model, c, model.current);
          for (let i = 0; i < 5; i++) assert.equal(backend.purgeStep(1), false, `step ${i} leaves work`);
          backend = reopen(backend);
          assert.equal(backend.compactRevision(), c);
          assertMatchesModel(backend, model);
          const rowsMidway = options.historyRows?.(backend);
          purgeAll(backend, 2);
          assert.deepEqual(readEverything(backend, model, c, model.current), before);
          assertMatchesModel(backend, model);
          if (options.historyRows) {
            assert.ok(rowsMidway! > model.rowsNeeded(), 'the purge was unfinished at the reopen');
            assert.equal(options.historyRows(backend), model.rowsNeeded(), 'rows kept');
          }
          backend = reopen(backend);
          assert.equal(backend.purgeStep(1), true, 'a finished purge stays finished');
        } finally {
          backend.close();
        }
      });
    }
  });
}
