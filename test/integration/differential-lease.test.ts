// Differential suite for the Lease service: the same request sequence against a real etcd (3.4)
// and T4, responses and errors compared after normalising what legitimately differs:
//  - header cluster_id / member_id / raft_term only have to be set on both sides;
//  - header revisions are relative to the store revision at the start (fresh servers on both sides);
//  - server-chosen lease ids are random on both sides: each is replaced by "lease#n" in the order
//    the grants returned them (client-chosen ids are compared as they are), also inside kvs and
//    lease lists;
//  - lease lists and TimeToLive keys are compared as sorted sets (etcd answers them in map order);
//  - TimeToLive's remaining TTL depends on elapsed time: it must be within 2 s below the granted TTL
//    on both sides (recorded as "~granted");
//  - errors must match on gRPC code and message text exactly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toJson, type DescMessage, type JsonValue, type MessageShape } from '@bufbuild/protobuf';
import * as pb from '../../src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { EtcdGrpcClient, EtcdGrpcError, utf8 } from '../support/etcd-grpc-client.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { findExternal } from '../support/external.js';
import { LeaseGrpcClient } from '../support/lease-grpc-client.js';
import { startT4, type T4Process } from '../support/t4-process.js';

const etcdBin = findExternal('etcd');

type Outcome = { step: string; value?: JsonValue; error?: { code: number; details: string } };

class Side {
  readonly outcomes: Outcome[] = [];
  private base = 0n;
  private readonly ids = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly kv: EtcdGrpcClient,
    readonly lease: LeaseGrpcClient,
  ) {}

  async start(): Promise<void> {
    this.base = (await this.kv.range({ key: utf8('x') })).header?.revision ?? 0n;
  }

  /** The server-chosen id the n-th (1-based) id-0 grant returned. */
  chosen(n: number): bigint {
    for (const [raw, name] of this.ids) if (name === `lease#${n}`) return BigInt(raw);
    throw new Error(`${this.name}: no lease#${n}`);
  }

  async grant(step: string, TTL: bigint, ID = 0n): Promise<void> {
    await this.record(step, pb.LeaseGrantResponseSchema, async () => {
      const res = await this.lease.grant({ TTL, ID });
      if (ID === 0n) this.ids.set(res.ID.toString(), `lease#${this.ids.size + 1}`);
      return res;
    });
  }
  revoke(step: string, ID: bigint): Promise<void> {
    return this.record(step, pb.LeaseRevokeResponseSchema, () => this.lease.revoke({ ID }));
  }
  timeToLive(step: string, ID: bigint, keys: boolean): Promise<void> {
    return this.record(step, pb.LeaseTimeToLiveResponseSchema, () => this.lease.timeToLive({ ID, keys }));
  }
  leases(step: string): Promise<void> {
    return this.record(step, pb.LeaseLeasesResponseSchema, () => this.lease.leases());
  }
  async keepAlive(step: string, ids: bigint[]): Promise<void> {
    try {
      const answers = await this.lease.keepAlive(ids);
      this.outcomes.push({ step, value: answers.map((a) => this.normalise(toJson(pb.LeaseKeepAliveResponseSchema, a))) });
    } catch (err) {
      if (!(err instanceof EtcdGrpcError)) throw err;
      this.outcomes.push({ step, error: { code: err.code, details: err.details } });
    }
  }
  put(step: string, key: string, lease: bigint, extra: { ignoreLease?: boolean } = {}): Promise<void> {
    return this.record(step, pb.PutResponseSchema, () => this.kv.put({ key: utf8(key), value: utf8('v'), lease, ...extra }));
  }
  get(step: string, prefix: string): Promise<void> {
    return this.record(step, pb.RangeResponseSchema, () => this.kv.range({ key: utf8(prefix), rangeEnd: utf8(`${prefix}\xff`) }));
  }
  txnLeaseCompare(step: string, key: string, lease: bigint): Promise<void> {
    return this.record(step, pb.TxnResponseSchema, () =>
      this.kv.txn({
        compare: [{ key: utf8(key), target: pb.Compare_CompareTarget.LEASE, result: pb.Compare_CompareResult.EQUAL, targetUnion: { case: 'lease', value: lease } }],
        success: [{ request: { case: 'requestPut', value: { key: utf8(`${key}-ok`), value: utf8('1'), lease } } }],
      }),
    );
  }

  private async record<D extends DescMessage>(step: string, schema: D, call: () => Promise<MessageShape<D>>): Promise<void> {
    try {
      const res = await call();
      this.outcomes.push({ step, value: this.normalise(toJson(schema, res)) });
    } catch (err) {
      if (!(err instanceof EtcdGrpcError)) throw err;
      this.outcomes.push({ step, error: { code: err.code, details: err.details } });
    }
  }

  private normalise(value: JsonValue): JsonValue {
    const walk = (v: JsonValue, key: string | undefined): JsonValue => {
      if (Array.isArray(v)) {
        const items = v.map((x) => walk(x, undefined));
        return key === 'leases' || key === 'keys' ? items.map((x) => JSON.stringify(x)).sort().map((x) => JSON.parse(x) as JsonValue) : items;
      }
      if (v !== null && typeof v === 'object') {
        const out: { [k: string]: JsonValue } = {};
        for (const [k, x] of Object.entries(v)) out[k] = walk(x, k);
        if ('grantedTTL' in out && typeof out['TTL'] === 'string') {
          const granted = Number(out['grantedTTL']);
          const ttl = Number(out['TTL']);
          out['TTL'] = ttl <= granted && ttl >= granted - 2 ? '~granted' : `off: ${ttl} of ${granted}`;
        }
        return out;
      }
      if (key === 'clusterId' || key === 'memberId' || key === 'raftTerm') return v === undefined || v === '0' ? 'unset' : 'set';
      if (key === 'revision' && typeof v === 'string') return `base+${BigInt(v) - this.base}`;
      if ((key === 'ID' || key === 'lease') && typeof v === 'string') return this.ids.get(v) ?? v;
      return v;
    };
    return walk(value, undefined);
  }
}

