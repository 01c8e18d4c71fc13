// Requests and load loops of `npm run bench:scale`: bulk loading N keys with txns of up to 100
// puts over many connections, and closed-loop put / get points at 1..64 clients, one HTTP/2
// connection per client. Keys are requests.mjs's 64-byte key('scale', i); values are 256 bytes,
// a different slice of a seeded pseudo-random pool per key (so no compressor is flattered).
// Requests are encoded by hand (checked against the protobuf-es encoding in selfCheck()).
import { create, toBinary } from '@bufbuild/protobuf';
import { performance } from 'node:perf_hooks';
import { TxnRequestSchema } from '../../dist/src/adapters/grpc/gen/etcd/api/etcdserverpb/rpc_pb.js';
import { GrpcH2, frame } from './grpc-h2.mjs';
import { summarize } from './report.mjs';
import { KEY_BYTES, PATH, VALUE_BYTES, getBody, key, multiPutBody, putBody } from './requests.mjs';
import { processCpuSeconds } from './servers.mjs';

export const PREFIX = 'scale';
export const TXN_PUTS = 100; // below etcd's and T4's default --max-txn-ops (128)

// --- values -------------------------------------------------------------------------------------
const POOL_BYTES = 1 << 16;
const pool = (() => {
  const buf = Buffer.allocUnsafe(POOL_BYTES + VALUE_BYTES);
  let x = 0x9e3779b9;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return buf;
})();

/** The 256-byte value of key i (and of its later overwrites, `round` shifting the window). */
export function valueOf(i, round = 0) {
  const offset = (Math.imul(i + round * 7919, 2654435761) >>> 0) % POOL_BYTES;
  return pool.subarray(offset, offset + VALUE_BYTES);
}

export function keyOf(i) {
  return key(PREFIX, i);
}

// --- hand-made protobuf -------------------------------------------------------------------------
// PutRequest { key = 1 (64 B), value = 2 (256 B) }: 0x0a 0x40 <key> 0x12 0x80 0x02 <value>
const PUT_BYTES = 2 + KEY_BYTES + 3 + VALUE_BYTES; // 325
if (KEY_BYTES !== 64 || VALUE_BYTES !== 256) throw new Error('scale-load.mjs encodes 64-byte keys and 256-byte values only');

function writeVarint(buf, pos, n) {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}
function varintLength(n) {
  let len = 1;
  while (n >= 0x80) {
    n >>>= 7;
    len++;
  }
  return len;
}

function writePut(buf, pos, k, v) {
  buf[pos++] = 0x0a;
  buf[pos++] = KEY_BYTES;
  buf.set(k, pos);
  pos += KEY_BYTES;
  buf[pos++] = 0x12;
  buf[pos++] = 0x80;
  buf[pos++] = 0x02;
  buf.set(v, pos);
  return pos + VALUE_BYTES;
}

function frameHeader(buf, length) {
  buf[0] = 0;
  buf.writeUInt32BE(length, 1);
}

/** Framed PutRequest for key i. */
export function putFrame(i, round = 0) {
  const buf = Buffer.allocUnsafe(5 + PUT_BYTES);
  frameHeader(buf, PUT_BYTES);
  writePut(buf, 5, keyOf(i), valueOf(i, round));
  return buf;
}

/** Framed RangeRequest { key = 1 } for key i. */
export function getFrame(i) {
  const buf = Buffer.allocUnsafe(5 + 2 + KEY_BYTES);
  frameHeader(buf, 2 + KEY_BYTES);
  buf[5] = 0x0a;
  buf[6] = KEY_BYTES;
  buf.set(keyOf(i), 7);
  return buf;
}

// TxnRequest { success = 2: RequestOp { request_put = 2: PutRequest } ... }
const OP_BYTES = 1 + varintLength(PUT_BYTES) + PUT_BYTES; // RequestOp
const SUCCESS_BYTES = 1 + varintLength(OP_BYTES) + OP_BYTES; // one success entry in TxnRequest

/** Framed TxnRequest putting keys first..end-1 (each its valueOf). */
export function txnPutFrame(first, end) {
  const n = end - first;
  const buf = Buffer.allocUnsafe(5 + n * SUCCESS_BYTES);
  frameHeader(buf, n * SUCCESS_BYTES);
  let pos = 5;
  for (let i = first; i < end; i++) {
    buf[pos++] = 0x12; // TxnRequest.success, field 2, length-delimited
    pos = writeVarint(buf, pos, OP_BYTES);
    buf[pos++] = 0x12; // RequestOp.request_put, field 2
    pos = writeVarint(buf, pos, PUT_BYTES);
    pos = writePut(buf, pos, keyOf(i), valueOf(i));
  }
  return buf;
}

