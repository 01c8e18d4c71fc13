import { assert } from './assert.js';

/**
 * The few protobuf wire-format pieces T4's hand-written codecs need (KeyValue records, the gRPC
 * response encoders): varints, tags, length-delimited fields, written into a buffer sized up front
 * and read back with bounds checks. Proto3 rules: a field holding its zero value is left out, as
 * protobuf-es's `toBinary` does, so the bytes match it exactly. Pure Uint8Array code.
 */

/** Wire types. */
const VARINT = 0;
const LENGTH_DELIMITED = 2;

export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

export function varintTag(field: number): number {
  return tag(field, VARINT);
}

export function bytesTag(field: number): number {
  return tag(field, LENGTH_DELIMITED);
}

/** Bytes of `n` (a non-negative safe integer) as a varint. */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Bytes of an int64/uint64 field's value as a varint (negative int64s take 10 bytes). */
export function int64Length(n: number | bigint): number {
  if (typeof n === 'number' && n >= 0 && Number.isSafeInteger(n)) return varintLength(n);
  let v = BigInt.asUintN(64, BigInt(n));
  let len = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    len++;
  }
  return len;
}

/** Size of a varint field (tag + value) holding `n`, 0 when `n` is zero (proto3 leaves it out). */
export function varintFieldLength(n: number | bigint): number {
  return n === 0 || n === 0n ? 0 : 1 + int64Length(n);
}

/** Size of a length-delimited field holding `byteLength` bytes, 0 when empty (proto3 leaves it out). */
export function bytesFieldLength(byteLength: number): number {
  return byteLength === 0 ? 0 : 1 + varintLength(byteLength) + byteLength;
}

/** Size of a length-delimited field that is always written (an embedded message, even when empty). */
export function messageFieldLength(byteLength: number): number {
  return 1 + varintLength(byteLength) + byteLength;
}

/** Writes fields into `out` from `at`; each method returns nothing and advances `at`. */
export class ProtobufWriter {
  at = 0;

  constructor(readonly out: Uint8Array) {}

  varint(n: number): void {
    const out = this.out;
    let at = this.at;
    while (n >= 0x80) {
      out[at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    out[at++] = n;
    this.at = at;
  }

  /** An int64/uint64 value (two's complement for negative int64s, as protobuf does). */
  int64(n: number | bigint): void {
    if (typeof n === 'number' && n >= 0 && Number.isSafeInteger(n)) {
      this.varint(n);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(n));
    const out = this.out;
    let at = this.at;
    while (v >= 0x80n) {
      out[at++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    out[at++] = Number(v);
    this.at = at;
  }

  /** A varint field, left out when zero. */
  varintField(tagByte: number, n: number | bigint): void {
    if (n === 0 || n === 0n) return;
    this.out[this.at++] = tagByte;
    this.int64(n);
  }

  /** A bool field, left out when false. */
  boolField(tagByte: number, value: boolean): void {
    if (!value) return;
    this.out[this.at++] = tagByte;
    this.out[this.at++] = 1;
  }

  /** A bytes field, left out when empty. */
  bytesField(tagByte: number, bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.messageField(tagByte, bytes);
  }

  /** A length-delimited field written even when empty (an embedded message that is set). */
  messageField(tagByte: number, bytes: Uint8Array): void {
    this.out[this.at++] = tagByte;
    this.varint(bytes.byteLength);
    this.out.set(bytes, this.at);
    this.at += bytes.byteLength;
  }

  /** The tag and length of an embedded message whose fields the caller writes next. */
  messageHeader(tagByte: number, byteLength: number): void {
    this.out[this.at++] = tagByte;
    this.varint(byteLength);
  }
}

/**
 * Reads the varint at `at` (a non-negative safe integer, before `end`): its value and where the
 * next field starts. Throws (naming `what`) on a truncated or oversized varint.
 */
export function readVarint(bytes: Uint8Array, at: number, end: number, what: string): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  let b: number;
  do {
    assert(at < end && scale <= 2 ** 49, `${what}: bad varint`);
    b = bytes[at++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
  } while (b >= 0x80);
  return { value, next: at };
}

/** Reads the int64 varint at `at` (two's complement, as protobuf writes negative int64s). */
export function readInt64(bytes: Uint8Array, at: number, end: number, what: string): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  let b: number;
  do {
    assert(at < end && shift < 70n, `${what}: bad varint`);
    b = bytes[at++]!;
    value |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  } while (b >= 0x80);
  return { value: BigInt.asIntN(64, value), next: at };
}

/** The length-delimited field body whose length varint is at `at`: where it starts and ends. */
export function readLengthDelimited(bytes: Uint8Array, at: number, end: number, what: string): { start: number; end: number } {
  const { value: length, next } = readVarint(bytes, at, end, what);
  assert(next + length <= end, `${what}: field past its end`);
  return { start: next, end: next + length };
}
