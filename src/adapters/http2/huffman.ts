/**
 * The HPACK Huffman code (RFC 7541 Appendix B). The code is canonical: codes of one length are
 * consecutive in symbol order and each length's first code follows the previous length's last,
 * so the 257 code lengths below determine every code. Decoding walks the bits with the canonical
 * per-length limits; encoding is not needed (T4 sends its few header values as plain literals).
 *
 * Decoding rules (RFC 7541 5.2): padding is at most 7 bits, all ones (a prefix of EOS); an EOS
 * symbol inside the string is an error.
 */

/** Code length in bits of symbols 0..255 and of EOS (256). */
const CODE_BITS: readonly number[] = [
  // 0-31: control bytes
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 32-63: ' ' .. '?'
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 64-95: '@' .. '_'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 96-127: '`' .. DEL
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128-255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // 256: EOS
  30,
];

export const EOS = 256;
const MAX_BITS = 30;

interface CanonicalCode {
  /** Symbols ordered by (code length, symbol). */
  readonly symbols: Uint16Array;
  /** For each length: the first code of that length, and where its symbols start in `symbols`. */
  readonly firstCode: Int32Array;
  readonly firstIndex: Int32Array;
  readonly count: Int32Array;
  /** code[s] and bits[s] for every symbol (tests, and encoding if ever needed). */
  readonly codes: Uint32Array;
}

function buildCanonical(): CanonicalCode {
  if (CODE_BITS.length !== 257) throw new Error(`HPACK Huffman table must have 257 lengths, has ${CODE_BITS.length}`);
  const count = new Int32Array(MAX_BITS + 1);
  for (const bits of CODE_BITS) count[bits] = (count[bits] as number) + 1;
  const firstCode = new Int32Array(MAX_BITS + 2);
  const firstIndex = new Int32Array(MAX_BITS + 2);
  let code = 0;
  let index = 0;
  for (let bits = 1; bits <= MAX_BITS; bits++) {
    firstCode[bits] = code;
    firstIndex[bits] = index;
    code = (code + (count[bits] as number)) * 2;
    index += count[bits] as number;
  }
  const symbols = new Uint16Array(257);
  const next = firstIndex.slice();
  const codes = new Uint32Array(257);
  for (let bits = 1; bits <= MAX_BITS; bits++) {
    for (let s = 0; s < 257; s++) {
      if (CODE_BITS[s] !== bits) continue;
      const i = (next[bits] as number)++;
      symbols[i] = s;
      codes[s] = (firstCode[bits] as number) + (i - (firstIndex[bits] as number));
    }
  }
  return { symbols, firstCode, firstIndex, count, codes };
}

const CANONICAL = buildCanonical();

/** The code of `symbol` and its length in bits (tests compare these with RFC 7541 Appendix B). */
export function huffmanCode(symbol: number): { code: number; bits: number } {
  return { code: CANONICAL.codes[symbol] as number, bits: CODE_BITS[symbol] as number };
}

export class HuffmanDecodeError extends Error {}

/**
 * Decodes a Huffman-coded string literal. Header values are octets; they come back as a latin1
 * string (one char per octet, ISO-8859-1, not the WHATWG windows-1252), as node:http2 presents them.
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  const { symbols, firstCode, firstIndex, count } = CANONICAL;
  const out = Buffer.allocUnsafe((end - start) * 2); // at least 5 bits a symbol: 8/5 < 2 symbols per byte
  let n = 0;
  let code = 0;
  let bits = 0;
  for (let i = start; i < end; i++) {
    const byte = bytes[i] as number;
    for (let b = 7; b >= 0; b--) {
      code = (code << 1) | ((byte >> b) & 1);
      bits++;
      if (bits < 5) continue;
      const offset = code - (firstCode[bits] as number);
      if (offset < (count[bits] as number)) {
        const symbol = symbols[(firstIndex[bits] as number) + offset] as number;
        if (symbol === EOS) throw new HuffmanDecodeError('EOS symbol in a Huffman-coded string');
        out[n++] = symbol;
        code = 0;
        bits = 0;
      } else if (bits >= MAX_BITS) {
        throw new HuffmanDecodeError('invalid Huffman code');
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
  if (bits > 7) throw new HuffmanDecodeError('Huffman padding longer than 7 bits');
  if (bits > 0 && code !== (1 << bits) - 1) throw new HuffmanDecodeError('Huffman padding is not a prefix of EOS');
  return out.toString('latin1', 0, n);
}
