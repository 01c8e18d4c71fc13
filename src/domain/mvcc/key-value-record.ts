import { assert } from '../assert.js';
import type { KeyValue } from './types.js';

/**
 * A KeyValue as one byte record: exactly etcd's `mvccpb.KeyValue` in protobuf wire format (key = 1,
 * create_revision = 2, mod_revision = 3, version = 4, value = 5, lease = 6; fields in that order,
 * zero values left out), so a store can keep the current value of each key as one record and a
 * Range response can carry the records as they are, without decoding and re-encoding each key.
 *
 * `decodeKeyValueRecord` remembers the record it decoded a KeyValue from (`keyValueRecordOf`);
 * an object built any other way (a copy, a changed value) has none and is encoded field by field.
 */

const KEY = (1 << 3) | 2;
const CREATE_REVISION = (2 << 3) | 0;
const MOD_REVISION = (3 << 3) | 0;
const VERSION = (4 << 3) | 0;
const VALUE = (5 << 3) | 2;
const LEASE = (6 << 3) | 0;

const EMPTY = new Uint8Array(0);
const records = new WeakMap<KeyValue, Uint8Array>();

/**
 * A record with its length in front, as a RangeResponse carries each of its `kvs` (field 2: tag
 * byte 0x12, varint length, the record): a store keeping these can answer a page of current
 * values with the concatenation of its records, unchanged.
 */
export const FRAMED_RECORD_TAG = (2 << 3) | 2;

export function frameKeyValueRecord(record: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintLength(record.byteLength) + record.byteLength);
  out[0] = FRAMED_RECORD_TAG;
  out.set(record, writeVarint(out, 1, record.byteLength));
  return out;
}

/** The record inside one framed record (a view, not a copy). Throws on anything else. */
export function unframeKeyValueRecord(framed: Uint8Array): Uint8Array {
  const { start, end } = framedRecordAt(framed, 0);
  assert(end === framed.byteLength, 'KeyValue record: bytes after the framed record');
  return framed.subarray(start, end);
}

/** Where the record framed at `offset` starts and ends. */
export function framedRecordAt(bytes: Uint8Array, offset: number): { start: number; end: number } {
  assert(bytes[offset] === FRAMED_RECORD_TAG, 'KeyValue record: not a framed record');
  let at = offset + 1;
  let length = 0;
  let shift = 1;
  let b: number;
  do {
    assert(at < bytes.byteLength && shift <= 2 ** 28, 'KeyValue record: bad frame length');
    b = bytes[at++]!;
    length += (b & 0x7f) * shift;
    shift *= 128;
  } while (b >= 0x80);
  assert(at + length <= bytes.byteLength, 'KeyValue record: frame past its end');
  return { start: at, end: at + length };
}

/** The key of a record (a view): its first field, as encodeKeyValueRecord writes it. */
export function keyOfKeyValueRecord(bytes: Uint8Array, start: number, end: number): Uint8Array {
  if (start === end || bytes[start] !== KEY) return EMPTY;
  let at = start + 1;
  let length = 0;
  let shift = 1;
  let b: number;
  do {
    assert(at < end && shift <= 2 ** 28, 'KeyValue record: bad key length');
    b = bytes[at++]!;
    length += (b & 0x7f) * shift;
    shift *= 128;
  } while (b >= 0x80);
  assert(at + length <= end, 'KeyValue record: key past its end');
  return bytes.subarray(at, at + length);
}

/** The record `kv` was decoded from, when it was decoded from one. */
export function keyValueRecordOf(kv: KeyValue): Uint8Array | undefined {
  return records.get(kv);
}

