// The T4E1 envelope, byte for byte (docs/object-storage.md, "Encryption at rest").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import {
  encryptedSizeBytes,
  EnvelopeError,
  envelopeKeyId,
  ENVELOPE_HEADER_BYTES,
  FRAME_PLAIN_BYTES_MAX,
  openEnvelope,
  plaintextSizeBytes,
  sealEnvelope,
} from '../../../../src/adapters/encryption/envelope.js';
import type { EncryptionKey } from '../../../../src/adapters/encryption/encryption-key.js';
import type { DecryptionFailure } from '../../../../src/ports/object-store-errors.js';
import { SeededRandom } from '../../../support/seeded-random.js';

const key0: EncryptionKey = { id: 0, bytes: new Uint8Array(32).fill(0x42), source: 'test key 0' };
const key3: EncryptionKey = { id: 3, bytes: Uint8Array.from({ length: 32 }, (_, i) => i), source: 'test key 3' };
const other0: EncryptionKey = { id: 0, bytes: new Uint8Array(32).fill(0x43), source: 'another key 0' };
const nonce = Uint8Array.from([1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);

const keysOf = (...keys: EncryptionKey[]) => (id: number) => keys.find((k) => k.id === id);
const open = (objectKey: string, body: Uint8Array, ...keys: EncryptionKey[]): Uint8Array =>
  openEnvelope(objectKey, body, keysOf(...keys), () => keys.map((k) => k.id));

function noise(length: number, seed: number): Uint8Array {
  const r = new SeededRandom(seed);
  return Uint8Array.from({ length }, () => r.int(256));
}

function failsWith(reason: DecryptionFailure, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof EnvelopeError, `expected EnvelopeError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    if (pattern !== undefined) assert.match(e.message, pattern);
    return true;
  };
}

/**
 * An independent reading of the format, written from the spec text rather than from envelope.ts:
 * walks the frames and opens each with its own nonce and AAD.
 */
function referenceOpen(objectKey: string, body: Uint8Array, key: Uint8Array): { plain: Buffer; frames: { len: number; final: number }[] } {
  const b = Buffer.from(body);
  assert.equal(b.subarray(0, 4).toString('latin1'), 'T4E1');
  const header = b.subarray(0, 17);
  const base = b.subarray(5, 17);
  let offset = 17;
  const parts: Buffer[] = [];
  const frames: { len: number; final: number }[] = [];
  for (let i = 0n; ; i++) {
    const len = b.readUInt32BE(offset);
    const final = len === 0 ? 1 : 0;
    const nonceI = Buffer.concat([base.subarray(0, 4), Buffer.alloc(8)]);
    nonceI.writeBigUInt64BE(base.readBigUInt64BE(4) ^ i, 4);
    const idx = Buffer.alloc(8);
    idx.writeBigUInt64BE(i);
    const lenBytes = b.subarray(offset, offset + 4);
    const aad = Buffer.concat([Buffer.from('t4-object-encryption-v1', 'latin1'), Buffer.from([0]), Buffer.from(objectKey, 'utf8'), header, idx, Buffer.from([final]), lenBytes]);
    const d = createDecipheriv('aes-256-gcm', key, nonceI);
    d.setAAD(aad);
    d.setAuthTag(b.subarray(offset + 4 + len, offset + 4 + len + 16));
    parts.push(Buffer.concat([d.update(b.subarray(offset + 4, offset + 4 + len)), d.final()]));
    frames.push({ len, final });
    offset += 4 + len + 16;
    if (final === 1) break;
  }
  assert.equal(offset, b.length);
  return { plain: Buffer.concat(parts), frames };
}

describe('T4E1 envelope', () => {
  it('round-trips 0, 1, 64 KiB-1, 64 KiB, 64 KiB+1 and 1 MiB bodies, with the sizes and frames of the format', () => {
    const K = FRAME_PLAIN_BYTES_MAX;
    const cases: [number, number[]][] = [
      [0, [0]],
      [1, [1, 0]],
      [K - 1, [K - 1, 0]],
      [K, [K, 0]],
      [K + 1, [K, 1, 0]],
      [1 << 20, [...new Array<number>(16).fill(K), 0]],
    ];
    for (const [size, frameLengths] of cases) {
      const plain = noise(size, size + 1);
      const sealed = sealEnvelope('wal/0000000001/00000000000000000002', plain, key3);
      assert.equal(sealed.length, encryptedSizeBytes(size), `stored size of ${size}`);
      assert.equal(sealed.length, 17 + plain.length + 20 * frameLengths.length);
      assert.equal(plaintextSizeBytes(sealed.length), size);
      assert.deepEqual(open('wal/0000000001/00000000000000000002', sealed, key3), plain, `round trip of ${size}`);
      const reference = referenceOpen('wal/0000000001/00000000000000000002', sealed, key3.bytes);
      assert.deepEqual(new Uint8Array(reference.plain), plain);
      assert.deepEqual(
        reference.frames,
        frameLengths.map((len) => ({ len, final: len === 0 ? 1 : 0 })),
        'data frames are full except the last, final u8 is 0 on data frames, and a final frame of length 0 with final 1 ends the body',
      );
    }
    assert.equal(encryptedSizeBytes(0), 37, 'an empty body is the header and the final frame');
  });

  it('writes the header as "T4E1" | key id | base nonce, and derives frame nonces by XOR of the frame index', () => {
    const sealed = sealEnvelope('k', noise(3 * FRAME_PLAIN_BYTES_MAX, 9), key3, nonce);
    assert.deepEqual([...sealed.subarray(0, 4)], [0x54, 0x34, 0x45, 0x31]);
    assert.equal(sealed[4], 3);
    assert.deepEqual(sealed.subarray(5, ENVELOPE_HEADER_BYTES), nonce);
    assert.equal(envelopeKeyId(sealed), 3);
    // The low bytes ...fffe XOR 1, 2, 3 give ...ffff, ...fffc, ...fffd: the reference decoder agrees.
    assert.equal(referenceOpen('k', sealed, key3.bytes).frames.length, 4);
    // A pinned nonce makes sealing deterministic (only tests pin it); a random one differs every time.
    assert.deepEqual(sealEnvelope('k', noise(10, 1), key3, nonce), sealEnvelope('k', noise(10, 1), key3, nonce));
    assert.notDeepEqual(sealEnvelope('k', noise(10, 1), key3), sealEnvelope('k', noise(10, 1), key3));
  });

  it('authenticates the object key, byte for byte (UTF-8)', () => {
    const sealed = sealEnvelope('checkpoint/é/manifest.json', noise(100, 2), key0);
    assert.deepEqual(open('checkpoint/é/manifest.json', sealed, key0), noise(100, 2));
    assert.throws(() => open('checkpoint/e/manifest.json', sealed, key0), failsWith('authentication-failed', /copied here from another object key/));
  });

  it('a flipped bit anywhere in a small body fails (every bit tried)', () => {
    const plain = new TextEncoder().encode('hello, encrypted world');
    const sealed = sealEnvelope('k', plain, key0);
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const bad = sealed.slice();
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7));
      assert.throws(() => open('k', bad, key0), EnvelopeError, `flipping bit ${bit} went unnoticed`);
    }
  });

  it('a flipped bit in a multi-frame body fails: header, every length field and tag, and 300 seeded positions', () => {
    const plain = noise(2 * FRAME_PLAIN_BYTES_MAX + 5, 3);
    const sealed = sealEnvelope('k', plain, key0);
    const positions = new Set<number>();
    for (let i = 0; i < ENVELOPE_HEADER_BYTES; i++) positions.add(i);
    let offset = ENVELOPE_HEADER_BYTES;
    for (const len of [FRAME_PLAIN_BYTES_MAX, FRAME_PLAIN_BYTES_MAX, 5, 0]) {
      for (let i = 0; i < 4; i++) positions.add(offset + i);
      positions.add(offset + 4);
      for (let i = 0; i < 16; i++) positions.add(offset + 4 + len + i);
      offset += 4 + len + 16;
    }
    const r = new SeededRandom(11);
    for (let i = 0; i < 300; i++) positions.add(r.int(sealed.length));
    for (const byte of positions) {
      const bad = sealed.slice();
      bad[byte] = (bad[byte] as number) ^ (1 << r.int(8));
      assert.throws(() => open('k', bad, key0), EnvelopeError, `a flipped bit in byte ${byte} went unnoticed`);
    }
  });

  it('damage in one frame is reported as damage, not as a wrong key, when another frame authenticates', () => {
    const sealed = sealEnvelope('k', noise(FRAME_PLAIN_BYTES_MAX + 10, 4), key0);
    const frame0 = sealed.slice();
    frame0[ENVELOPE_HEADER_BYTES + 10] = (frame0[ENVELOPE_HEADER_BYTES + 10] as number) ^ 1;
    assert.throws(() => open('k', frame0, key0), failsWith('damaged', /frame 0 does not authenticate with key id 0 while frame 1 does/));
    const frame1 = sealed.slice();
    const f1 = ENVELOPE_HEADER_BYTES + 4 + FRAME_PLAIN_BYTES_MAX + 16 + 4 + 3;
    frame1[f1] = (frame1[f1] as number) ^ 1;
    assert.throws(() => open('k', frame1, key0), failsWith('damaged', /frame 1 does not authenticate/));
  });

  it('truncation fails: at every frame boundary (final frame missing), inside a frame, inside the header', () => {
    const plain = noise(2 * FRAME_PLAIN_BYTES_MAX + 7, 5);
    const sealed = sealEnvelope('k', plain, key0);
    const frameEnd = (n: number): number => ENVELOPE_HEADER_BYTES + n * (4 + FRAME_PLAIN_BYTES_MAX + 16);
    assert.throws(() => open('k', sealed.subarray(0, ENVELOPE_HEADER_BYTES), key0), failsWith('truncated', /ends after its header/));
    assert.throws(() => open('k', sealed.subarray(0, frameEnd(1)), key0), failsWith('truncated', /ends after frame 0, without its final frame/));
    assert.throws(() => open('k', sealed.subarray(0, frameEnd(2)), key0), failsWith('truncated', /ends after frame 1/));
    const lastData = frameEnd(2) + 4 + 7 + 16;
    assert.equal(sealed.length, lastData + 20);
    assert.throws(() => open('k', sealed.subarray(0, lastData), key0), failsWith('truncated', /ends after frame 2, without its final frame/));
    assert.throws(() => open('k', sealed.subarray(0, sealed.length - 16), key0), failsWith('truncated', /inside frame 3/));
    assert.throws(() => open('k', sealed.subarray(0, frameEnd(1) + 2), key0), failsWith('truncated', /inside the length of frame 1/));
    assert.throws(() => open('k', sealed.subarray(0, 10), key0), failsWith('truncated', /header/));
    // An empty body's final frame alone is 20 bytes; without it nothing remains to open.
    const empty = sealEnvelope('k', new Uint8Array(0), key0);
    assert.throws(() => open('k', empty.subarray(0, ENVELOPE_HEADER_BYTES), key0), failsWith('truncated'));
  });

  it('frames removed, swapped or bytes appended fail', () => {
    const sealed = sealEnvelope('k', noise(3 * FRAME_PLAIN_BYTES_MAX, 6), key0);
    const f = (n: number): number => ENVELOPE_HEADER_BYTES + n * (4 + FRAME_PLAIN_BYTES_MAX + 16);
    const withoutFrame1 = new Uint8Array([...sealed.subarray(0, f(1)), ...sealed.subarray(f(2))]);
    assert.throws(() => open('k', withoutFrame1, key0), failsWith('damaged'));
    const swapped = new Uint8Array([...sealed.subarray(0, f(0)), ...sealed.subarray(f(1), f(2)), ...sealed.subarray(f(0), f(1)), ...sealed.subarray(f(2))]);
    assert.throws(() => open('k', swapped, key0), EnvelopeError);
    const appended = new Uint8Array([...sealed, 0]);
    assert.throws(() => open('k', appended, key0), failsWith('damaged', /1 bytes follow the final frame/));
    // A terminator moved up to end the body early does not authenticate at another index.
    const early = new Uint8Array([...sealed.subarray(0, f(1)), ...sealed.subarray(sealed.length - 20)]);
    assert.throws(() => open('k', early, key0), failsWith('damaged'));
  });

  it('a wrong key, an unknown key id and a plaintext body each fail with their own reason', () => {
    const sealed = sealEnvelope('k', noise(1000, 7), key0);
    assert.throws(() => open('k', sealed, other0), failsWith('authentication-failed', /no frame authenticates with key id 0 \(another key 0\): the key is wrong/));
    assert.throws(() => open('k', sealed, key3), failsWith('unknown-key-id', /key id 0, which this process does not have \(key ids configured: 3\)/));
    const wal = Uint8Array.from([0x54, 0x34, 0x02, 0x0a, 1, 2, 3]);
    assert.throws(() => open('k', wal, key0), failsWith('not-encrypted', /does not start with the T4E1 header \(7 bytes, starting 0x5434020a\)/));
    assert.throws(() => open('k', new Uint8Array(0), key0), failsWith('not-encrypted'));
    assert.throws(() => open('k', sealed.subarray(0, 5), key0), failsWith('truncated'));
  });

  it('plaintextSizeBytes inverts encryptedSizeBytes and refuses sizes no body has', () => {
    for (const n of [0, 1, 2, 65535, 65536, 65537, 131072, 131073, 5_000_000]) assert.equal(plaintextSizeBytes(encryptedSizeBytes(n)), n);
    assert.equal(plaintextSizeBytes(36), undefined);
    assert.equal(plaintextSizeBytes(37 + 65556 + 20), undefined, 'a partial frame needs more than its 20 bytes of overhead');
  });
});
