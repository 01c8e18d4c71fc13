import { assert } from '../assert.js';
import { EMPTY_BYTES } from '../bytes.js';
import type { Checksum } from '../../ports/checksum.js';
import type { Change, CommittedBatch, LeaseChange, Revision } from '../mvcc/types.js';
import { decodeAuthState, encodeAuthState } from '../auth/auth-codec.js';
import type { AuthState } from '../auth/types.js';

/**
 * The WAL's byte format (docs/wal.md). Big-endian throughout.
 *
 * Segment header, 24 bytes: magic "T4" 0x02 "\n" | term u64 | first revision i64 | crc32c u32 of
 * the 20 bytes before it.
 *
 * Frame: payload_len u32 | crc32c(payload) u32 | payload. One frame holds one committed batch, so
 * a frame is its own commit marker: a batch is in the log entirely or not at all.
 *
 * Batch payload: kind u8 (=1) | term u64 | from revision i64 | to revision i64 | entry count u32 |
 * entries. Entry: op u8, then per op:
 *   1 PUT      main i64 | sub u32 | create_revision i64 | version i64 | lease i64 | key_len u32 | value_len u32 | key | value
 *   2 DELETE   main i64 | sub u32 | key_len u32 | key
 *   3 COMPACT  revision i64
 *   4 LEASE_GRANT   lease id i64 | ttl seconds i64
 *   5 LEASE_REVOKE  lease id i64 (the deletions of its keys are DELETE entries of the same batch)
 *   6-15       lease records (reserved: checkpoint)
 *   16 AUTH_STATE    len u32 | the whole auth state after the batch (auth/auth-codec.ts); takes no revision
 *   17-31      auth records (reserved)
 */
export const SEGMENT_MAGIC = new Uint8Array([0x54, 0x34, 0x02, 0x0a]);
export const SEGMENT_HEADER_BYTES = 24;
export const FRAME_HEADER_BYTES = 8;
export const BATCH_KIND = 1;

export const enum WalOp {
  Put = 1,
  Delete = 2,
  Compact = 3,
  LeaseGrant = 4,
  LeaseRevoke = 5,
  LeaseCheckpoint = 6,
  AuthFirst = 16,
  AuthState = 16,
  AuthLast = 31,
}

export interface SegmentHeader {
  readonly term: bigint;
  readonly firstRevision: Revision;
}

export function encodeSegmentHeader(header: SegmentHeader, checksum: Checksum): Uint8Array {
  const out = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set(SEGMENT_MAGIC, 0);
  view.setBigUint64(4, header.term);
  view.setBigInt64(12, BigInt(header.firstRevision));
  view.setUint32(20, checksum.crc32c(out.subarray(0, 20)));
  return out;
}

export function decodeSegmentHeader(bytes: Uint8Array, checksum: Checksum): SegmentHeader | undefined {
  if (bytes.length < SEGMENT_HEADER_BYTES) return undefined;
  for (let i = 0; i < SEGMENT_MAGIC.length; i++) if (bytes[i] !== SEGMENT_MAGIC[i]) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  if (view.getUint32(20) !== checksum.crc32c(bytes.subarray(0, 20))) return undefined;
  return { term: view.getBigUint64(4), firstRevision: Number(view.getBigInt64(12)) };
}

/** Encodes a batch as one frame. */
export function encodeBatchFrame(batch: CommittedBatch, term: bigint, checksum: Checksum): Uint8Array {
  let payloadBytes = 1 + 8 + 8 + 8 + 4;
  for (const c of batch.changes) {
    payloadBytes += c.kind === 'put' ? 1 + 8 + 4 + 8 + 8 + 8 + 4 + 4 + c.kv.key.length + c.kv.value.length : 1 + 8 + 4 + 4 + c.kv.key.length;
  }
  if (batch.compactRevision !== undefined) payloadBytes += 1 + 8;
  const leaseChanges = batch.leaseChanges ?? [];
  for (const l of leaseChanges) payloadBytes += l.kind === 'grant' ? 1 + 8 + 8 : 1 + 8;
  const auth = batch.authState === undefined ? undefined : encodeAuthState(batch.authState);
  if (auth !== undefined) payloadBytes += 1 + 4 + auth.length;
  assert(payloadBytes <= 0xffff_ffff, 'a WAL frame holds at most 4 GiB');

  const out = new Uint8Array(FRAME_HEADER_BYTES + payloadBytes);
  const view = new DataView(out.buffer);
  let o = FRAME_HEADER_BYTES;
  view.setUint8(o, BATCH_KIND);
  view.setBigUint64(o + 1, term);
  view.setBigInt64(o + 9, BigInt(batch.fromRevision));
  view.setBigInt64(o + 17, BigInt(batch.toRevision));
  view.setUint32(o + 25, batch.changes.length + (batch.compactRevision !== undefined ? 1 : 0) + leaseChanges.length + (auth !== undefined ? 1 : 0));
  o += 29;
  for (const c of batch.changes) {
    if (c.kind === 'put') {
      view.setUint8(o, WalOp.Put);
      view.setBigInt64(o + 1, BigInt(c.main));
      view.setUint32(o + 9, c.sub);
      view.setBigInt64(o + 13, BigInt(c.kv.createRevision));
      view.setBigInt64(o + 21, BigInt(c.kv.version));
      view.setBigInt64(o + 29, c.kv.lease);
      view.setUint32(o + 37, c.kv.key.length);
      view.setUint32(o + 41, c.kv.value.length);
      o += 45;
      out.set(c.kv.key, o);
      o += c.kv.key.length;
      out.set(c.kv.value, o);
      o += c.kv.value.length;
    } else {
      view.setUint8(o, WalOp.Delete);
      view.setBigInt64(o + 1, BigInt(c.main));
      view.setUint32(o + 9, c.sub);
      view.setUint32(o + 13, c.kv.key.length);
      o += 17;
      out.set(c.kv.key, o);
      o += c.kv.key.length;
    }
  }
  if (batch.compactRevision !== undefined) {
    view.setUint8(o, WalOp.Compact);
    view.setBigInt64(o + 1, BigInt(batch.compactRevision));
    o += 9;
  }
  for (const l of leaseChanges) {
    view.setUint8(o, l.kind === 'grant' ? WalOp.LeaseGrant : WalOp.LeaseRevoke);
    view.setBigInt64(o + 1, l.id);
    if (l.kind === 'grant') {
      view.setBigInt64(o + 9, BigInt(l.ttlSeconds));
      o += 17;
    } else {
      o += 9;
    }
  }
  if (auth !== undefined) {
    view.setUint8(o, WalOp.AuthState);
    view.setUint32(o + 1, auth.length);
    o += 5;
    out.set(auth, o);
    o += auth.length;
  }
  assert(o === out.length, 'WAL frame size computed exactly');
  view.setUint32(0, payloadBytes);
  view.setUint32(4, checksum.crc32c(out.subarray(FRAME_HEADER_BYTES)));
  return out;
}

