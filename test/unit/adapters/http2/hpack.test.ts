// HPACK (RFC 7541) decoding against the RFC's own examples (Appendix C), the Huffman code against
// Appendix B, every error the RFC names, and the plain encoding T4 uses for responses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHeaderBlock, HpackDecoder, HpackError, staticEntry, STATIC_TABLE_LENGTH } from '../../../../src/adapters/http2/hpack.js';
import { EOS, huffmanCode, huffmanDecode, HuffmanDecodeError } from '../../../../src/adapters/http2/huffman.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(decoder: HpackDecoder, block: Buffer): [string, string][] {
  const flat: string[] = [];
  decoder.decode(block, flat);
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

describe('HPACK Huffman code (RFC 7541 Appendix B)', () => {
  it('derives the RFC codes from the code lengths (the code is canonical)', () => {
    // A sample across the table: [symbol, code, bits] as printed in Appendix B.
    const samples: [number, number, number][] = [
      [0, 0x1ff8, 13],
      [1, 0x7fffd8, 23],
      [10, 0x3ffffffc, 30],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [58, 0x5c, 7],
      [92, 0x7fff0, 19],
      [97, 0x3, 5],
      [126, 0x1ffd, 13],
      [127, 0xffffffc, 28],
      [128, 0xfffe6, 20],
      [200, 0x3ffffe2, 26],
      [255, 0x3ffffee, 26],
      [EOS, 0x3fffffff, 30],
    ];
    for (const [symbol, code, bits] of samples) assert.deepEqual(huffmanCode(symbol), { code, bits }, `symbol ${symbol}`);
  });

  it('decodes every symbol, each padded with the most significant bits of EOS', () => {
    for (let s = 0; s < 256; s++) {
      const { code, bits } = huffmanCode(s);
      const total = Math.ceil(bits / 8) * 8;
      const padded = BigInt(code) * 2n ** BigInt(total - bits) + (2n ** BigInt(total - bits) - 1n);
      const bytes = Buffer.from(padded.toString(16).padStart(total / 4, '0'), 'hex');
      assert.equal(huffmanDecode(bytes, 0, bytes.length), String.fromCharCode(s), `symbol ${s}`);
    }
  });

  it('refuses padding longer than 7 bits, padding that is not all ones, and EOS in the string', () => {
    // 'a' (00011) then 11 one-bits: 8 bits of padding.
    assert.throws(() => huffmanDecode(hex('1f ff'), 0, 2), HuffmanDecodeError);
    // 'a' then 000: padding not a prefix of EOS.
    assert.throws(() => huffmanDecode(hex('18'), 0, 1), HuffmanDecodeError);
    // EOS itself (30 ones) followed by padding.
    assert.throws(() => huffmanDecode(hex('ff ff ff ff'), 0, 4), HuffmanDecodeError);
  });
});

describe('HpackDecoder (RFC 7541 Appendix C)', () => {
  it('has the 61-entry static table', () => {
    assert.equal(STATIC_TABLE_LENGTH, 61);
    assert.deepEqual(staticEntry(2), [':method', 'GET']);
    assert.deepEqual(staticEntry(8), [':status', '200']);
    assert.deepEqual(staticEntry(31), ['content-type', '']);
    assert.deepEqual(staticEntry(61), ['www-authenticate', '']);
  });

  it('C.2: literal with indexing, without indexing, never indexed, and indexed', () => {
    assert.deepEqual(decode(new HpackDecoder(), hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
    assert.deepEqual(decode(new HpackDecoder(), hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
    assert.deepEqual(decode(new HpackDecoder(), hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
    assert.deepEqual(decode(new HpackDecoder(), hex('82')), [[':method', 'GET']]);
  });

  it('C.3: three requests without Huffman share one dynamic table', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decode(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    assert.equal(d.dynamicSize, 57);
    assert.deepEqual(decode(d, hex('8286 84be 5808 6e6f 2d63 6163 6865')), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    assert.equal(d.dynamicSize, 110);
    assert.deepEqual(decode(d, hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')), [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
    assert.equal(d.dynamicSize, 164);
    assert.equal(d.dynamicLength, 3);
  });

  it('C.4: the same requests Huffman-coded', () => {
    const d = new HpackDecoder();
    assert.deepEqual(decode(d, hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    assert.deepEqual(decode(d, hex('8286 84be 5886 a8eb 1064 9cbf')).at(-1), ['cache-control', 'no-cache']);
    assert.deepEqual(decode(d, hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')).at(-1), ['custom-key', 'custom-value']);
    assert.equal(d.dynamicSize, 164);
  });

  it('evicts the oldest entries past the table size, and a size update shrinks the table', () => {
    const d = new HpackDecoder(4096);
    // Two literals with indexing of 32 + 1 + 40 = 73 octets each.
    const field = (name: string): Buffer => Buffer.concat([Buffer.from([0x40, 1]), Buffer.from(name), Buffer.from([40]), Buffer.alloc(40, 0x76)]);
    decode(d, Buffer.concat([field('a'), field('b')]));
    assert.equal(d.dynamicSize, 146);
    // A size update to 100 (001 + 5-bit prefix 31, then 69) keeps only the newest entry.
    assert.deepEqual(decode(d, Buffer.from([0x3f, 69, 0xbe])), [['b', 'v'.repeat(40)]]);
    assert.equal(d.dynamicLength, 1);
    // An entry larger than the whole table empties it.
    decode(d, Buffer.concat([Buffer.from([0x40, 1, 0x63, 100]), Buffer.alloc(100, 0x78)]));
    assert.equal(d.dynamicLength, 0);
  });

  it('refuses what RFC 7541 calls decoding errors', () => {
    const refuses = (bytes: Buffer, why: RegExp): void => assert.throws(() => decode(new HpackDecoder(4096), bytes), (e: unknown) => e instanceof HpackError && why.test(e.message));
    refuses(hex('80'), /index 0/);
    refuses(hex('be'), /past the tables/); // dynamic index 1 of an empty table
    refuses(hex('ff ff ff ff ff 0f'), /overflow/);
    refuses(hex('3f e2 1f'), /above the limit/); // size update to 31 + 0x62 + 0x1f * 128 = 4097
    refuses(hex('82 20'), /after a header field/);
    refuses(hex('40 0a 61'), /past the end/);
    refuses(hex('ff'), /truncated/);
    refuses(hex('04 81 18'), /padding/); // Huffman value with bad padding
  });
});

describe('encodeHeaderBlock', () => {
  it('encodes static fields as indexes and the rest as literals that decode back', () => {
    const fields: [string, string][] = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '3'],
      ['grpc-message', 'x'.repeat(300)],
    ];
    const block = encodeHeaderBlock(fields);
    assert.equal(block[0], 0x88);
    assert.deepEqual(decode(new HpackDecoder(), block), fields);
    // Without indexing: the decoder's table stays empty, so the block can be sent on any connection.
    const d = new HpackDecoder();
    decode(d, block);
    assert.equal(d.dynamicLength, 0);
  });
});
