import type { Duplex } from 'node:stream';

/**
 * Length-prefixed frames over a byte stream (the socket pair between the writer process and a
 * serving process, DESIGN-NOTES 7):
 *
 *   u32 length of what follows (big-endian) | u8 type | u32 id | payload
 *
 * Frames written in one event-loop turn leave in one write (the socket is corked until the next
 * tick), so a burst of forwarded calls or committed batches costs one syscall, not one each.
 */
export interface Frame {
  readonly type: number;
  readonly id: number;
  readonly payload: Buffer;
}

const HEADER_BYTES = 9;
/** A frame larger than this is a broken peer, not a message (requests are capped far below it). */
const FRAME_BYTES_MAX = 1024 * 1024 * 1024;

export class FrameChannel {
  private chunks: Buffer[] = [];
  private size = 0;
  private corked = false;
  private closed = false;
  private readonly frameListeners: ((frame: Frame) => void)[] = [];
  private readonly closeListeners: ((error?: Error) => void)[] = [];

  constructor(private readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.end(error));
    socket.on('close', () => this.end());
    socket.on('end', () => this.end());
  }

  onFrame(listener: (frame: Frame) => void): void {
    this.frameListeners.push(listener);
  }

  /** Called once, when the peer goes away (or the stream fails). */
  onClose(listener: (error?: Error) => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues one frame; false when the socket's buffer is over its high-water mark (the caller may wait for `drained`). */
  send(type: number, id: number, ...payload: Uint8Array[]): boolean {
    if (this.closed) return false;
    let length = HEADER_BYTES - 4;
    for (const part of payload) length += part.byteLength;
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(length, 0);
    header[4] = type;
    header.writeUInt32BE(id >>> 0, 5);
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    let ok = this.socket.write(header);
    for (const part of payload) if (part.byteLength > 0) ok = this.socket.write(part);
    return ok;
  }

  /** Resolves once the socket takes more (after `send` returned false). */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.onClose(done);
    });
  }

  close(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
    while (this.size >= HEADER_BYTES) {
      let head = this.chunks[0] as Buffer;
      if (head.byteLength < HEADER_BYTES) {
        head = Buffer.concat(this.chunks, this.size);
        this.chunks = [head];
      }
      const length = head.readUInt32BE(0);
      if (length < HEADER_BYTES - 4 || length > FRAME_BYTES_MAX) {
        this.socket.destroy(new Error(`bad frame length ${length}`));
        return;
      }
      if (this.size < 4 + length) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.size);
      const frame: Frame = { type: all[4] as number, id: all.readUInt32BE(5), payload: all.subarray(HEADER_BYTES, 4 + length) };
      const rest = all.subarray(4 + length);
      this.chunks = rest.byteLength === 0 ? [] : [rest];
      this.size = rest.byteLength;
      for (const listener of this.frameListeners) listener(frame);
    }
  }

  private end(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const listeners = this.closeListeners.splice(0);
    for (const listener of listeners) listener(error);
  }
}