describe('differential: Lease against etcd 3.4', { skip: etcdBin.skip }, () => {
  let etcd: EtcdProcess;
  let t4: T4Process;
  const sides: Side[] = [];
  before(async () => {
    [etcd, t4] = await Promise.all([startEtcd(), startT4()]);
    for (const [name, ep] of [['etcd', etcd.endpoint], ['t4', t4.endpoint]] as const) {
      const side = new Side(name, new EtcdGrpcClient(ep), new LeaseGrpcClient(ep));
      await side.start();
      sides.push(side);
    }
  });
  after(async () => {
    for (const s of sides) {
      s.kv.close();
      s.lease.close();
    }
    await Promise.all([etcd?.stop(), t4?.cleanup()]);
  });

  const run = async (scenario: (s: Side) => Promise<void>): Promise<void> => {
    const [e, t] = sides as [Side, Side];
    const from = [e.outcomes.length, t.outcomes.length] as const;
    // Both sides run concurrently so elapsed time (TTLs) stays comparable.
    await Promise.all([scenario(e), scenario(t)]);
    const a = e.outcomes.slice(from[0]);
    const b = t.outcomes.slice(from[1]);
    const diffs: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const x = JSON.stringify(a[i]);
      const y = JSON.stringify(b[i]);
      if (x !== y) diffs.push(`step ${i + 1} "${a[i]?.step ?? b[i]?.step}":\n  etcd: ${x}\n  t4:   ${y}`);
    }
    assert.equal(diffs.length, 0, `${diffs.length} steps differ between etcd and T4:\n${diffs.join('\n')}`);
  };

  it('grant: server-chosen and client ids, TTL clamping, duplicates, too large', () =>
    run(async (s) => {
      await s.grant('grant ttl 60', 60n);
      await s.grant('grant ttl 1 (raised to the minimum)', 1n);
      await s.grant('grant ttl 0', 0n);
      await s.grant('grant ttl -5', -5n);
      await s.grant('grant client id 1000', 30n, 1000n);
      await s.grant('grant client id 1000 again', 30n, 1000n);
      await s.grant('grant ttl 9,000,000,000', 9_000_000_000n, 2000n);
      await s.grant('grant ttl 9,000,000,001', 9_000_000_001n);
      await s.grant('grant ttl 9,000,000,001 for an existing id', 9_000_000_001n, 1000n);
      await s.grant('grant ttl max int64', 9_223_372_036_854_775_807n, 3000n);
      await s.leases('leases');
      await s.revoke('revoke 2000', 2000n);
    }));

  it('attach, time-to-live with keys, keepalive stream, revoke deletes at one revision', () =>
    run(async (s) => {
      await s.grant('grant 4000', 100n, 4000n);
      await s.put('put a with 4000', 'dl/a', 4000n);
      await s.put('put c with 4000', 'dl/c', 4000n);
      await s.put('put b with 4000', 'dl/b', 4000n);
      await s.put('put x with unknown lease', 'dl/x', 4001n);
      await s.put('re-put c without lease (detach)', 'dl/c', 0n);
      await s.put('put b ignore_lease', 'dl/b', 0n, { ignoreLease: true });
      await s.get('keys with their leases', 'dl/');
      await s.txnLeaseCompare('txn lease compare equal', 'dl/a', 4000n);
      await s.timeToLive('ttl with keys', 4000n, true);
      await s.timeToLive('ttl without keys', 4000n, false);
      await s.timeToLive('ttl of a server-chosen lease', s.chosen(1), false);
      await s.timeToLive('ttl unknown', 4002n, true);
      await s.keepAlive('keepalive 4000, unknown, 4000, 0', [4000n, 4002n, 4000n, 0n]);
      await s.revoke('revoke 4000', 4000n);
      await s.get('after revoke', 'dl/');
      await s.timeToLive('ttl after revoke', 4000n, true);
      await s.keepAlive('keepalive after revoke', [4000n]);
      await s.revoke('revoke 4000 again', 4000n);
      await s.revoke('revoke 0', 0n);
      await s.grant('grant 5000', 100n, 5000n);
      await s.revoke('revoke without keys', 5000n);
      await s.leases('leases at the end');
    }));

  it('expiry: a 2 s lease and its keys are gone after it expires', { timeout: 60_000 }, () =>
    run(async (s) => {
      await s.grant('grant 6000 ttl 2', 2n, 6000n);
      await s.put('put e with 6000', 'ex/e', 6000n);
      await s.put('put f with 6000', 'ex/f', 6000n);
      await new Promise((r) => setTimeout(r, 5_000));
      await s.get('after expiry', 'ex/');
      await s.timeToLive('ttl after expiry', 6000n, false);
      await s.keepAlive('keepalive after expiry', [6000n]);
    }));
});
