/**
 * The T4E1 envelope: how one object body is encrypted (AES-256-GCM in frames). Byte for byte the
 * format of T4 v1 (docs/object-storage.md, "Encryption at rest"), so objects move between T4
 * implementations:
 *
 *   header (17 B)  "T4E1" | key id u8 | base nonce (12 random bytes)
 *   data frame i   plain_len u32 BE (1..65536) | AES-256-GCM(plaintext chunk) | tag (16 B)
 *   final frame    plain_len u32 BE = 0        | tag (16 B) over the empty plaintext
 *
 *   frame nonce i  base[0:4] ‖ BE u64(base[4:12]) XOR i
 *   frame AAD i    "t4-object-encryption-v1" 0x00 | logical object key (UTF-8) | the 17-byte header
 *                  | i u64 BE | final u8 (1 on the final frame only, 0 on every data frame) | plain_len u32 BE
 *
 * Data frames are written full (65536 bytes) except the last one; an empty body is the header and
 * the final frame alone (37 bytes). A reader takes the final frame to be the one with plain_len 0,
 * so a body cut at a frame boundary (final frame missing) and a body with frames removed or
 * reordered fail, as does ciphertext copied to another object key. Bytes after the final frame are
 * refused too (T4 v1 ignored them; it never writes any).
 *
 * Example, a 5-byte body "hello" under key id 1: 17 B header, frame 0 (4 + 5 + 16 B, final 0,
 * plain_len 5), frame 1 (4 + 16 B, final 1, plain_len 0): 62 bytes in all.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { assert } from '../../domain/assert.js';
import type { DecryptionFailure } from '../../ports/object-store-errors.js';
import type { EncryptionKey } from './encryption-key.js';

export const ENVELOPE_MAGIC = Uint8Array.of(0x54, 0x34, 0x45, 0x31); // "T4E1"
export const ENVELOPE_HEADER_BYTES = 17;
export const ENVELOPE_NONCE_BYTES = 12;
export const FRAME_PLAIN_BYTES_MAX = 64 * 1024;
export const FRAME_TAG_BYTES = 16;
const FRAME_LENGTH_BYTES = 4;
/** Length field and tag: what each frame adds to its plaintext. */
export const FRAME_OVERHEAD_BYTES = FRAME_LENGTH_BYTES + FRAME_TAG_BYTES;

const encoder = new TextEncoder();
const AAD_LABEL = encoder.encode('t4-object-encryption-v1\u0000');

/** A body that cannot be opened; the decorator turns it into ObjectDecryptionError with the object key. */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  constructor(
    readonly reason: DecryptionFailure,
    message: string,
  ) {
    super(message);
  }
}

/** The stored size of a body of `plainBytes` bytes (what LIST reports for it). */
export function encryptedSizeBytes(plainBytes: number): number {
  const dataFrames = Math.ceil(plainBytes / FRAME_PLAIN_BYTES_MAX);
  return ENVELOPE_HEADER_BYTES + (dataFrames + 1) * FRAME_OVERHEAD_BYTES + plainBytes;
}

/**
 * The plaintext size of a stored object of `storedBytes` bytes, when it was written with full
 * frames as T4 writes them; undefined when no body gives that size.
 */
export function plaintextSizeBytes(storedBytes: number): number | undefined {
  const payload = storedBytes - ENVELOPE_HEADER_BYTES - FRAME_OVERHEAD_BYTES;
  if (payload < 0) return undefined;
  const fullFrame = FRAME_PLAIN_BYTES_MAX + FRAME_OVERHEAD_BYTES;
  const full = Math.floor(payload / fullFrame);
  const rest = payload % fullFrame;
  if (rest === 0) return full * FRAME_PLAIN_BYTES_MAX;
  if (rest <= FRAME_OVERHEAD_BYTES) return undefined;
  return full * FRAME_PLAIN_BYTES_MAX + rest - FRAME_OVERHEAD_BYTES;
}

/** Whether `body` starts with the T4E1 magic (it may still be damaged or truncated). */
export function hasEnvelopeMagic(body: Uint8Array): boolean {
  if (body.length < ENVELOPE_MAGIC.length) return false;
  for (let i = 0; i < ENVELOPE_MAGIC.length; i++) if (body[i] !== ENVELOPE_MAGIC[i]) return false;
  return true;
}

