// Differential suite: the same request sequences against a real etcd (Debian's 3.4) and T4, with the
// complete responses compared field by field. This is the proof of wire compatibility of the KV,
// Maintenance and Cluster services: any difference fails the scenario and prints, per step, what
// etcd answered and what T4 answered.
//
// How responses are compared:
//  - each response is converted with toJson (proto field names, zero values omitted, so "absent"
//    and "zero" compare equal exactly as on the wire), bytes are decoded for readability;
//  - header cluster_id, member_id and raft_term only have to be set (non-zero) on both sides, or
//    unset on both (nested txn responses carry headers without them);
//  - revisions (header.revision, create_revision, mod_revision) are compared relative to the store
//    revision at the start of the scenario: the two stores share nothing, so both must advance
//    identically from there. Requests that name revisions use the same relative offsets;
//  - Status: member ids, leader, version, db sizes and raft index/term only have to be present;
//    MemberList: ids, names and client URLs are replaced by what they denote (this member, its
//    endpoint); peer URLs are ignored (T4 has no raft peers);
//  - one etcd 3.4-only behaviour is normalised to etcd 3.5's (T4's target), citing the 3.5 source:
//    AlarmResponse without a header (see Normaliser.apply);
//  - errors must match on gRPC code and message text exactly.
//
// Most scenarios share one etcd and one T4 (each scenario writes under its own key prefix, and the
// prefixes sort in scenario order, so from-key ranges only see the scenario's own keys). Scenarios
// that depend on the whole key space or on compaction get a fresh pair of servers.
//
// T4_DIFF_DUMP=/path/file.jsonl appends every scenario's normalised outcomes (both sides) to a file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { toJson, type DescMessage, type JsonObject, type JsonValue, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import * as pb from '../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { EtcdGrpcClient, EtcdGrpcError, utf8 } from '../support/etcd-grpc-client.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { findExternal } from '../support/external.js';
import { startT4, type T4Process } from '../support/t4-process.js';

// ---------------------------------------------------------------------------------------------
// Request builders

type RangeInit = MessageInitShape<typeof pb.RangeRequestSchema>;
type PutInit = MessageInitShape<typeof pb.PutRequestSchema>;
type DeleteInit = MessageInitShape<typeof pb.DeleteRangeRequestSchema>;
type TxnInit = MessageInitShape<typeof pb.TxnRequestSchema>;
type OpInit = MessageInitShape<typeof pb.RequestOpSchema>;
type CompareInit = MessageInitShape<typeof pb.CompareSchema>;

const { NONE, ASCEND, DESCEND } = pb.RangeRequest_SortOrder;
const SORT_ORDERS = [NONE, ASCEND, DESCEND] as const;
const SORT_TARGETS = [
  pb.RangeRequest_SortTarget.KEY,
  pb.RangeRequest_SortTarget.VERSION,
  pb.RangeRequest_SortTarget.CREATE,
  pb.RangeRequest_SortTarget.MOD,
  pb.RangeRequest_SortTarget.VALUE,
] as const;
const { EQUAL, GREATER, LESS, NOT_EQUAL } = pb.Compare_CompareResult;
const COMPARE_RESULTS = [EQUAL, GREATER, LESS, NOT_EQUAL] as const;

const opRange = (value: RangeInit): OpInit => ({ request: { case: 'requestRange', value } });
const opPut = (value: PutInit): OpInit => ({ request: { case: 'requestPut', value } });
const opDelete = (value: DeleteInit): OpInit => ({ request: { case: 'requestDeleteRange', value } });
const opTxn = (value: TxnInit): OpInit => ({ request: { case: 'requestTxn', value } });

type CompareTarget = 'version' | 'create' | 'mod' | 'value' | 'lease';

/** A Compare; `operand` undefined leaves target_union unset. */
function cmp(
  key: Uint8Array,
  target: CompareTarget,
  result: pb.Compare_CompareResult,
  operand?: bigint | Uint8Array,
  rangeEnd?: Uint8Array,
): CompareInit {
  const T = pb.Compare_CompareTarget;
  const c: CompareInit = { key, result, ...(rangeEnd ? { rangeEnd } : {}) };
  const int = (v: bigint | Uint8Array | undefined): bigint => (typeof v === 'bigint' ? v : 0n);
  switch (target) {
    case 'version':
      c.target = T.VERSION;
      if (operand !== undefined) c.targetUnion = { case: 'version', value: int(operand) };
      break;
    case 'create':
      c.target = T.CREATE;
      if (operand !== undefined) c.targetUnion = { case: 'createRevision', value: int(operand) };
      break;
    case 'mod':
      c.target = T.MOD;
      if (operand !== undefined) c.targetUnion = { case: 'modRevision', value: int(operand) };
      break;
    case 'value':
      c.target = T.VALUE;
      if (operand !== undefined) c.targetUnion = { case: 'value', value: operand instanceof Uint8Array ? operand : utf8(String(operand)) };
      break;
    case 'lease':
      c.target = T.LEASE;
      if (operand !== undefined) c.targetUnion = { case: 'lease', value: int(operand) };
      break;
  }
  return c;
}

