import { WalCorruptError } from '../errors.js';
import type { Checksum } from '../../ports/checksum.js';
import type { CommittedBatch } from '../mvcc/types.js';
import { BATCH_KIND, decodeSegmentHeader, FRAME_HEADER_BYTES, readFrame, SEGMENT_HEADER_BYTES, type SegmentHeader } from './wal-codec.js';

/**
 * Reads one segment's bytes and decides where its valid data ends.
 *
 * The tail rule (docs/wal.md): the pipeline writes one batch at a time and acknowledges it only
 * after its frame is fdatasync'ed, so after a power loss at most the one batch in flight can be
 * torn, and only at the end of the newest segment. Therefore:
 *  - in the newest segment, a bad frame with no valid frame anywhere after it is the torn tail:
 *    it and everything after it are dropped (none of it was acknowledged);
 *  - a bad frame followed by a valid frame, or a bad frame in an older segment, is corruption of
 *    acknowledged data: start-up stops with an error naming the segment and offset.
 */
export interface ScannedSegment {
  readonly name: string;
  /** undefined: the newest segment's header itself was torn (the file holds nothing acknowledged). */
  readonly header: SegmentHeader | undefined;
  readonly batches: readonly CommittedBatch[];
  /** Offset where valid data ends; bytes after it are the torn tail. */
  readonly validEnd: number;
  readonly tornBytes: number;
}

export function scanSegment(name: string, bytes: Uint8Array, newest: boolean, checksum: Checksum): ScannedSegment {
  const header = decodeSegmentHeader(bytes, checksum);
  if (header === undefined) {
    if (!newest) throw new WalCorruptError(name, 0, 'bad segment header');
    if (validFrameAfter(bytes, 0, checksum)) throw new WalCorruptError(name, 0, 'bad segment header before valid frames');
    return { name, header: undefined, batches: [], validEnd: 0, tornBytes: bytes.length };
  }
  const batches: CommittedBatch[] = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < bytes.length) {
    const frame = readFrame(bytes, offset, checksum);
    if (frame.ok) {
      batches.push(frame.batch);
      offset = frame.end;
      continue;
    }
    if (!newest) throw new WalCorruptError(name, offset, `${frame.reason} in a sealed segment`);
    if (validFrameAfter(bytes, offset + 1, checksum)) {
      throw new WalCorruptError(name, offset, `${frame.reason}, and valid frames follow (not a torn tail)`);
    }
    return { name, header, batches, validEnd: offset, tornBytes: bytes.length - offset };
  }
  return { name, header, batches, validEnd: offset, tornBytes: 0 };
}

/** Is there a complete frame with a good checksum starting anywhere at or after `from`? */
function validFrameAfter(bytes: Uint8Array, from: number, checksum: Checksum): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = from; p + FRAME_HEADER_BYTES < bytes.length; p++) {
    const length = view.getUint32(p);
    if (length < 29 || p + FRAME_HEADER_BYTES + length > bytes.length) continue;
    if (bytes[p + FRAME_HEADER_BYTES] !== BATCH_KIND) continue;
    if (readFrame(bytes, p, checksum).ok) return true;
  }
  return false;
}