export type FrameRead =
  | { readonly ok: true; readonly batch: CommittedBatch; readonly term: bigint; readonly end: number }
  | { readonly ok: false; readonly reason: string };

/** Reads the frame at `offset`; never throws on bad bytes (the caller decides torn vs corrupt). */
export function readFrame(bytes: Uint8Array, offset: number, checksum: Checksum): FrameRead {
  if (offset + FRAME_HEADER_BYTES > bytes.length) return { ok: false, reason: 'truncated frame header' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(offset);
  const crc = view.getUint32(offset + 4);
  const start = offset + FRAME_HEADER_BYTES;
  if (length < 29) return { ok: false, reason: `frame length ${length} is too small` };
  if (start + length > bytes.length) return { ok: false, reason: `frame of ${length} bytes runs past the end of the file` };
  const payload = bytes.subarray(start, start + length);
  if (checksum.crc32c(payload) !== crc) return { ok: false, reason: 'checksum mismatch' };
  try {
    const { batch, term } = decodeBatch(payload);
    return { ok: true, batch, term, end: start + length };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}

function decodeBatch(payload: Uint8Array): { batch: CommittedBatch; term: bigint } {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (view.getUint8(0) !== BATCH_KIND) throw new Error(`unknown record kind ${view.getUint8(0)}`);
  const term = view.getBigUint64(1);
  const fromRevision = Number(view.getBigInt64(9));
  const toRevision = Number(view.getBigInt64(17));
  const count = view.getUint32(25);
  let o = 29;
  const changes: Change[] = [];
  let compactRevision: Revision | undefined;
  const leaseChanges: LeaseChange[] = [];
  let authState: AuthState | undefined;
  const bytesAt = (len: number): Uint8Array => {
    if (o + len > payload.length) throw new Error('entry runs past the end of the frame');
    const b = payload.slice(o, o + len);
    o += len;
    return b;
  };
  for (let i = 0; i < count; i++) {
    const op = view.getUint8(o);
    if (op === WalOp.Put) {
      const main = Number(view.getBigInt64(o + 1));
      const sub = view.getUint32(o + 9);
      const createRevision = Number(view.getBigInt64(o + 13));
      const version = Number(view.getBigInt64(o + 21));
      const lease = view.getBigInt64(o + 29);
      const keyLength = view.getUint32(o + 37);
      const valueLength = view.getUint32(o + 41);
      o += 45;
      const key = bytesAt(keyLength);
      const value = bytesAt(valueLength);
      changes.push({ kind: 'put', main, sub, prev: undefined, kv: { key, value, lease, createRevision, modRevision: main, version } });
    } else if (op === WalOp.Delete) {
      const main = Number(view.getBigInt64(o + 1));
      const sub = view.getUint32(o + 9);
      const keyLength = view.getUint32(o + 13);
      o += 17;
      const key = bytesAt(keyLength);
      changes.push({
        kind: 'delete',
        main,
        sub,
        prev: undefined,
        kv: { key, value: EMPTY_BYTES, lease: 0n, createRevision: 0, modRevision: main, version: 0 },
      });
    } else if (op === WalOp.Compact) {
      compactRevision = Number(view.getBigInt64(o + 1));
      o += 9;
    } else if (op === WalOp.LeaseGrant) {
      leaseChanges.push({ kind: 'grant', id: view.getBigInt64(o + 1), ttlSeconds: Number(view.getBigInt64(o + 9)) });
      o += 17;
    } else if (op === WalOp.LeaseRevoke) {
      leaseChanges.push({ kind: 'revoke', id: view.getBigInt64(o + 1) });
      o += 9;
    } else if (op === WalOp.AuthState) {
      const length = view.getUint32(o + 1);
      o += 5;
      authState = decodeAuthState(bytesAt(length));
    } else {
      throw new Error(`unknown WAL op ${op} (written by a newer T4?)`);
    }
  }
  if (o !== payload.length) throw new Error('frame has bytes after its last entry');
  const batch: CommittedBatch = {
    fromRevision,
    toRevision,
    changes,
    compactRevision,
    ...(leaseChanges.length > 0 ? { leaseChanges } : {}),
    ...(authState !== undefined ? { authState } : {}),
  };
  return { batch, term };
}
