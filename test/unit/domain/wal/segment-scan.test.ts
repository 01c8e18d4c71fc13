// The WAL tail rule on real frame bytes (docs/wal.md "Recovery"): in the newest segment a bad
// frame with nothing valid after it is the torn tail and is dropped; a bad frame followed by a valid
// one, or any bad frame in a sealed segment, is damage to acknowledged data and stops start-up with
// an error naming the segment and the frame's offset.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaultInjectingWalFiles } from '../../../../src/adapters/memory/fault-injecting-wal-files.js';
import { Crc32cChecksum } from '../../../../src/adapters/node/crc32c.js';
import { WalCorruptError } from '../../../../src/domain/errors.js';
import type { CommittedBatch } from '../../../../src/domain/mvcc/types.js';
import { scanSegment } from '../../../../src/domain/wal/segment-scan.js';
import { encodeBatchFrame, encodeSegmentHeader, SEGMENT_HEADER_BYTES } from '../../../../src/domain/wal/wal-codec.js';
import { recoverWal, segmentName } from '../../../../src/domain/wal/wal-log.js';
import type { Logger } from '../../../../src/ports/logger.js';
import { b } from '../../../support/domain-fixtures.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const checksum = new Crc32cChecksum();

function putBatch(revision: number): CommittedBatch {
  const kv = { key: b(`k${revision}`), createRevision: revision, modRevision: revision, version: 1, value: b(`v${revision}`), lease: 0n };
  return { fromRevision: revision - 1, toRevision: revision, changes: [{ kind: 'put', main: revision, sub: 0, kv, prev: undefined }], compactRevision: undefined };
}

/** A segment starting at `first` with one put batch per revision; returns its bytes and frame offsets. */
function segment(first: number, count: number): { bytes: Uint8Array; offsets: number[] } {
  const parts = [encodeSegmentHeader({ term: 1n, firstRevision: first }, checksum)];
  const offsets: number[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  for (let r = first; r < first + count; r++) {
    const frame = encodeBatchFrame(putBatch(r), 1n, checksum);
    offsets.push(offset);
    offset += frame.length;
    parts.push(frame);
  }
  const bytes = new Uint8Array(offset);
  let p = 0;
  for (const part of parts) {
    bytes.set(part, p);
    p += part.length;
  }
  return { bytes, offsets };
}

const flip = (bytes: Uint8Array, at: number): Uint8Array => {
  const copy = bytes.slice();
  copy[at] = (copy[at] as number) ^ 0xff;
  return copy;
};

function assertCorrupt(fn: () => unknown, name: string, offset: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WalCorruptError, String(err));
    assert.equal(err.segment, name);
    assert.equal(err.offset, offset);
    assert.match(err.message, new RegExp(`^WAL segment ${name} is corrupt at offset ${offset}: `));
    return true;
  });
}

describe('WAL segment scan: torn tail vs corruption', () => {
  const name = segmentName(1n, 2);

  it('reads every frame of an intact segment', () => {
    const { bytes } = segment(2, 3);
    const scanned = scanSegment(name, bytes, true, checksum);
    assert.deepEqual(scanned.batches.map((x) => x.toRevision), [2, 3, 4]);
    assert.equal(scanned.tornBytes, 0);
  });

  it('drops a damaged last frame, a partial frame, zeros or garbage at the end of the newest segment', () => {
    const { bytes, offsets } = segment(2, 3);
    const last = offsets[2] as number;
    const tails = [
      flip(bytes, bytes.length - 1), // last frame's payload damaged
      bytes.slice(0, bytes.length - 5), // last frame torn
      Uint8Array.from([...bytes.slice(0, last), ...new Uint8Array(40)]), // zeroed
      Uint8Array.from([...bytes, 1, 2, 3, 4, 5, 6, 7, 8, 9]), // garbage after the last good frame
    ];
    for (const [i, torn] of tails.entries()) {
      const scanned = scanSegment(name, torn, true, checksum);
      const kept = i === 3 ? 3 : 2;
      assert.equal(scanned.batches.length, kept, `case ${i}`);
      assert.equal(scanned.validEnd, i === 3 ? bytes.length : last, `case ${i}`);
      assert.ok(scanned.tornBytes > 0, `case ${i}`);
    }
  });

  it('a bad frame followed by a valid one in the newest segment stops with the segment and the offset', () => {
    const { bytes, offsets } = segment(2, 3);
    const middle = offsets[1] as number;
    assertCorrupt(() => scanSegment(name, flip(bytes, middle + 12), true, checksum), name, middle);
    assertCorrupt(() => scanSegment(name, flip(bytes, middle + 1), true, checksum), name, middle); // its length
  });

  it('any bad frame in a sealed segment stops, even the last one', () => {
    const { bytes, offsets } = segment(2, 3);
    assertCorrupt(() => scanSegment(name, flip(bytes, bytes.length - 1), false, checksum), name, offsets[2] as number);
    assertCorrupt(() => scanSegment(name, bytes.slice(0, bytes.length - 3), false, checksum), name, offsets[2] as number);
    assertCorrupt(() => scanSegment(name, flip(bytes, 5), false, checksum), name, 0); // header
  });

  it('recovery refuses to start on a damaged sealed segment and truncates only the newest one\'s torn tail', async () => {
    const sealed = segment(2, 3);
    const newest = segment(5, 2);
    const sealedName = segmentName(1n, 2);
    const newestName = segmentName(1n, 5);

    const write = async (files: FaultInjectingWalFiles, n: string, bytes: Uint8Array) => {
      const f = await files.create(n);
      await f.append(bytes);
      await f.sync();
      await f.close();
    };

    const damaged = new FaultInjectingWalFiles();
    await write(damaged, sealedName, flip(sealed.bytes, (sealed.offsets[1] as number) + 20));
    await write(damaged, newestName, newest.bytes);
    await assert.rejects(recoverWal(damaged, checksum, silent), (err: unknown) => {
      assert.ok(err instanceof WalCorruptError);
      assert.equal(err.message.startsWith(`WAL segment ${sealedName} is corrupt at offset ${sealed.offsets[1]}: `), true, err.message);
      return true;
    });

    const torn = new FaultInjectingWalFiles();
    await write(torn, sealedName, sealed.bytes);
    await write(torn, newestName, newest.bytes.slice(0, newest.bytes.length - 4));
    const recovered = await recoverWal(torn, checksum, silent);
    assert.deepEqual(recovered.batches.map((x) => x.toRevision), [2, 3, 4, 5]);
    assert.equal((await torn.read(newestName)).length, newest.offsets[1]);
  });
});