export function encodeKeyValueRecord(kv: KeyValue): Uint8Array {
  const size =
    bytesLength(kv.key.byteLength) +
    varintFieldLength(kv.createRevision) +
    varintFieldLength(kv.modRevision) +
    varintFieldLength(kv.version) +
    bytesLength(kv.value.byteLength) +
    (kv.lease === 0n ? 0 : 1 + int64Length(kv.lease));
  const out = new Uint8Array(size);
  let at = 0;
  at = writeBytes(out, at, KEY, kv.key);
  at = writeNumber(out, at, CREATE_REVISION, kv.createRevision);
  at = writeNumber(out, at, MOD_REVISION, kv.modRevision);
  at = writeNumber(out, at, VERSION, kv.version);
  at = writeBytes(out, at, VALUE, kv.value);
  if (kv.lease !== 0n) {
    out[at++] = LEASE;
    at = writeInt64(out, at, kv.lease);
  }
  assert(at === size, 'a KeyValue record is as long as computed');
  return out;
}

/**
 * The KeyValue in `record` (key and value are views into it, not copies). Throws on bytes that are
 * not a record this module wrote: a corrupt store must fail loudly, not serve garbage.
 */
export function decodeKeyValueRecord(record: Uint8Array): KeyValue {
  let key: Uint8Array = EMPTY;
  let value: Uint8Array = EMPTY;
  let createRevision = 0;
  let modRevision = 0;
  let version = 0;
  let lease = 0n;
  let at = 0;
  const end = record.byteLength;
  while (at < end) {
    const tag = record[at++]!;
    switch (tag) {
      case KEY:
      case VALUE: {
        let length = 0;
        let shift = 1;
        let b: number;
        do {
          assert(at < end, 'KeyValue record: truncated length');
          b = record[at++]!;
          length += (b & 0x7f) * shift;
          shift *= 128;
        } while (b >= 0x80);
        assert(at + length <= end, 'KeyValue record: field past its end');
        const bytes = record.subarray(at, at + length);
        at += length;
        if (tag === KEY) key = bytes;
        else value = bytes;
        break;
      }
      case CREATE_REVISION:
      case MOD_REVISION:
      case VERSION: {
        let n = 0;
        let shift = 1;
        let b: number;
        do {
          assert(at < end && shift <= 2 ** 49, 'KeyValue record: bad varint');
          b = record[at++]!;
          n += (b & 0x7f) * shift;
          shift *= 128;
        } while (b >= 0x80);
        if (tag === CREATE_REVISION) createRevision = n;
        else if (tag === MOD_REVISION) modRevision = n;
        else version = n;
        break;
      }
      case LEASE: {
        let n = 0n;
        let shift = 0n;
        let b: number;
        do {
          assert(at < end && shift < 70n, 'KeyValue record: bad varint');
          b = record[at++]!;
          n |= BigInt(b & 0x7f) << shift;
          shift += 7n;
        } while (b >= 0x80);
        lease = BigInt.asIntN(64, n);
        break;
      }
      default:
        assert(false, `KeyValue record: unexpected tag ${tag}`);
    }
  }
  const kv: KeyValue = { key, createRevision, modRevision, version, value, lease };
  records.set(kv, record);
  return kv;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function int64Length(n: bigint): number {
  let v = BigInt.asUintN(64, n);
  let len = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    len++;
  }
  return len;
}

function varintFieldLength(n: number): number {
  assert(Number.isSafeInteger(n) && n >= 0, 'KeyValue record: revisions and versions are non-negative safe integers');
  return n === 0 ? 0 : 1 + varintLength(n);
}

function bytesLength(byteLength: number): number {
  return byteLength === 0 ? 0 : 1 + varintLength(byteLength) + byteLength;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

function writeNumber(out: Uint8Array, at: number, tag: number, n: number): number {
  if (n === 0) return at;
  out[at++] = tag;
  return writeVarint(out, at, n);
}

function writeBytes(out: Uint8Array, at: number, tag: number, bytes: Uint8Array): number {
  if (bytes.byteLength === 0) return at;
  out[at++] = tag;
  at = writeVarint(out, at, bytes.byteLength);
  out.set(bytes, at);
  return at + bytes.byteLength;
}

function writeInt64(out: Uint8Array, at: number, n: bigint): number {
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}
