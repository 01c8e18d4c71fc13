import { assert } from '../assert.js';
import {
  ProtobufWriter,
  bytesFieldLength,
  bytesTag,
  messageFieldLength,
  readInt64,
  readLengthDelimited,
  readVarint,
  varintFieldLength,
  varintTag,
} from '../protobuf-wire.js';
import type { KeyValue } from './types.js';

/**
 * A KeyValue as one byte record: exactly etcd's `mvccpb.KeyValue` in protobuf wire format (key = 1,
 * create_revision = 2, mod_revision = 3, version = 4, value = 5, lease = 6; fields in that order,
 * zero values left out), so a store can keep the current value of each key as one record.
 *
 * A store keeps records framed (`frameKeyValueRecord`) the way a RangeResponse carries each of its
 * `kvs` (field 2: tag byte 0x12, varint length, the record), so a page of current values is the
 * concatenation of its records, sent unchanged.
 */

const KEY = bytesTag(1);
const CREATE_REVISION = varintTag(2);
const MOD_REVISION = varintTag(3);
const VERSION = varintTag(4);
const VALUE = bytesTag(5);
const LEASE = varintTag(6);

export const FRAMED_RECORD_TAG = bytesTag(2);

const EMPTY = new Uint8Array(0);
const WHAT = 'KeyValue record';

export function encodeKeyValueRecord(kv: KeyValue): Uint8Array {
  assert(
    isCount(kv.createRevision) && isCount(kv.modRevision) && isCount(kv.version),
    'KeyValue record: revisions and versions are non-negative safe integers',
  );
  const size =
    bytesFieldLength(kv.key.byteLength) +
    varintFieldLength(kv.createRevision) +
    varintFieldLength(kv.modRevision) +
    varintFieldLength(kv.version) +
    bytesFieldLength(kv.value.byteLength) +
    varintFieldLength(kv.lease);
  const w = new ProtobufWriter(new Uint8Array(size));
  w.bytesField(KEY, kv.key);
  w.varintField(CREATE_REVISION, kv.createRevision);
  w.varintField(MOD_REVISION, kv.modRevision);
  w.varintField(VERSION, kv.version);
  w.bytesField(VALUE, kv.value);
  w.varintField(LEASE, kv.lease);
  assert(w.at === size, 'a KeyValue record is as long as computed');
  return w.out;
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
        const field = readLengthDelimited(record, at, end, WHAT);
        if (tag === KEY) key = record.subarray(field.start, field.end);
        else value = record.subarray(field.start, field.end);
        at = field.end;
        break;
      }
      case CREATE_REVISION:
      case MOD_REVISION:
      case VERSION: {
        const { value: n, next } = readVarint(record, at, end, WHAT);
        if (tag === CREATE_REVISION) createRevision = n;
        else if (tag === MOD_REVISION) modRevision = n;
        else version = n;
        at = next;
        break;
      }
      case LEASE: {
        const { value: n, next } = readInt64(record, at, end, WHAT);
        lease = n;
        at = next;
        break;
      }
      default:
        assert(false, `KeyValue record: unexpected tag ${tag}`);
    }
  }
  return { key, createRevision, modRevision, version, value, lease };
}

export function frameKeyValueRecord(record: Uint8Array): Uint8Array {
  const w = new ProtobufWriter(new Uint8Array(messageFieldLength(record.byteLength)));
  w.messageField(FRAMED_RECORD_TAG, record);
  return w.out;
}

/** Where the record framed at `offset` of `bytes` starts and ends. */
export function framedRecordAt(bytes: Uint8Array, offset: number): { start: number; end: number } {
  assert(bytes[offset] === FRAMED_RECORD_TAG, 'KeyValue record: not a framed record');
  return readLengthDelimited(bytes, offset + 1, bytes.byteLength, WHAT);
}

/** The record inside one framed record (a view, not a copy). Throws on anything else. */
export function unframeKeyValueRecord(framed: Uint8Array): Uint8Array {
  const { start, end } = framedRecordAt(framed, 0);
  assert(end === framed.byteLength, 'KeyValue record: bytes after the framed record');
  return framed.subarray(start, end);
}

/** The key of the record in `bytes[start, end)` (a view): its first field, as encodeKeyValueRecord writes it. */
export function keyOfKeyValueRecord(bytes: Uint8Array, start: number, end: number): Uint8Array {
  if (start === end || bytes[start] !== KEY) return EMPTY;
  const field = readLengthDelimited(bytes, start + 1, end, WHAT);
  return bytes.subarray(field.start, field.end);
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
