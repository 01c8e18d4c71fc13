/**
 * The frames between the writer process and its serving processes (DESIGN-NOTES 7). Calls a
 * serving process does not answer itself go to the writer as the client's encoded request, and
 * come back as the encoded response or a gRPC status: the writer runs the very handlers a
 * single-process server runs, so forwarded calls behave exactly alike.
 *
 *   writer -> serving:  CONFIG (JSON, first frame), BATCH (a committed batch, in revision order,
 *                       every one after CONFIG's revision), REPLY, STREAM_MESSAGE, STATUS, SHUTDOWN
 *   serving -> writer:  LISTENING (the bound address), UNARY and OPEN (a call: path, token, peer
 *                       CN, request), MESSAGE, HALF_CLOSE, CANCEL, CREDIT
 *
 * A stream's responses are flow-controlled by credits: the writer keeps at most STREAM_WINDOW
 * messages unacknowledged, and the serving process returns credit as the client takes them.
 */
export const FrameType = {
  CONFIG: 1,
  BATCH: 2,
  SHUTDOWN: 3,
  LISTENING: 4,
  UNARY: 10,
  OPEN: 11,
  MESSAGE: 12,
  HALF_CLOSE: 13,
  CANCEL: 14,
  CREDIT: 15,
  REPLY: 20,
  STREAM_MESSAGE: 21,
  STATUS: 22,
} as const;

/** Stream responses the writer sends ahead of the serving process's credit. */
export const STREAM_WINDOW = 64;
/** Credits a serving process returns at once (fewer frames than one per message). */
export const CREDIT_BATCH = 16;

export interface CallHead {
  readonly path: string;
  /** The `token` metadata (etcd auth), if sent. */
  readonly token: string | undefined;
  /** The verified client certificate's CN (mutual TLS), if any. */
  readonly peerCommonName: string | undefined;
}

function putString(out: Buffer[], text: string | undefined): void {
  const bytes = text === undefined ? undefined : Buffer.from(text, 'utf8');
  const length = Buffer.allocUnsafe(2);
  // 0xffff marks "absent"; strings are capped below it (paths, tokens and CNs are short).
  length.writeUInt16BE(bytes === undefined ? 0xffff : Math.min(bytes.byteLength, 0xfffe), 0);
  out.push(length);
  if (bytes !== undefined) out.push(bytes.subarray(0, 0xfffe));
}

/** The head of a forwarded call, followed by its request bytes (may be empty). */
export function encodeCall(head: CallHead, request: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  putString(out, head.path);
  putString(out, head.token);
  putString(out, head.peerCommonName);
  out.push(Buffer.from(request.buffer, request.byteOffset, request.byteLength));
  return out;
}

export function decodeCall(payload: Buffer): { head: CallHead; request: Buffer } {
  let offset = 0;
  const take = (): string | undefined => {
    const length = payload.readUInt16BE(offset);
    offset += 2;
    if (length === 0xffff) return undefined;
    const text = payload.toString('utf8', offset, offset + length);
    offset += length;
    return text;
  };
  const path = take() ?? '';
  const token = take();
  const peerCommonName = take();
  return { head: { path, token, peerCommonName }, request: payload.subarray(offset) };
}

export function encodeStatus(code: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8');
  const out = Buffer.allocUnsafe(4 + text.byteLength);
  out.writeUInt32BE(code, 0);
  text.copy(out, 4);
  return out;
}

export function decodeStatus(payload: Buffer): { code: number; message: string } {
  return { code: payload.readUInt32BE(0), message: payload.toString('utf8', 4) };
}

export function encodeCount(count: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(count, 0);
  return out;
}