/** etcd's prefix end: increment the last byte below 0xff; all 0xff (or empty) means "\0" (to the end). */
function prefixEnd(key: Uint8Array): Uint8Array {
  for (let i = key.length - 1; i >= 0; i--) {
    const b = key[i] as number;
    if (b < 0xff) {
      const end = key.slice(0, i + 1);
      end[i] = b + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

function concat(...parts: (Uint8Array | string | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (typeof p === 'string' ? utf8(p) : p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

const ZERO = new Uint8Array([0]);

// ---------------------------------------------------------------------------------------------
// Normalisation

type Kind = 'kv' | 'status' | 'members' | 'alarm';

interface Outcome {
  readonly step: string;
  readonly response?: JsonValue;
  readonly error?: { code: string; details: string };
  readonly note?: JsonValue;
}

function decodeBytes(b64: string): string {
  const buf = Buffer.from(b64, 'base64');
  if (buf.length > 256) return `<${buf.length} bytes sha256:${createHash('sha256').update(buf).digest('hex').slice(0, 16)}>`;
  for (const byte of buf) if (byte < 0x20 || byte > 0x7e) return `hex:${buf.toString('hex')}`;
  return buf.toString('latin1');
}

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const present = (v: JsonValue | undefined): JsonValue | undefined => (v === undefined ? undefined : '<set>');

class Normaliser {
  constructor(
    private readonly side: 'etcd' | 't4',
    private readonly base: bigint,
    private readonly endpoint: string,
  ) {}

  rel(v: JsonValue | undefined): JsonValue | undefined {
    if (v === undefined) return undefined;
    const n = BigInt(v as string | number) - this.base;
    return n >= 0n ? `base+${n}` : `base${n}`;
  }

  walk(v: JsonValue): JsonValue {
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (!isObject(v)) return v;
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      if (k === 'header' && isObject(x)) out[k] = this.header(x);
      else if (k === 'create_revision' || k === 'mod_revision') out[k] = this.rel(x) as JsonValue;
      else if ((k === 'key' || k === 'value' || k === 'range_end') && typeof x === 'string') out[k] = decodeBytes(x);
      else out[k] = this.walk(x);
    }
    return out;
  }

  header(h: JsonObject): JsonObject {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(h)) {
      if (k === 'revision') out[k] = this.rel(x) as JsonValue;
      else if (k === 'cluster_id' || k === 'member_id' || k === 'raft_term') out[k] = present(x) as JsonValue;
      else out[k] = x;
    }
    return out;
  }

  apply(kind: Kind, json: JsonValue): JsonValue {
    const raw = isObject(json) ? json : {};
    const memberId = isObject(raw['header']) ? raw['header']['member_id'] : undefined;
    const self = (id: JsonValue | undefined): JsonValue | undefined =>
      id === undefined ? undefined : id === memberId ? '<this member>' : `<other member>`;
    const out = this.walk(json) as JsonObject;
    if (kind === 'status') {
      // Identities, versions, sizes and raft positions are per-server facts, not API semantics.
      // (StatusResponse's proto field names are camelCase: dbSize, raftIndex, ...)
      for (const k of ['version', 'dbSize', 'dbSizeInUse', 'raftIndex', 'raftTerm', 'raftAppliedIndex']) {
        if (out[k] !== undefined) out[k] = '<set>';
      }
      if (out['leader'] !== undefined) out['leader'] = self(raw['leader']) as JsonValue;
    }
    if (kind === 'alarm') {
      // etcd 3.4 returns AlarmResponse without a header; etcd 3.5 (which T4 targets) fills it like
      // every other header: server/etcdserver/api/v3rpc/maintenance.go (v3.5.13) Alarm():
      //   if resp.Header == nil { resp.Header = &pb.ResponseHeader{} }; ms.hdr.fill(resp.Header)
      // So an absent header from etcd 3.4 counts as the filled 3.5 header; a present header must be
      // complete on either side.
      const h = out['header'];
      const complete = isObject(h) && ['cluster_id', 'member_id', 'raft_term', 'revision'].every((k) => h[k] !== undefined);
      if ((h === undefined && this.side === 'etcd') || complete) out['header'] = '<filled as by etcd 3.5>';
    }
    if (kind === 'members' && Array.isArray(out['members'])) {
      const url = `http://${this.endpoint}`;
      out['members'] = out['members'].map((m) => {
        if (!isObject(m)) return m;
        const r: JsonObject = { ...m };
        if (r['ID'] !== undefined) r['ID'] = self(m['ID']) as JsonValue;
        if (r['name'] !== undefined) r['name'] = '<name>';
        // T4 has no raft peers (nodes meet through the object store), so it lists no peer URLs;
        // clients do not use them. Normalised as a whole, so an empty list compares equal.
        delete r['peerURLs'];
        if (Array.isArray(r['clientURLs'])) r['clientURLs'] = r['clientURLs'].map((u) => (u === url ? '<this endpoint>' : '<other url>'));
        return r;
      });
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// One server's run of a scenario

class Side {
  readonly outcomes: Outcome[] = [];
  base = 0n;
  private normaliser: Normaliser | undefined;

  constructor(
    readonly name: 'etcd' | 't4',
    readonly client: EtcdGrpcClient,
    readonly prefix: string,
  ) {}

  /** Reads the store revision the scenario's relative revisions count from. */
  async start(): Promise<void> {
    const res = await this.client.range({ key: utf8(this.prefix) });
    this.base = res.header?.revision ?? 0n;
    this.normaliser = new Normaliser(this.name, this.base, this.client.endpoint);
  }

  /** A key under this scenario's prefix. */
  k(suffix: string | number[] | Uint8Array = ''): Uint8Array {
    return concat(this.prefix, suffix);
  }

  /** The prefix end of a key under this scenario's prefix. */
  end(suffix: string | number[] | Uint8Array = ''): Uint8Array {
    return prefixEnd(this.k(suffix));
  }

  /** The scenario's starting revision plus n. */
  rev(n: number): bigint {
    return this.base + BigInt(n);
  }

  range(step: string, req: RangeInit): Promise<pb.RangeResponse | undefined> {
    return this.record(step, 'kv', pb.RangeResponseSchema, () => this.client.range(req));
  }
  put(step: string, req: PutInit): Promise<pb.PutResponse | undefined> {
    return this.record(step, 'kv', pb.PutResponseSchema, () => this.client.put(req));
  }
  del(step: string, req: DeleteInit): Promise<pb.DeleteRangeResponse | undefined> {
    return this.record(step, 'kv', pb.DeleteRangeResponseSchema, () => this.client.deleteRange(req));
  }
  txn(step: string, req: TxnInit): Promise<pb.TxnResponse | undefined> {
    return this.record(step, 'kv', pb.TxnResponseSchema, () => this.client.txn(req));
  }
  compact(step: string, req: MessageInitShape<typeof pb.CompactionRequestSchema>): Promise<pb.CompactionResponse | undefined> {
    return this.record(step, 'kv', pb.CompactionResponseSchema, () => this.client.compact(req));
  }
  status(step: string): Promise<pb.StatusResponse | undefined> {
    return this.record(step, 'status', pb.StatusResponseSchema, () => this.client.status());
  }
  alarm(step: string, req: MessageInitShape<typeof pb.AlarmRequestSchema>): Promise<pb.AlarmResponse | undefined> {
    return this.record(step, 'alarm', pb.AlarmResponseSchema, () => this.client.alarm(req));
  }
  defragment(step: string): Promise<pb.DefragmentResponse | undefined> {
    return this.record(step, 'kv', pb.DefragmentResponseSchema, () => this.client.defragment());
  }
  memberList(step: string): Promise<pb.MemberListResponse | undefined> {
    return this.record(step, 'members', pb.MemberListResponseSchema, () => this.client.memberList());
  }

  /** Records an arbitrary value that must be equal on both sides. */
  note(step: string, note: JsonValue): void {
    this.outcomes.push({ step, note });
  }

  private async record<D extends DescMessage>(step: string, kind: Kind, schema: D, call: () => Promise<MessageShape<D>>): Promise<MessageShape<D> | undefined> {
    if (this.normaliser === undefined) throw new Error('Side.start() was not called');
    try {
      const res = await call();
      this.outcomes.push({ step, response: this.normaliser.apply(kind, toJson(schema, res, { useProtoFieldName: true })) });
      return res;
    } catch (err) {
      if (!(err instanceof EtcdGrpcError)) throw err;
      this.outcomes.push({ step, error: { code: err.codeName, details: transportWording(err.details) } });
      return undefined;
    }
  }
}

type Scenario = (s: Side) => Promise<void>;

/**
 * Over the gRPC receive limit, the transport itself refuses the message before any etcd code runs,
 * and the two gRPC libraries word it differently (grpc-go: "grpc: received message larger than max
 * (N vs. M)", grpc-js: "Received message larger than max (N vs M)"). Code and sizes must match; the
 * wording is the library's, so both are reduced to the same form.
 */
function transportWording(details: string): string {
  const m = /^(?:grpc: r|R)eceived message larger than max \((\d+) vs\.? (\d+)\)$/.exec(details);
  return m === null ? details : `received message larger than max (${m[1]} vs ${m[2]})`;
}

const SHOW_CHARS = 1500;

function describeOutcome(o: Outcome | undefined): string {
  if (o === undefined) return '(no such step)';
  const { step: _step, ...rest } = o;
  const text = JSON.stringify(rest);
  return text.length <= SHOW_CHARS ? text : `${text.slice(0, SHOW_CHARS)}...[${text.length - SHOW_CHARS} more chars]`;
}

interface Difference {
  path: string;
  a: unknown;
  b: unknown;
}

/** Paths and values where two JSON values differ (depth first, in key order), at most `max`. */
function differences(a: unknown, b: unknown, max: number, path = '', out: Difference[] = []): Difference[] {
  if (out.length >= max || JSON.stringify(a) === JSON.stringify(b)) return out;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && Array.isArray(a) === Array.isArray(b)) {
    const keys = Array.isArray(a)
      ? Array.from({ length: Math.max(a.length, (b as unknown[]).length) }, (_, i) => i)
      : [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], max, Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`, out);
    }
    return out;
  }
  out.push({ path, a, b });
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return '(absent)';
  const text = JSON.stringify(v);
  return text.length <= 300 ? text : `${text.slice(0, 300)}...`;
}

/** Runs `scenario` on both servers (concurrently: they share nothing) and compares every step. */
async function differential(etcd: EtcdGrpcClient, t4: EtcdGrpcClient, prefix: string, scenario: Scenario): Promise<void> {
  const sides = [new Side('etcd', etcd, prefix), new Side('t4', t4, prefix)] as const;
  await Promise.all(
    sides.map(async (side) => {
      await side.start();
      await scenario(side);
    }),
  );
  const [e, t] = [sides[0].outcomes, sides[1].outcomes];
  const dump = process.env['T4_DIFF_DUMP'];
  if (dump) appendFileSync(dump, `${JSON.stringify({ prefix, etcd: e, t4: t })}\n`);
  const diffs: string[] = [];
  for (let i = 0; i < Math.max(e.length, t.length); i++) {
    const a = e[i];
    const b = t[i];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    const where = differences(a, b, 4)
      .map((d) => `\n  differs at ${d.path || '(top)'}: etcd ${show(d.a)} / t4 ${show(d.b)}`)
      .join('');
    diffs.push(`step ${i + 1} "${a?.step ?? b?.step}":${where}\n  etcd: ${describeOutcome(a)}\n  t4:   ${describeOutcome(b)}`);
  }
  if (diffs.length > 0) {
    assert.fail(`${diffs.length} of ${Math.max(e.length, t.length)} steps differ between etcd and T4 (prefix ${prefix}):\n${diffs.join('\n')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios on shared servers

const MiB = 1024 * 1024;

const SHARED: [string, Scenario][] = [
  [
    'put: prev_kv, ignore_value, ignore_lease, lease and their errors',
    async (s) => {
      await s.put('put a=1', { key: s.k('a'), value: utf8('1') });
      await s.put('put a=2 with prev_kv', { key: s.k('a'), value: utf8('2'), prevKv: true });
      await s.put('put b with prev_kv (no previous)', { key: s.k('b'), value: utf8('x'), prevKv: true });
      await s.put('put an empty value', { key: s.k('empty'), value: new Uint8Array(), prevKv: true });
      await s.range('get a', { key: s.k('a') });
      await s.range('get the empty value', { key: s.k('empty') });
      await s.range('get a missing key', { key: s.k('nope') });
      await s.put('ignore_value keeps the value', { key: s.k('a'), ignoreValue: true, prevKv: true });
      await s.range('get a after ignore_value', { key: s.k('a') });
      await s.put('ignore_value with a value', { key: s.k('a'), value: utf8('v'), ignoreValue: true });
      await s.put('ignore_value on a missing key', { key: s.k('nope'), ignoreValue: true });
      await s.put('ignore_value with a value on a missing key', { key: s.k('nope'), value: utf8('v'), ignoreValue: true });
      await s.put('ignore_lease', { key: s.k('a'), value: utf8('3'), ignoreLease: true, prevKv: true });
      await s.put('ignore_lease with a lease', { key: s.k('a'), value: utf8('4'), ignoreLease: true, lease: 5n });
      await s.put('ignore_lease on a missing key', { key: s.k('nope'), value: utf8('v'), ignoreLease: true });
      await s.put('ignore_value and ignore_lease', { key: s.k('a'), ignoreValue: true, ignoreLease: true, prevKv: true });
      await s.put('lease that does not exist', { key: s.k('a'), value: utf8('x'), lease: 123456789n });
      await s.put('lease that does not exist on a missing key', { key: s.k('nope'), value: utf8('x'), lease: 1n });
      await s.put('negative lease', { key: s.k('a'), value: utf8('x'), lease: -1n });
      await s.put('binary key and value', { key: s.k([0x00, 0xff, 0x80]), value: Uint8Array.from([0, 1, 255]), prevKv: true });
      await s.range('get the binary key', { key: s.k([0x00, 0xff, 0x80]) });
      await s.range('everything in the scenario', { key: s.k(), rangeEnd: s.end() });
    },
  ],
  [
    'empty key errors',
    async (s) => {
      const empty = new Uint8Array();
      await s.range('range with no key', { key: empty });
      await s.range('range with no key and a range_end', { key: empty, rangeEnd: s.k('x') });
      await s.range('range with no key and range_end "\\0"', { key: empty, rangeEnd: ZERO });
      await s.put('put with no key', { key: empty, value: utf8('v') });
      await s.put('put with no key and ignore_value + value', { key: empty, value: utf8('v'), ignoreValue: true });
      await s.del('delete with no key', { key: empty });
      await s.del('delete with no key and range_end "\\0"', { key: empty, rangeEnd: ZERO });
      await s.txn('txn compare with no key', { compare: [cmp(empty, 'version', EQUAL, 0n)] });
      await s.txn('txn success put with no key', { success: [opPut({ key: empty, value: utf8('v') })] });
      await s.txn('txn failure range with no key', { failure: [opRange({ key: empty })] });
      await s.txn('txn success delete with no key', { success: [opDelete({ key: empty })] });
      await s.txn('nested txn range with no key', { success: [opTxn({ success: [opRange({ key: empty })] })] });
      await s.txn('nested txn compare with no key', { success: [opTxn({ compare: [cmp(empty, 'mod', EQUAL, 0n)] })] });
      await s.txn('empty compare key checked before ops', {
        compare: [cmp(empty, 'version', EQUAL, 0n)],
        success: [opPut({ key: s.k('a'), value: utf8('v'), ignoreValue: true })],
      });
      await s.txn('txn put ignore_value with value', { success: [opPut({ key: s.k('a'), value: utf8('v'), ignoreValue: true })] });
      await s.txn('txn put ignore_lease with lease', { failure: [opPut({ key: s.k('a'), value: utf8('v'), ignoreLease: true, lease: 3n })] });
    },
  ],
  [
    'range_end rules: single key, prefix, interval, from-key, reversed and empty intervals',
    async (s) => {
      for (const k of ['a', 'a/1', 'a/2', 'a0', 'b', 'b/1', 'c']) await s.put(`put ${k}`, { key: s.k(k), value: utf8(k) });
      await s.put('put key ending in 0xff', { key: s.k([0xff]), value: utf8('ff') });
      await s.put('put key ending in 0xff 0xff', { key: s.k([0xff, 0xff]), value: utf8('ffff') });
      await s.range('single key a', { key: s.k('a') });
      await s.range('single key a/1', { key: s.k('a/1') });
      await s.range('prefix a', { key: s.k('a'), rangeEnd: s.end('a') });
      await s.range('prefix a/', { key: s.k('a/'), rangeEnd: s.end('a/') });
      await s.range('interval [a/1, b)', { key: s.k('a/1'), rangeEnd: s.k('b') });
      await s.range('interval [a/1, b/1)', { key: s.k('a/1'), rangeEnd: s.k('b/1') });
      await s.range('interval [a, a0)', { key: s.k('a'), rangeEnd: s.k('a0') });
      await s.range('reversed interval [b, a)', { key: s.k('b'), rangeEnd: s.k('a') });
      await s.range('empty interval [a, a)', { key: s.k('a'), rangeEnd: s.k('a') });
      await s.range('from-key b (range_end "\\0")', { key: s.k('b'), rangeEnd: ZERO });
      await s.range('from-key c with count_only', { key: s.k('c'), rangeEnd: ZERO, countOnly: true });
      await s.range('range_end "\\0\\0" is an ordinary key', { key: s.k('a'), rangeEnd: Uint8Array.from([0, 0]) });
      await s.range('prefix of a key ending in 0xff', { key: s.k([0xff]), rangeEnd: s.end([0xff]) });
      await s.range('whole scenario prefix', { key: s.k(), rangeEnd: s.end() });
      await s.range('interval with a missing start key', { key: s.k('a/15'), rangeEnd: s.k('b/0') });
      await s.range('range_end just past a', { key: s.k('a'), rangeEnd: s.k([0x61, 0x00]) });
    },
  ],
  [
    'limit, more and count',
    async (s) => {
      for (let i = 0; i < 5; i++) await s.put(`put k${i}`, { key: s.k(`k${i}`), value: utf8(`v${i}`) });
      const all = { key: s.k('k'), rangeEnd: s.end('k') };
      await s.range('limit 2', { ...all, limit: 2n });
      await s.range('limit 4', { ...all, limit: 4n });
      await s.range('limit 5 (exactly all)', { ...all, limit: 5n });
      await s.range('limit 6', { ...all, limit: 6n });
      await s.range('limit 0', { ...all, limit: 0n });
      await s.range('limit -1', { ...all, limit: -1n });
      await s.range('count_only', { ...all, countOnly: true });
      await s.range('count_only with limit 1', { ...all, countOnly: true, limit: 1n });
      await s.range('keys_only with limit 3', { ...all, keysOnly: true, limit: 3n });
      await s.range('keys_only and count_only', { ...all, keysOnly: true, countOnly: true });
      await s.range('single key with limit 1', { key: s.k('k1'), limit: 1n });
      await s.range('count_only on a missing key', { key: s.k('nope'), countOnly: true });
      await s.range('limit 2 at an older revision (3 keys then)', { ...all, limit: 2n, revision: s.rev(3) });
      await s.range('count_only at an older revision', { ...all, countOnly: true, revision: s.rev(2) });
      await s.range('serializable with limit 2', { ...all, limit: 2n, serializable: true });
      await s.range('limit 2^62', { ...all, limit: 2n ** 62n });
      await s.range('min_mod_revision 2^62', { ...all, minModRevision: 2n ** 62n });
      await s.range('revision 2^62', { ...all, revision: 2n ** 62n });
      // Kubernetes pagination: later pages pinned to the first page's revision, start = last key + "\0".
      await s.put('put k5 after the first page', { key: s.k('k5'), value: utf8('v5') });
      await s.range('page 1', { ...all, limit: 2n, revision: s.rev(5) });
      await s.range('page 2', { key: s.k('k1\0'), rangeEnd: s.end('k'), limit: 2n, revision: s.rev(5) });
      await s.range('page 3', { key: s.k('k3\0'), rangeEnd: s.end('k'), limit: 2n, revision: s.rev(5) });
      await s.range('page 3 unpinned sees k5', { key: s.k('k3\0'), rangeEnd: s.end('k'), limit: 2n });
    },
  ],
  [
    'sort orders x targets, with and without limit',
    async (s) => {
      // Creation order c, a, e, b, d; final versions a3 b1 c4 d2 e5; distinct values; distinct mod order.
      const writes: [string, string][] = [
        ['c', 'q'], ['a', 'r'], ['e', 's'], ['b', 'z'], ['d', 't'],
        ['a', 'u'], ['c', 'v'], ['e', 'w'], ['c', 'x'], ['e', 'y'],
        ['a', 'm'], ['e', 'n'], ['c', 'b'], ['d', 'o'], ['e', 'k'],
      ];
      for (const [k, v] of writes) await s.put(`put ${k}=${v}`, { key: s.k(`s/${k}`), value: utf8(v) });
      const all = { key: s.k('s/'), rangeEnd: s.end('s/') };
      for (const sortOrder of SORT_ORDERS) {
        for (const sortTarget of SORT_TARGETS) {
          const name = `${pb.RangeRequest_SortOrder[sortOrder]} by ${pb.RangeRequest_SortTarget[sortTarget]}`;
          await s.range(name, { ...all, sortOrder, sortTarget });
          await s.range(`${name}, limit 2`, { ...all, sortOrder, sortTarget, limit: 2n });
        }
      }
      await s.range('DESCEND by VALUE, keys_only, limit 3', { ...all, sortOrder: DESCEND, sortTarget: pb.RangeRequest_SortTarget.VALUE, keysOnly: true, limit: 3n });
      await s.range('DESCEND by MOD, count_only', { ...all, sortOrder: DESCEND, sortTarget: pb.RangeRequest_SortTarget.MOD, countOnly: true });
      await s.range('DESCEND by KEY at an older revision, limit 2', { ...all, sortOrder: DESCEND, revision: s.rev(5), limit: 2n });
      await s.range('NONE by VERSION (sorted ascending by etcd), limit 1', { ...all, sortTarget: pb.RangeRequest_SortTarget.VERSION, limit: 1n });
      await s.range('NONE by CREATE, limit 3', { ...all, sortTarget: pb.RangeRequest_SortTarget.CREATE, limit: 3n });
      // Ties: three keys with equal version and value.
      for (const k of ['t/a', 't/b', 't/c']) await s.put(`put ${k}`, { key: s.k(k), value: utf8('same') });
      const ties = { key: s.k('t/'), rangeEnd: s.end('t/') };
      await s.range('ties: DESCEND by VERSION', { ...ties, sortOrder: DESCEND, sortTarget: pb.RangeRequest_SortTarget.VERSION });
      await s.range('ties: ASCEND by VALUE', { ...ties, sortOrder: ASCEND, sortTarget: pb.RangeRequest_SortTarget.VALUE });
      await s.range('ties: DESCEND by VALUE, limit 2', { ...ties, sortOrder: DESCEND, sortTarget: pb.RangeRequest_SortTarget.VALUE, limit: 2n });
    },
  ],
  [
    'invalid sort order (out of the enum)',
    async (s) => {
      // Only sort_order is varied: an unknown sort_target makes etcd 3.4/3.5 dereference a nil sorter
      // and crash (etcd-io/etcd#13554), so that request cannot be sent to the reference server.
      await s.put('put a', { key: s.k('a'), value: utf8('1') });
      await s.put('put b', { key: s.k('b'), value: utf8('2') });
      const all = { key: s.k(), rangeEnd: s.end() };
      await s.range('sort_order 9, target KEY', { ...all, sortOrder: 9 as pb.RangeRequest_SortOrder });
      await s.range('sort_order 9, target VERSION', { ...all, sortOrder: 9 as pb.RangeRequest_SortOrder, sortTarget: pb.RangeRequest_SortTarget.VERSION });
      await s.range('sort_order -1', { ...all, sortOrder: -1 as pb.RangeRequest_SortOrder });
      await s.txn('sort_order 9 inside a txn', { success: [opRange({ ...all, sortOrder: 9 as pb.RangeRequest_SortOrder })] });
    },
  ],
  [
    'min/max mod/create revision filters (count is not reduced)',
    async (s) => {
      for (let i = 0; i < 6; i++) await s.put(`put f${i}`, { key: s.k(`f${i}`), value: utf8(`${i}`) }); // rev 1..6
      await s.put('update f1', { key: s.k('f1'), value: utf8('1b') }); // rev 7
      await s.put('update f3', { key: s.k('f3'), value: utf8('3b') }); // rev 8
      const all = { key: s.k('f'), rangeEnd: s.end('f') };
      await s.range('min_mod_revision 4', { ...all, minModRevision: s.rev(4) });
      await s.range('max_mod_revision 4', { ...all, maxModRevision: s.rev(4) });
      await s.range('min_create_revision 2, max_create_revision 5', { ...all, minCreateRevision: s.rev(2), maxCreateRevision: s.rev(5) });
      await s.range('min_mod 4 with limit 2', { ...all, minModRevision: s.rev(4), limit: 2n });
      await s.range('min_mod 4 with limit 4', { ...all, minModRevision: s.rev(4), limit: 4n });
      await s.range('max_mod 3 with limit 1', { ...all, maxModRevision: s.rev(3), limit: 1n });
      await s.range('min_create 3 with limit 2', { ...all, minCreateRevision: s.rev(3), limit: 2n });
      await s.range('max_create 2 with limit 5', { ...all, maxCreateRevision: s.rev(2), limit: 5n });
      await s.range('min_mod 7 and max_mod 7', { ...all, minModRevision: s.rev(7), maxModRevision: s.rev(7) });
      await s.range('min_mod above everything', { ...all, minModRevision: s.rev(100) });
      await s.range('min_mod 4 with count_only', { ...all, minModRevision: s.rev(4), countOnly: true });
      await s.range('min_mod 4 with keys_only and limit 2', { ...all, minModRevision: s.rev(4), keysOnly: true, limit: 2n });
      await s.range('min_mod 4, DESCEND by MOD, limit 2', { ...all, minModRevision: s.rev(4), sortOrder: DESCEND, sortTarget: pb.RangeRequest_SortTarget.MOD, limit: 2n });
      await s.range('max_mod 5 at revision 6, limit 2', { ...all, maxModRevision: s.rev(5), revision: s.rev(6), limit: 2n });
      await s.range('min_create 4 on a single key', { key: s.k('f2'), minCreateRevision: s.rev(4) });
      await s.range('negative filters are no filters', { ...all, minModRevision: -5n, maxCreateRevision: -5n });
    },
  ],
  [
    'historical reads',
    async (s) => {
      await s.put('put h=1', { key: s.k('h'), value: utf8('1') }); // 1
      await s.put('put h=2', { key: s.k('h'), value: utf8('2') }); // 2
      await s.put('put g=1', { key: s.k('g'), value: utf8('1') }); // 3
      await s.del('delete h', { key: s.k('h') }); // 4
      await s.put('put h=3 (re-created)', { key: s.k('h'), value: utf8('3') }); // 5
      for (let r = 0; r <= 5; r++) await s.range(`h at revision base+${r}`, { key: s.k('h'), revision: s.rev(r) });
      await s.range('prefix at revision 3', { key: s.k(), rangeEnd: s.end(), revision: s.rev(3) });
      await s.range('prefix at revision 4, count_only', { key: s.k(), rangeEnd: s.end(), revision: s.rev(4), countOnly: true });
      await s.range('revision 0 = current', { key: s.k('h'), revision: 0n });
      await s.range('negative revision = current', { key: s.k('h'), revision: -1n });
      await s.range('revision = current', { key: s.k('h'), revision: s.rev(5) });
      await s.range('revision current + 1', { key: s.k('h'), revision: s.rev(6) });
      await s.range('revision current + 100', { key: s.k('h'), revision: s.rev(100) });
      await s.range('serializable at an older revision', { key: s.k('h'), revision: s.rev(2), serializable: true });
      await s.txn('read-only txn at an older revision', { success: [opRange({ key: s.k('h'), revision: s.rev(1) })] });
      await s.txn('read-only txn at a future revision', { success: [opRange({ key: s.k('h'), revision: s.rev(50) })] });
      await s.txn('write txn with a range at a future revision', {
        success: [opPut({ key: s.k('x'), value: utf8('x') }), opRange({ key: s.k('h'), revision: s.rev(50) })],
      });
      await s.txn('future revision in the branch not taken', {
        compare: [cmp(s.k('h'), 'version', EQUAL, 99n)],
        success: [opRange({ key: s.k('h'), revision: s.rev(50) })],
        failure: [opRange({ key: s.k('h') })],
      });
      await s.txn('range at the revision the txn writes', {
        success: [opPut({ key: s.k('y'), value: utf8('y') }), opRange({ key: s.k('y'), revision: s.rev(6) })],
      });
    },
  ],
  [
    'delete: single, prefix, interval, from-key, nothing; prev_kv; re-create resets version',
    async (s) => {
      for (const k of ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'z', 'zz']) await s.put(`put ${k}`, { key: s.k(k), value: utf8(k) });
      await s.put('update x/a', { key: s.k('x/a'), value: utf8('x/a 2') });
      await s.del('delete x/a with prev_kv', { key: s.k('x/a'), prevKv: true });
      await s.del('delete missing x/a with prev_kv', { key: s.k('x/a'), prevKv: true });
      await s.del('delete prefix x/ with prev_kv', { key: s.k('x/'), rangeEnd: s.end('x/'), prevKv: true });
      await s.del('delete interval [y/a, z) without prev_kv', { key: s.k('y/a'), rangeEnd: s.k('z') });
      await s.del('delete reversed interval [zz, z)', { key: s.k('zz'), rangeEnd: s.k('z'), prevKv: true });
      await s.del('delete empty interval [z, z)', { key: s.k('z'), rangeEnd: s.k('z'), prevKv: true });
      await s.del('delete from-key z with prev_kv', { key: s.k('z'), rangeEnd: ZERO, prevKv: true });
      await s.range('nothing left', { key: s.k(), rangeEnd: s.end() });
      await s.del('delete prefix again (nothing)', { key: s.k('x/'), rangeEnd: s.end('x/'), prevKv: true });
      await s.put('re-create x/a', { key: s.k('x/a'), value: utf8('again'), prevKv: true });
      await s.range('x/a has version 1 and a new create_revision', { key: s.k('x/a') });
      await s.range('x/a before the delete', { key: s.k('x/a'), revision: s.rev(8) });
      await s.range('x/a while deleted', { key: s.k('x/a'), revision: s.rev(9) });
    },
  ],
  [
    'txn: every compare target x result on an existing key',
    async (s) => {
      await s.put('put c=m', { key: s.k('c'), value: utf8('l') }); // create 1
      await s.put('update c=m', { key: s.k('c'), value: utf8('m') }); // mod 2, version 2
      await s.put('put other', { key: s.k('other'), value: utf8('o') }); // 3
      const key = s.k('c');
      const operands: Record<CompareTarget, (bigint | Uint8Array)[]> = {
        version: [1n, 2n, 3n],
        create: [s.rev(0), s.rev(1), s.rev(2)],
        mod: [s.rev(1), s.rev(2), s.rev(3)],
        value: [utf8('l'), utf8('m'), utf8('n'), utf8('m\0'), new Uint8Array()],
        lease: [-1n, 0n, 1n],
      };
      for (const [target, values] of Object.entries(operands) as [CompareTarget, (bigint | Uint8Array)[]][]) {
        for (const result of COMPARE_RESULTS) {
          for (const [i, operand] of values.entries()) {
            await s.txn(`${target} ${pb.Compare_CompareResult[result]} operand#${i}`, {
              compare: [cmp(key, target, result, operand)],
              success: [opRange({ key, keysOnly: true })],
              failure: [opRange({ key: s.k('other') })],
            });
          }
        }
      }
      await s.txn('target MOD with a version operand (compared as 0)', { compare: [cmp(key, 'mod', GREATER, undefined)], success: [opRange({ key, countOnly: true })] });
      await s.txn('target MOD with mismatched union', {
        compare: [{ key, target: pb.Compare_CompareTarget.MOD, result: GREATER, targetUnion: { case: 'version', value: 1000n } }],
      });
      await s.txn('target VALUE with no operand', { compare: [cmp(key, 'value', GREATER, undefined)] });
      await s.txn('all of several compares true', {
        compare: [cmp(key, 'version', EQUAL, 2n), cmp(key, 'value', EQUAL, utf8('m')), cmp(s.k('other'), 'create', EQUAL, s.rev(3))],
        success: [opRange({ key: s.k('other') })],
      });
      await s.txn('one of several compares false', {
        compare: [cmp(key, 'version', EQUAL, 2n), cmp(key, 'value', EQUAL, utf8('x'))],
        failure: [opRange({ key })],
      });
      await s.txn('no compares', { success: [opRange({ key })], failure: [opRange({ key: s.k('other') })] });
      await s.txn('empty txn', {});
      await s.txn('false compare with an empty failure branch', { compare: [cmp(key, 'version', EQUAL, 9n)], success: [opRange({ key })] });
    },
  ],
  [
    'txn: compares on a missing key and range compares',
    async (s) => {
      const missing = s.k('missing');
      for (const target of ['version', 'create', 'mod', 'value', 'lease'] as CompareTarget[]) {
        for (const result of COMPARE_RESULTS) {
          const operand = target === 'value' ? new Uint8Array() : 0n;
          await s.txn(`missing: ${target} ${pb.Compare_CompareResult[result]} zero`, { compare: [cmp(missing, target, result, operand)] });
        }
      }
      await s.txn('missing: value NOT_EQUAL "x" (value compares on missing keys always fail)', { compare: [cmp(missing, 'value', NOT_EQUAL, utf8('x'))] });
      await s.txn('missing: value LESS "x"', { compare: [cmp(missing, 'value', LESS, utf8('x'))] });
      await s.txn('missing: version LESS 1', { compare: [cmp(missing, 'version', LESS, 1n)] });

      await s.put('put r/a', { key: s.k('r/a'), value: utf8('v') }); // 1
      await s.put('put r/b', { key: s.k('r/b'), value: utf8('v') }); // 2
      await s.put('update r/b', { key: s.k('r/b'), value: utf8('v') }); // 3
      await s.put('put r/c', { key: s.k('r/c'), value: utf8('w') }); // 4
      const r = s.k('r/');
      const rEnd = s.end('r/');
      await s.txn('range: version > 0', { compare: [cmp(r, 'version', GREATER, 0n, rEnd)] });
      await s.txn('range: version > 1 (r/a has 1)', { compare: [cmp(r, 'version', GREATER, 1n, rEnd)] });
      await s.txn('range: version < 3', { compare: [cmp(r, 'version', LESS, 3n, rEnd)] });
      await s.txn('range: version = 1', { compare: [cmp(r, 'version', EQUAL, 1n, rEnd)] });
      await s.txn('range: mod < 5', { compare: [cmp(r, 'mod', LESS, s.rev(5), rEnd)] });
      await s.txn('range: create != 2', { compare: [cmp(r, 'create', NOT_EQUAL, s.rev(2), rEnd)] });
      await s.txn('range: value = v (r/c is w)', { compare: [cmp(r, 'value', EQUAL, utf8('v'), rEnd)] });
      await s.txn('range [r/a, r/c): value = v', { compare: [cmp(r, 'value', EQUAL, utf8('v'), s.k('r/c'))] });
      await s.txn('range: lease = 0', { compare: [cmp(r, 'lease', EQUAL, 0n, rEnd)] });
      await s.txn('from-key range: version > 0', { compare: [cmp(s.k('r/b'), 'version', GREATER, 0n, ZERO)] });
      await s.txn('empty range: version = 0', { compare: [cmp(s.k('q/'), 'version', EQUAL, 0n, s.end('q/'))] });
      await s.txn('empty range: value = ""', { compare: [cmp(s.k('q/'), 'value', EQUAL, new Uint8Array(), s.end('q/'))] });
      await s.txn('reversed range: version = 0', { compare: [cmp(s.k('r/c'), 'version', EQUAL, 0n, s.k('r/a'))] });
    },
  ],
  [
    'txn: compare with an unknown result or target enum',
    async (s) => {
      await s.put('put a', { key: s.k('a'), value: utf8('v') });
      await s.txn('compare result 7', { compare: [{ key: s.k('a'), target: pb.Compare_CompareTarget.VERSION, result: 7 as pb.Compare_CompareResult, targetUnion: { case: 'version', value: 5n } }] });
      await s.txn('compare target 9', { compare: [{ key: s.k('a'), target: 9 as pb.Compare_CompareTarget, result: EQUAL }] });
    },
  ],
  [
    'txn: writes and reads inside one txn, headers of every response',
    async (s) => {
      await s.put('put d', { key: s.k('d'), value: utf8('d') }); // 1
      await s.txn('put, range, put, range prefix, delete, range', {
        success: [
          opPut({ key: s.k('a'), value: utf8('1'), prevKv: true }),
          opRange({ key: s.k('a') }),
          opPut({ key: s.k('b'), value: utf8('2') }),
          opRange({ key: s.k(), rangeEnd: s.end() }),
          opDelete({ key: s.k('d'), prevKv: true }),
          opRange({ key: s.k(), rangeEnd: s.end(), countOnly: true }),
          opRange({ key: s.k('d'), revision: s.rev(1) }),
        ],
      }); // 2
      await s.txn('second put to the same keys, prev_kv', {
        success: [opPut({ key: s.k('a'), value: utf8('1b'), prevKv: true }), opRange({ key: s.k('a') })],
      }); // 3
      await s.txn('read-only txn', { success: [opRange({ key: s.k(), rangeEnd: s.end() })] });
      await s.txn('delete of nothing and a range (no revision)', { success: [opDelete({ key: s.k('nope'), prevKv: true }), opRange({ key: s.k('a') })] });
      await s.txn('failure branch with writes', {
        compare: [cmp(s.k('a'), 'version', EQUAL, 100n)],
        success: [opPut({ key: s.k('never'), value: utf8('x') })],
        failure: [opPut({ key: s.k('c'), value: utf8('3') }), opDelete({ key: s.k('b') }), opRange({ key: s.k(), rangeEnd: s.end() })],
      }); // 4
      await s.txn('put with ignore_value on a missing key in the taken branch', { success: [opPut({ key: s.k('nope'), ignoreValue: true })] });
      await s.txn('put with ignore_lease on a missing key in the taken branch', { success: [opPut({ key: s.k('nope'), ignoreLease: true })] });
      await s.txn('put with ignore_value on a missing key in the branch not taken', {
        compare: [cmp(s.k('a'), 'version', EQUAL, 100n)],
        success: [opPut({ key: s.k('nope'), ignoreValue: true })],
        failure: [opRange({ key: s.k('a') })],
      });
      await s.txn('put with ignore_value in a txn', { success: [opPut({ key: s.k('a'), ignoreValue: true, prevKv: true }), opRange({ key: s.k('a') })] }); // 5
      await s.txn('put with a lease that does not exist', { success: [opPut({ key: s.k('a'), value: utf8('x'), lease: 99n })] });
      await s.txn('ranges with limit, count_only, keys_only and sort inside a txn', {
        success: [
          opRange({ key: s.k(), rangeEnd: s.end(), limit: 1n }),
          opRange({ key: s.k(), rangeEnd: s.end(), countOnly: true }),
          opRange({ key: s.k(), rangeEnd: s.end(), keysOnly: true, sortOrder: DESCEND, sortTarget: pb.RangeRequest_SortTarget.MOD }),
          opRange({ key: s.k(), rangeEnd: s.end(), minModRevision: s.rev(4), limit: 1n }),
        ],
      });
      await s.range('final state', { key: s.k(), rangeEnd: s.end() });
    },
  ],
  [
    'txn: nested txns',
    async (s) => {
      const create = (v: string): TxnInit => ({
        compare: [cmp(s.k('n'), 'version', EQUAL, 0n)],
        success: [opPut({ key: s.k('n'), value: utf8(v) }), opRange({ key: s.k('n') })],
        failure: [opRange({ key: s.k('n') })],
      });
      await s.txn('nested create (taken)', { success: [opTxn(create('1')), opRange({ key: s.k('n') })] });
      await s.txn('nested create again (inner failure)', { success: [opTxn(create('2')), opRange({ key: s.k('n') })] });
      await s.txn('nested txn in the failure branch', {
        compare: [cmp(s.k('n'), 'version', EQUAL, 5n)],
        failure: [opTxn({ success: [opPut({ key: s.k('m'), value: utf8('m') })] }), opRange({ key: s.k(), rangeEnd: s.end() })],
      });
      await s.txn('three levels deep', {
        success: [
          opTxn({
            success: [
              opTxn({
                compare: [cmp(s.k('m'), 'value', EQUAL, utf8('m'))],
                success: [opDelete({ key: s.k('m'), prevKv: true }), opRange({ key: s.k('m') })],
              }),
              opRange({ key: s.k(), rangeEnd: s.end(), keysOnly: true }),
            ],
          }),
          opPut({ key: s.k('top'), value: utf8('t') }),
        ],
      });
      await s.txn('nested read-only txn', { success: [opTxn({ success: [opRange({ key: s.k('n') })] })] });
      await s.txn('nested empty txn', { success: [opTxn({})] });
      await s.txn('nested then/else both put the same key (allowed)', {
        success: [opTxn({ compare: [cmp(s.k('n'), 'version', EQUAL, 1n)], success: [opPut({ key: s.k('q'), value: utf8('then') })], failure: [opPut({ key: s.k('q'), value: utf8('else') })] })],
      });
      await s.range('final state', { key: s.k(), rangeEnd: s.end() });
    },
  ],
  [
    'txn: duplicate key rules',
    async (s) => {
      const put = (k: string): OpInit => opPut({ key: s.k(k), value: utf8(k) });
      const del = (k: string, end?: Uint8Array): OpInit => opDelete({ key: s.k(k), ...(end ? { rangeEnd: end } : {}) });
      const get = (k: string): OpInit => opRange({ key: s.k(k) });
      const cases: [string, TxnInit][] = [
        ['put a twice', { success: [put('a'), put('a')] }],
        ['put a twice in the failure branch (checked although not taken)', { failure: [put('a'), put('a')] }],
        ['put and range of the same key', { success: [put('a'), get('a')] }],
        ['delete a twice', { success: [del('a'), del('a')] }],
        ['delete [a, c) then put b', { success: [del('a', s.k('c')), put('b')] }],
        ['put b then delete [a, c)', { success: [put('b'), del('a', s.k('c'))] }],
        ['put a then delete prefix', { success: [put('a'), del('', s.end())] }],
        ['delete a then put a', { success: [del('a'), put('a')] }],
        ['delete a then put b', { success: [del('a'), put('b')] }],
        ['delete [a, c) then put c (end is exclusive)', { success: [del('a', s.k('c')), put('c')] }],
        ['delete from-key a ("\\0") then put b', { success: [del('a', ZERO), put('b')] }],
        ['delete from-key a ("\\0") then put a', { success: [del('a', ZERO), put('a')] }],
        ['nested then and else put the same key', { success: [opTxn({ success: [put('a')], failure: [put('a')] })] }],
        ['put a next to a nested txn putting a', { success: [put('a'), opTxn({ success: [put('a')] })] }],
        ['put a next to a nested txn putting a in else', { success: [put('a'), opTxn({ failure: [put('a')] })] }],
        ['two nested txns putting a', { success: [opTxn({ success: [put('a')] }), opTxn({ success: [put('a')] })] }],
        ['nested then a, nested else a', { success: [opTxn({ success: [put('a')] }), opTxn({ failure: [put('a')] })] }],
        ['nested else a, nested then a', { success: [opTxn({ failure: [put('a')] }), opTxn({ success: [put('a')] })] }],
        ['delete a next to a nested txn putting a', { success: [del('a'), opTxn({ success: [put('a')] })] }],
        ['nested txn deleting the prefix, then put a', { success: [opTxn({ success: [del('', s.end())] }), put('a')] }],
        ['nested delete a, then nested put a', { success: [opTxn({ success: [del('a')] }), opTxn({ success: [put('a')] })] }],
        ['duplicate inside a nested txn', { success: [opTxn({ success: [put('a'), put('a')] })] }],
        ['duplicate inside a nested failure branch', { success: [opTxn({ failure: [put('a'), put('a')] })] }],
        ['nested then puts a, nested else deletes a', { success: [opTxn({ success: [put('a')], failure: [del('a')] })] }],
        ['put in success and failure of the top level', { success: [put('a')], failure: [put('a')] }],
        ['doubly nested put a vs top-level put a', { success: [put('a'), opTxn({ success: [opTxn({ success: [put('a')] })] })] }],
      ];
      for (const [name, req] of cases) await s.txn(name, req);
      await s.range('final state', { key: s.k(), rangeEnd: s.end() });
    },
  ],
  [
    'txn: too many operations (default --max-txn-ops 128) and the nested budget',
    async (s) => {
      const ranges = (n: number): OpInit[] => Array.from({ length: n }, (_, i) => opRange({ key: s.k(`r${i}`), countOnly: true }));
      const puts = (n: number): OpInit[] => Array.from({ length: n }, (_, i) => opPut({ key: s.k(`p${i}`), value: utf8(`${i}`) }));
      const compares = (n: number): CompareInit[] => Array.from({ length: n }, (_, i) => cmp(s.k(`c${i}`), 'version', EQUAL, 0n));
      await s.txn('129 puts', { success: puts(129) });
      await s.txn('128 puts', { success: puts(128) });
      await s.txn('129 compares', { compare: compares(129) });
      await s.txn('129 failure ranges', { failure: ranges(129) });
      await s.txn('128 compares, 128 success, 128 failure', { compare: compares(128), success: ranges(128), failure: ranges(128) });
      // etcd: a nested txn may have at most 128 - max(len(compare), len(success), len(failure)) ops per list.
      await s.txn('101 ops with a nested txn of 27 (budget 27)', { success: [...ranges(100), opTxn({ success: ranges(27) })] });
      await s.txn('101 ops with a nested txn of 28 (budget 27)', { success: [...ranges(100), opTxn({ success: ranges(28) })] });
      await s.txn('101 ops with a nested txn of 28 compares', { success: [...ranges(100), opTxn({ compare: compares(28) })] });
      await s.txn('nested budget counts the compares of the parent', { compare: compares(120), success: [opTxn({ failure: ranges(9) })] });
      await s.txn('nested budget: 8 ops fit beside 120 compares', { compare: compares(120), success: [opTxn({ failure: ranges(8) })] });
      await s.txn('nested budget in the failure branch', { failure: [...ranges(64), opTxn({ success: ranges(64) })] });
      await s.txn('two levels: 1 + (1 + 126)', { success: [opTxn({ success: [opTxn({ success: ranges(126) })] })] });
      await s.txn('two levels: 1 + (1 + 127)', { success: [opTxn({ success: [opTxn({ success: ranges(127) })] })] });
      await s.txn('too many ops checked before an empty compare key', { compare: [...compares(128), cmp(new Uint8Array(), 'version', EQUAL, 0n)] });
      await s.range('count of written keys', { key: s.k('p'), rangeEnd: s.end('p'), countOnly: true });
    },
  ],
  [
    'txn: empty RequestOp',
    async (s) => {
      await s.txn('empty op in success', { success: [{}] });
      await s.txn('empty op in failure', { failure: [{}] });
      await s.txn('empty op in the branch not taken', { compare: [cmp(s.k('a'), 'version', EQUAL, 0n)], failure: [{}] });
      await s.txn('empty op after a valid op', { success: [opRange({ key: s.k('a') }), {}] });
      await s.txn('empty op in a nested txn', { success: [opTxn({ success: [{}] })] });
      await s.txn('empty op before an empty key', { success: [{}, opRange({ key: new Uint8Array() })] });
    },
  ],
  [
    'Kubernetes txn shapes (create, update, delete, compaction bookkeeping) with failure branches',
    async (s) => {
      const key = s.k('registry/pods/default/p1');
      const modEq = (rev: bigint): CompareInit => cmp(key, 'mod', EQUAL, rev);
      await s.txn('create (mod_revision == 0) then put', { compare: [modEq(0n)], success: [opPut({ key, value: utf8('v1') })] }); // 1
      await s.txn('create again fails, no else', { compare: [modEq(0n)], success: [opPut({ key, value: utf8('v1') })] });
      await s.range('Get: limit 1 at revision 0', { key, limit: 1n });
      await s.range('Get: at the create revision', { key, limit: 1n, revision: s.rev(1) });
      await s.txn('update with the right revision', { compare: [modEq(s.rev(1))], success: [opPut({ key, value: utf8('v2') })], failure: [opRange({ key })] }); // 2
      await s.txn('update with a stale revision returns the current object', { compare: [modEq(s.rev(1))], success: [opPut({ key, value: utf8('v3') })], failure: [opRange({ key })] });
      await s.txn('delete with a stale revision', { compare: [modEq(s.rev(1))], success: [opDelete({ key })], failure: [opRange({ key })] });
      await s.txn('delete with the right revision', { compare: [modEq(s.rev(2))], success: [opDelete({ key })], failure: [opRange({ key })] }); // 3
      await s.txn('delete again (object gone)', { compare: [modEq(s.rev(2))], success: [opDelete({ key })], failure: [opRange({ key })] });
      await s.txn('create after delete', { compare: [modEq(0n)], success: [opPut({ key, value: utf8('v4') })] }); // 4
      await s.txn('unconditional range + delete (kine)', { success: [opRange({ key }), opDelete({ key })] }); // 5
      await s.txn('unconditional range + delete of a gone object', { success: [opRange({ key }), opDelete({ key })] });
      const compactKey = s.k('compact_rev_key');
      const compactTxn = (t: bigint, rev: string): TxnInit => ({
        compare: [cmp(compactKey, 'version', EQUAL, t)],
        success: [opPut({ key: compactKey, value: utf8(rev) })],
        failure: [opRange({ key: compactKey })],
      });
      await s.txn('compaction bookkeeping, first time (version 0)', compactTxn(0n, '5')); // 6
      await s.txn('compaction bookkeeping with a stale version', compactTxn(0n, '6'));
      await s.txn('compaction bookkeeping with the current version', compactTxn(1n, '6')); // 7
      for (let i = 0; i < 3; i++) await s.put(`put pod p${i + 2}`, { key: s.k(`registry/pods/default/p${i + 2}`), value: utf8(`pod${i}`) });
      const list = { key: s.k('registry/pods/'), rangeEnd: s.end('registry/pods/') };
      await s.range('List: first page', { ...list, limit: 2n });
      await s.range('List: next page pinned', { ...list, key: s.k('registry/pods/default/p3\0'), limit: 2n, revision: s.rev(10) });
      await s.range('Count', { ...list, countOnly: true });
    },
  ],
  [
    'Status, Alarm, Defragment, MemberList shapes',
    async (s) => {
      await s.put('put a', { key: s.k('a'), value: utf8('1') });
      await s.status('Status');
      await s.alarm('Alarm GET', { action: pb.AlarmRequest_AlarmAction.GET });
      await s.alarm('Alarm GET NOSPACE for member 0', { action: pb.AlarmRequest_AlarmAction.GET, alarm: pb.AlarmType.NOSPACE });
      await s.alarm('Alarm DEACTIVATE an alarm that is not raised', { action: pb.AlarmRequest_AlarmAction.DEACTIVATE, alarm: pb.AlarmType.NOSPACE });
      await s.defragment('Defragment');
      await s.memberList('MemberList');
      await s.range('revision unchanged by maintenance', { key: s.k('a') });
    },
  ],
  [
    'request size limits (--max-request-bytes 1.5 MiB, gRPC receive limit 2 MiB)',
    async (s) => {
      const value = (n: number): Uint8Array => new Uint8Array(n).fill(0x61);
      await s.put('put 1.5 MiB - 1 KiB (accepted)', { key: s.k('ok'), value: value(1.5 * MiB - 1024) });
      await s.range('get it back', { key: s.k('ok'), keysOnly: true });
      await s.put('put 1.5 MiB + 100 KiB', { key: s.k('big'), value: value(1.5 * MiB + 100 * 1024) });
      await s.put('put 2 MiB (over the gRPC limit)', { key: s.k('huge'), value: value(2 * MiB) });
      await s.txn('txn putting 1.5 MiB + 100 KiB', { success: [opPut({ key: s.k('big'), value: value(1.5 * MiB + 100 * 1024) })] });
      await s.txn('txn of two puts of 800 KiB', {
        success: [opPut({ key: s.k('t1'), value: value(800 * 1024) }), opPut({ key: s.k('t2'), value: value(800 * 1024) })],
      });
      await s.del('delete with a 1.6 MiB key', { key: s.k(new Uint8Array(1.6 * MiB).fill(0x62)) });
      await s.range('range with a 1.6 MiB key (reads are not proposals)', { key: s.k(new Uint8Array(1.6 * MiB).fill(0x62)) });
      await s.txn('read-only txn with a 1.6 MiB compare value', {
        compare: [cmp(s.k('ok'), 'value', EQUAL, value(1.6 * MiB))],
        failure: [opRange({ key: s.k('ok'), countOnly: true })],
      });
      await s.range('nothing but ok was written', { key: s.k(), rangeEnd: s.end(), keysOnly: true });
    },
  ],
];

// ---------------------------------------------------------------------------------------------
// Scenarios on fresh servers (absolute revisions, the whole key space, compaction)

const FRESH: [string, Scenario][] = [
  [
    'fresh store: initial revision and the whole key space (key "\\0", range_end "\\0")',
    async (s) => {
      s.note('store revision before any write', String(s.base));
      const everything = { key: ZERO, rangeEnd: ZERO };
      await s.range('everything in an empty store', everything);
      await s.range('count everything in an empty store', { ...everything, countOnly: true });
      await s.range('revision 1 of an empty store', { ...everything, revision: 1n });
      for (const k of ['a', 'b/c', 'b/d', 'zz']) await s.put(`put ${k}`, { key: utf8(k), value: utf8(k) });
      await s.put('put 0xff 0xff', { key: Uint8Array.from([0xff, 0xff]), value: utf8('ff') });
      await s.put('put "\\0x"', { key: Uint8Array.from([0, 0x78]), value: utf8('zero') });
      await s.range('everything', everything);
      await s.range('everything, count_only', { ...everything, countOnly: true });
      await s.range('everything, keys_only, limit 2', { ...everything, keysOnly: true, limit: 2n });
      await s.range('everything, DESCEND by KEY', { ...everything, sortOrder: DESCEND });
      await s.range('everything at revision 3', { ...everything, revision: s.rev(3) });
      await s.range('from-key b', { key: utf8('b'), rangeEnd: ZERO });
      await s.range('single key "\\0" (missing)', { key: ZERO });
      await s.range('prefix of 0xff', { key: Uint8Array.from([0xff]), rangeEnd: ZERO });
      await s.txn('compare over everything: version > 0', { compare: [cmp(ZERO, 'version', GREATER, 0n, ZERO)], success: [opRange({ ...everything, countOnly: true })] });
      await s.txn('compare over everything: value = "a"', { compare: [cmp(ZERO, 'value', EQUAL, utf8('a'), ZERO)], failure: [opRange({ ...everything, keysOnly: true, limit: 1n })] });
      await s.del('delete everything with prev_kv', { ...everything, prevKv: true });
      await s.range('nothing left', everything);
      await s.status('Status of the fresh store');
    },
  ],
  [
    'compaction: compact to current, twice, older, future; reads at and below the compact revision',
    async (s) => {
      for (let i = 1; i <= 5; i++) await s.put(`put k=v${i}`, { key: s.k('k'), value: utf8(`v${i}`) }); // 1..5
      await s.put('put gone', { key: s.k('gone'), value: utf8('g') }); // 6
      await s.del('delete gone', { key: s.k('gone') }); // 7
      await s.put('put other', { key: s.k('other'), value: utf8('o') }); // 8
      await s.compact('compact to 3 (physical)', { revision: s.rev(3), physical: true });
      await s.range('k at the compact revision', { key: s.k('k'), revision: s.rev(3) });
      await s.range('k below the compact revision', { key: s.k('k'), revision: s.rev(2) });
      await s.range('prefix count at the compact revision', { key: s.k(), rangeEnd: s.end(), revision: s.rev(3), countOnly: true });
      await s.range('count_only below the compact revision', { key: s.k(), rangeEnd: s.end(), revision: s.rev(1), countOnly: true });
      await s.range('serializable below the compact revision', { key: s.k('k'), revision: s.rev(2), serializable: true });
      await s.range('gone at revision 6', { key: s.k('gone'), revision: s.rev(6) });
      await s.compact('compact to 3 again', { revision: s.rev(3) });
      await s.compact('compact to 2 (older than compacted)', { revision: s.rev(2) });
      await s.compact('compact to 0', { revision: 0n });
      await s.compact('compact to -1', { revision: -1n });
      await s.compact('compact to the future', { revision: s.rev(9) });
      await s.compact('compact to the far future', { revision: s.rev(1000) });
      await s.compact('compact to 2^62', { revision: 2n ** 62n });
      await s.txn('txn range below the compact revision', { success: [opRange({ key: s.k('k'), revision: s.rev(2) })] });
      await s.txn('write txn with a range below the compact revision', { success: [opPut({ key: s.k('w'), value: utf8('w') }), opRange({ key: s.k('k'), revision: s.rev(2) })] });
      await s.txn('compacted revision in the branch not taken', {
        compare: [cmp(s.k('k'), 'version', EQUAL, 99n)],
        success: [opRange({ key: s.k('k'), revision: s.rev(1) })],
        failure: [opRange({ key: s.k('k'), revision: s.rev(3) })],
      });
      await s.compact('compact to current (6 gone, 7 deleted, 8 current)', { revision: s.rev(8) });
      await s.range('everything at the compact (= current) revision', { key: s.k(), rangeEnd: s.end(), revision: s.rev(8) });
      await s.range('k at 7', { key: s.k('k'), revision: s.rev(7) });
      await s.put('put after compaction', { key: s.k('k'), value: utf8('v6') }); // 9
      await s.range('k at the compact revision after a put', { key: s.k('k'), revision: s.rev(8) });
      await s.range('k history is intact', { key: s.k('k') });
      await s.compact('compact without physical', { revision: s.rev(9), physical: false });
      await s.range('k at 8 after the second compaction', { key: s.k('k'), revision: s.rev(8) });
      // The Kubernetes compactor: bookkeeping txn, then Compact to the revision the txn saw.
      const ck = s.k('compact_rev_key');
      await s.txn('apiserver compaction txn', { compare: [cmp(ck, 'version', EQUAL, 0n)], success: [opPut({ key: ck, value: utf8('9') })], failure: [opRange({ key: ck })] }); // 10
      await s.compact('apiserver Compact', { revision: s.rev(10) });
      await s.txn('apiserver compaction txn, stale', { compare: [cmp(ck, 'version', EQUAL, 0n)], success: [opPut({ key: ck, value: utf8('10') })], failure: [opRange({ key: ck })] });
      await s.status('Status after compaction');
    },
  ],
  [
    'one key changed twice in one revision (allowed by etcd checkIntervals); T4 writes still work afterwards',
    async (s) => {
      // Last on these servers: in etcd both changes apply at one revision; a server that cannot
      // represent that must refuse the request, not fail its write path.
      await s.put('put a', { key: s.k('a'), value: utf8('1') }); // 1
      await s.put('put b', { key: s.k('b'), value: utf8('1') }); // 2
      await s.txn('delete existing b twice in one txn', { success: [opDelete({ key: s.k('b'), prevKv: true }), opDelete({ key: s.k('b'), prevKv: true })] }); // 3
      await s.range('b after the double delete', { key: s.k('b') });
      await s.put('put after the double delete', { key: s.k('c'), value: utf8('1') }); // 4
      // checkIntervals treats range_end "\0" literally, so [e, "\0") overlaps nothing: allowed.
      await s.put('put e', { key: s.k('e'), value: utf8('1') }); // 5
      await s.txn('from-key delete of existing e, then put e', {
        success: [opDelete({ key: s.k('e'), rangeEnd: ZERO, prevKv: true }), opPut({ key: s.k('e'), value: utf8('2'), prevKv: true }), opRange({ key: s.k('e') })],
      }); // 6
      await s.range('e after delete+put in one revision', { key: s.k('e') });
      await s.txn('nested put a, then sibling nested delete a', {
        success: [opTxn({ success: [opPut({ key: s.k('a'), value: utf8('2'), prevKv: true })] }), opTxn({ success: [opDelete({ key: s.k('a'), prevKv: true })] })],
      }); // 7
      await s.range('a after put+delete in one revision', { key: s.k('a') });
      await s.range('a at the revision before', { key: s.k('a'), revision: s.rev(6) });
      await s.put('a plain put afterwards', { key: s.k('d'), value: utf8('1') }); // 8
      await s.txn('a txn afterwards', { compare: [cmp(s.k('d'), 'version', EQUAL, 1n)], success: [opPut({ key: s.k('d'), value: utf8('2') })] }); // 9
      await s.range('final state', { key: s.k(), rangeEnd: s.end() });
    },
  ],
];

// ---------------------------------------------------------------------------------------------

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 32);
}

interface Pair {
  etcd: EtcdProcess;
  t4: T4Process;
  etcdClient: EtcdGrpcClient;
  t4Client: EtcdGrpcClient;
}

async function startPair(): Promise<Pair> {
  const [etcd, t4] = await Promise.allSettled([startEtcd(), startT4()]);
  if (etcd.status === 'rejected' || t4.status === 'rejected') {
    if (etcd.status === 'fulfilled') await etcd.value.kill9();
    if (t4.status === 'fulfilled') await t4.value.cleanup();
    throw etcd.status === 'rejected' ? etcd.reason : (t4 as PromiseRejectedResult).reason;
  }
  return { etcd: etcd.value, t4: t4.value, etcdClient: new EtcdGrpcClient(etcd.value.endpoint), t4Client: new EtcdGrpcClient(t4.value.endpoint) };
}

async function stopPair(pair: Pair | undefined): Promise<void> {
  if (pair === undefined) return;
  pair.etcdClient.close();
  pair.t4Client.close();
  await Promise.all([pair.etcd.stop().catch(() => pair.etcd.kill9()), pair.t4.cleanup()]);
}

function defineScenarios(group: string, scenarios: [string, Scenario][]): void {
  describe(group, () => {
    let pair: Pair | undefined;
    before(async () => {
      pair = await startPair();
    });
    after(async () => {
      await stopPair(pair);
    });
    scenarios.forEach(([name, scenario], i) => {
      it(name, { timeout: 60_000 }, async () => {
        if (pair === undefined) throw new Error('servers did not start');
        await differential(pair.etcdClient, pair.t4Client, `d/${String(i).padStart(3, '0')}-${slug(name)}/`, scenario);
      });
    });
  });
}

const etcdBinary = findExternal('etcd');

describe('differential: T4 vs etcd over raw gRPC', { skip: etcdBinary.skip }, () => {
  defineScenarios('shared servers', SHARED);
  defineScenarios('fresh servers', FRESH);
});