/** The key id in the header; undefined for a body without the T4E1 magic or cut before the id. */
export function envelopeKeyId(body: Uint8Array): number | undefined {
  return hasEnvelopeMagic(body) && body.length > ENVELOPE_MAGIC.length ? body[ENVELOPE_MAGIC.length] : undefined;
}

function frameNonce(baseNonce: Uint8Array, index: number): Uint8Array {
  const nonce = Uint8Array.from(baseNonce);
  const view = new DataView(nonce.buffer);
  view.setBigUint64(4, view.getBigUint64(4) ^ BigInt(index));
  return nonce;
}

function frameAad(objectKey: Uint8Array, header: Uint8Array, index: number, final: boolean, plainLength: number): Uint8Array {
  const aad = new Uint8Array(AAD_LABEL.length + objectKey.length + header.length + 8 + 1 + 4);
  let o = 0;
  aad.set(AAD_LABEL, o);
  o += AAD_LABEL.length;
  aad.set(objectKey, o);
  o += objectKey.length;
  aad.set(header, o);
  o += header.length;
  const view = new DataView(aad.buffer);
  view.setBigUint64(o, BigInt(index));
  view.setUint8(o + 8, final ? 1 : 0);
  view.setUint32(o + 9, plainLength);
  return aad;
}

/**
 * Encrypts `plain` as the body of `objectKey` (the key as the store's caller names it, relative to
 * the prefix) with `key`. `baseNonce` is random unless a test pins it.
 */
export function sealEnvelope(objectKey: string, plain: Uint8Array, key: EncryptionKey, baseNonce: Uint8Array = randomBytes(ENVELOPE_NONCE_BYTES)): Uint8Array {
  assert(baseNonce.length === ENVELOPE_NONCE_BYTES, 'the base nonce is 12 bytes');
  const out = new Uint8Array(encryptedSizeBytes(plain.length));
  out.set(ENVELOPE_MAGIC, 0);
  out[ENVELOPE_MAGIC.length] = key.id;
  out.set(baseNonce, ENVELOPE_MAGIC.length + 1);
  const header = out.subarray(0, ENVELOPE_HEADER_BYTES);
  const keyName = encoder.encode(objectKey);
  const view = new DataView(out.buffer);
  let offset = ENVELOPE_HEADER_BYTES;
  let index = 0;
  const sealFrame = (chunk: Uint8Array, final: boolean): void => {
    const cipher = createCipheriv('aes-256-gcm', key.bytes, frameNonce(baseNonce, index), { authTagLength: FRAME_TAG_BYTES });
    cipher.setAAD(frameAad(keyName, header, index, final, chunk.length));
    view.setUint32(offset, chunk.length);
    offset += FRAME_LENGTH_BYTES;
    const sealed = cipher.update(chunk);
    const rest = cipher.final();
    out.set(sealed, offset);
    offset += sealed.length;
    out.set(rest, offset);
    offset += rest.length;
    out.set(cipher.getAuthTag(), offset);
    offset += FRAME_TAG_BYTES;
    index++;
  };
  for (let start = 0; start < plain.length; start += FRAME_PLAIN_BYTES_MAX) sealFrame(plain.subarray(start, start + FRAME_PLAIN_BYTES_MAX), false);
  sealFrame(new Uint8Array(0), true);
  assert(offset === out.length, `sealed ${offset} bytes, expected ${out.length}`);
  return out;
}

interface Frame {
  readonly index: number;
  readonly final: boolean;
  readonly plainLength: number;
  readonly ciphertext: Uint8Array;
  readonly tag: Uint8Array;
}

