import { huffmanDecode } from './huffman.js';

/**
 * HPACK (RFC 7541): header block decoding with the static and dynamic tables, and the plain
 * encoding T4 uses for its responses.
 *
 * Decoding follows every representation (indexed, literal with/without/never indexing, dynamic
 * table size updates at the start of a block) and every error the RFC names: index 0 or past the
 * tables, an integer that overflows, a table size update above the limit we advertised or after
 * the first field, a truncated block, bad Huffman. Errors are COMPRESSION_ERROR (a connection
 * error: the decoder's state can no longer be trusted).
 *
 * Encoding never touches the peer's dynamic table: a field is a static-table index when the
 * whole field is in the static table (`:status: 200`), else a literal without indexing, with the
 * static table's name index when there is one, and never Huffman-coded. T4's responses have a
 * handful of constant fields, which are encoded once and reused byte for byte.
 */

/** RFC 7541 Appendix A, index 1..61. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

export const STATIC_TABLE_LENGTH = STATIC_TABLE.length;

/** The static entry at `index` (1-based), for tests. */
export function staticEntry(index: number): readonly [string, string] | undefined {
  return STATIC_TABLE[index - 1];
}

/** RFC 7541 4.1: an entry's size is its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;
/** The largest integer accepted in a representation (a table index, a string length, a size). */
const INTEGER_MAX = 2 ** 31 - 1;

export class HpackError extends Error {}

/**
 * One connection's HPACK decoder. `decode` appends the block's fields to `out` as name, value,
 * name, value, ... (header names and values as latin1 strings) and returns the header list size
 * (RFC 9113 6.5.2: octets plus 32 per field).
 */
export class HpackDecoder {
  /** Dynamic table, oldest first: the newest entry is dynamic index 1 (absolute STATIC_TABLE_LENGTH + 1). */
  private readonly names: string[] = [];
  private readonly values: string[] = [];
  private size = 0;
  private tableSizeMax: number;

  /** `tableSizeLimit` is our SETTINGS_HEADER_TABLE_SIZE: the peer may shrink the table below it, never grow past it. */
  constructor(private readonly tableSizeLimit = 4096) {
    this.tableSizeMax = tableSizeLimit;
  }

  /** Entries in the dynamic table (tests). */
  get dynamicLength(): number {
    return this.names.length;
  }

  /** Octets the dynamic table holds (tests). */
  get dynamicSize(): number {
    return this.size;
  }

  decode(block: Uint8Array, out: string[]): number {
    let pos = 0;
    let listSize = 0;
    let fieldSeen = false;
    const end = block.length;
    const readInteger = (prefixBits: number): number => {
      if (pos >= end) throw new HpackError('truncated header block');
      const mask = (1 << prefixBits) - 1;
      let value = (block[pos++] as number) & mask;
      if (value < mask) return value;
      let shift = 0;
      for (;;) {
        if (pos >= end) throw new HpackError('truncated integer');
        const byte = block[pos++] as number;
        value += (byte & 0x7f) * 2 ** shift;
        if (value > INTEGER_MAX) throw new HpackError('integer overflow');
        if ((byte & 0x80) === 0) return value;
        shift += 7;
      }
    };
    const readString = (): string => {
      if (pos >= end) throw new HpackError('truncated header block');
      const huffman = ((block[pos] as number) & 0x80) !== 0;
      const length = readInteger(7);
      if (pos + length > end) throw new HpackError('string literal past the end of the block');
      const start = pos;
      pos += length;
      if (huffman) {
        try {
          return huffmanDecode(block, start, pos);
        } catch (error) {
          throw new HpackError((error as Error).message);
        }
      }
      return Buffer.from(block.buffer, block.byteOffset + start, length).toString('latin1');
    };
    while (pos < end) {
      const byte = block[pos] as number;
      let name: string;
      let value: string;
      if ((byte & 0x80) !== 0) {
        // 6.1 Indexed Header Field
        const index = readInteger(7);
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if ((byte & 0xc0) === 0x40) {
        // 6.2.1 Literal with Incremental Indexing
        const index = readInteger(6);
        name = index === 0 ? readString() : this.nameAt(index);
        value = readString();
        this.insert(name, value);
      } else if ((byte & 0xe0) === 0x20) {
        // 6.3 Dynamic Table Size Update: only before the first field of a block (4.2).
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        const max = readInteger(5);
        if (max > this.tableSizeLimit) throw new HpackError(`dynamic table size update to ${max}, above the limit ${this.tableSizeLimit}`);
        this.tableSizeMax = max;
        this.evictTo(max);
        continue;
      } else {
        // 6.2.2 Literal without Indexing (0000xxxx) and 6.2.3 Literal Never Indexed (0001xxxx)
        const index = readInteger(4);
        name = index === 0 ? readString() : this.nameAt(index);
        value = readString();
      }
      fieldSeen = true;
      out.push(name, value);
      listSize += name.length + value.length + ENTRY_OVERHEAD;
    }
    return listSize;
  }

  private nameAt(index: number): string {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC_TABLE_LENGTH) return (STATIC_TABLE[index - 1] as readonly [string, string])[0];
    const i = this.names.length - (index - STATIC_TABLE_LENGTH);
    if (i < 0) throw new HpackError(`header index ${index} is past the tables`);
    return this.names[i] as string;
  }

  private valueAt(index: number): string {
    if (index <= STATIC_TABLE_LENGTH) return (STATIC_TABLE[index - 1] as readonly [string, string])[1];
    return this.values[this.names.length - (index - STATIC_TABLE_LENGTH)] as string;
  }

  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.tableSizeMax) {
      // 4.4: an entry larger than the table empties it and is not added.
      this.evictTo(0);
      return;
    }
    this.evictTo(this.tableSizeMax - entrySize);
    this.names.push(name);
    this.values.push(value);
    this.size += entrySize;
  }

  private evictTo(max: number): void {
    let drop = 0;
    while (this.size > max && drop < this.names.length) {
      this.size -= (this.names[drop] as string).length + (this.values[drop] as string).length + ENTRY_OVERHEAD;
      drop++;
    }
    if (drop > 0) {
      this.names.splice(0, drop);
      this.values.splice(0, drop);
    }
  }
}

function encodeInteger(out: number[], firstByte: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | mask);
  let rest = value - mask;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function encodeString(out: number[], text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  encodeInteger(out, 0x00, 7, bytes.length);
  for (const b of bytes) out.push(b);
}

/**
 * A header block of `fields` (lower-case names): static indexes for whole static fields, else
 * literals without indexing (static name index when there is one), no Huffman.
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const full = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (full >= 0) {
      encodeInteger(out, 0x80, 7, full + 1);
      continue;
    }
    const nameIndex = STATIC_TABLE.findIndex(([n]) => n === name);
    if (nameIndex >= 0) {
      encodeInteger(out, 0x00, 4, nameIndex + 1);
    } else {
      out.push(0x00);
      encodeString(out, name);
    }
    encodeString(out, value);
  }
  return Buffer.from(out);
}