/** The hand-made encodings equal protobuf-es's (throws otherwise). */
export function selfCheck() {
  const same = (a, b, what) => {
    if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) throw new Error(`scale-load: hand-made ${what} differs from protobuf-es`);
  };
  same(putFrame(12345), putBody(keyOf(12345), valueOf(12345)), 'PutRequest');
  same(getFrame(7), getBody(keyOf(7)), 'RangeRequest');
  const success = [];
  for (let i = 100; i < 103; i++) success.push({ request: { case: 'requestPut', value: { key: keyOf(i), value: valueOf(i) } } });
  same(txnPutFrame(100, 103), frame(toBinary(TxnRequestSchema, create(TxnRequestSchema, { success }))), 'TxnRequest');
  same(txnPutFrame(5, 6), multiPutBody([keyOf(5)], valueOf(5)), 'TxnRequest');
}

// --- loading ------------------------------------------------------------------------------------

/**
 * Puts keys from..to-1 in txns of TXN_PUTS puts over `connections` connections (one txn in flight
 * each). onProgress(done) after every txn. { ms, keysPerS, txns }.
 */
export async function loadKeys(endpoint, from, to, { connections = 16, onProgress } = {}) {
  const conns = await Promise.all(Array.from({ length: connections }, () => GrpcH2.connect(endpoint)));
  let next = from;
  let done = 0;
  let txns = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      conns.map(async (conn) => {
        while (next < to) {
          const first = next;
          next = Math.min(to, next + TXN_PUTS);
          const end = next;
          await conn.unary(PATH.txn, txnPutFrame(first, end));
          done += end - first;
          txns++;
          onProgress?.(done);
        }
      }),
    );
  } finally {
    conns.forEach((c) => c.destroy());
  }
  const ms = performance.now() - t0;
  return { keys: to - from, ms: Math.round(ms), keysPerS: Math.round(((to - from) * 1000) / ms), txns };
}

// --- throughput points --------------------------------------------------------------------------

/** xorshift32 PRNG, one per client (deterministic across servers). */
function rng(seed) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * `clients` connections, each one closed loop of `op` ('put': overwrite a random loaded key;
 * 'get': Range of a random loaded key, which must come back with its value) for `seconds`, after
 * an untimed warm-up of `warmupSeconds`. Returns report.mjs summarize() plus { clients, op }.
 */
export async function runPoint(server, { op, clients, seconds, warmupSeconds, keyCount, round = 1 }) {
  const conns = await Promise.all(Array.from({ length: clients }, () => GrpcH2.connect(server.endpoint)));
  const path = op === 'put' ? PATH.put : PATH.range;
  const body = op === 'put' ? (i) => putFrame(i, round) : getFrame;
  let failed;
  const loop = async (deadlineMs, latencies) => {
    await Promise.all(
      conns.map(async (conn, c) => {
        const random = rng(0x1234567 + c * 7777 + round);
        while (failed === undefined && performance.now() < deadlineMs) {
          const i = Math.floor(random() * keyCount);
          const req = body(i);
          const t0 = performance.now();
          try {
            const bytes = await conn.unary(path, req);
            if (op === 'get' && bytes.length <= VALUE_BYTES + KEY_BYTES) throw new Error(`get of key ${i}: ${bytes.length}-byte response, key missing?`);
          } catch (error) {
            failed ??= error;
            break;
          }
          latencies?.push(performance.now() - t0);
        }
      }),
    );
  };
  try {
    await loop(performance.now() + warmupSeconds * 1000, undefined);
    if (failed) throw failed;
    const latenciesMs = [];
    const cpu0 = process.cpuUsage();
    const server0 = processCpuSeconds(server.pid);
    const t0 = performance.now();
    await loop(t0 + seconds * 1000, latenciesMs);
    const wallMs = performance.now() - t0;
    if (failed) throw failed;
    const cpu = process.cpuUsage(cpu0);
    const serverCpuMs = (processCpuSeconds(server.pid) - server0) * 1000;
    return { op, clients, ...summarize({ latenciesMs, wallMs, clientCpuMs: (cpu.user + cpu.system) / 1000, serverCpuMs }) };
  } finally {
    conns.forEach((c) => c.destroy());
  }
}