/** The frames after the header, by their length fields; throws at the first structural problem. */
function* frames(body: Uint8Array): Generator<Frame, void, undefined> {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let offset = ENVELOPE_HEADER_BYTES;
  for (let index = 0; ; index++) {
    if (offset === body.length) {
      throw new EnvelopeError('truncated', index === 0 ? 'the body ends after its header, before any frame' : `the body ends after frame ${index - 1}, without its final frame`);
    }
    if (offset + FRAME_LENGTH_BYTES > body.length) throw new EnvelopeError('truncated', `the body ends inside the length of frame ${index}`);
    const plainLength = view.getUint32(offset);
    if (plainLength > FRAME_PLAIN_BYTES_MAX) throw new EnvelopeError('damaged', `frame ${index} claims ${plainLength} bytes, more than the ${FRAME_PLAIN_BYTES_MAX} a frame holds`);
    const start = offset + FRAME_LENGTH_BYTES;
    const end = start + plainLength + FRAME_TAG_BYTES;
    if (end > body.length) throw new EnvelopeError('truncated', `the body ends inside frame ${index} (or that frame's length is damaged)`);
    const final = plainLength === 0;
    yield { index, final, plainLength, ciphertext: body.subarray(start, end - FRAME_TAG_BYTES), tag: body.subarray(end - FRAME_TAG_BYTES, end) };
    if (final) {
      if (end !== body.length) throw new EnvelopeError('damaged', `${body.length - end} bytes follow the final frame`);
      return;
    }
    offset = end;
  }
}

/** The plaintext of one frame, or undefined when it does not authenticate. */
function openFrame(frame: Frame, key: Uint8Array, baseNonce: Uint8Array, aadPrefix: { keyName: Uint8Array; header: Uint8Array }): Uint8Array | undefined {
  const decipher = createDecipheriv('aes-256-gcm', key, frameNonce(baseNonce, frame.index), { authTagLength: FRAME_TAG_BYTES });
  decipher.setAAD(frameAad(aadPrefix.keyName, aadPrefix.header, frame.index, frame.final, frame.plainLength));
  decipher.setAuthTag(frame.tag);
  try {
    const head = decipher.update(frame.ciphertext);
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    return undefined;
  }
}

/**
 * The plaintext of `body`, stored under `objectKey`, decrypted with the key its header names
 * (`keyFor(id)`), or EnvelopeError saying what is wrong. When frame 0 fails, the later frames
 * tell a damaged object (some frame authenticates: the key is right) from a wrong key or a moved
 * object (none does).
 */
export function openEnvelope(objectKey: string, body: Uint8Array, keyFor: (id: number) => EncryptionKey | undefined, knownIds: () => readonly number[]): Uint8Array {
  if (!hasEnvelopeMagic(body)) {
    const first = Buffer.from(body.subarray(0, 4)).toString('hex');
    throw new EnvelopeError('not-encrypted', `it does not start with the T4E1 header (${body.length} bytes${body.length > 0 ? `, starting 0x${first}` : ''}): a plaintext object under an encrypted prefix`);
  }
  if (body.length < ENVELOPE_HEADER_BYTES) throw new EnvelopeError('truncated', `the body ends inside its ${ENVELOPE_HEADER_BYTES}-byte header (${body.length} bytes)`);
  const keyId = body[ENVELOPE_MAGIC.length] as number;
  const key = keyFor(keyId);
  if (key === undefined) {
    throw new EnvelopeError('unknown-key-id', `it was written with key id ${keyId}, which this process does not have (key ids configured: ${knownIds().join(', ')})`);
  }
  const header = body.subarray(0, ENVELOPE_HEADER_BYTES);
  const baseNonce = body.subarray(ENVELOPE_MAGIC.length + 1, ENVELOPE_HEADER_BYTES);
  const aad = { keyName: encoder.encode(objectKey), header };
  const parts: Uint8Array[] = [];
  let total = 0;
  let failedAt: number | undefined;
  try {
    for (const frame of frames(body)) {
      const plain = openFrame(frame, key.bytes, baseNonce, aad);
      if (plain === undefined) {
        if (frame.index > 0 && failedAt === undefined) throw new EnvelopeError('damaged', `frame ${frame.index} does not authenticate, while the frames before it do`);
        failedAt ??= frame.index;
        continue;
      }
      if (failedAt !== undefined) throw new EnvelopeError('damaged', `frame ${failedAt} does not authenticate with key id ${keyId} while frame ${frame.index} does`);
      parts.push(plain);
      total += plain.length;
    }
  } catch (error) {
    // A structural problem after frame 0 failed says nothing about which: report the failure.
    if (failedAt === undefined || !(error instanceof EnvelopeError) || error.reason === 'damaged') throw error;
  }
  if (failedAt !== undefined) {
    throw new EnvelopeError(
      'authentication-failed',
      `no frame authenticates with key id ${keyId} (${key.source}): the key is wrong for this id, or the object was copied here from another object key, or its header is damaged`,
    );
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
