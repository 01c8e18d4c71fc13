import type { Socket } from 'node:net';
import { HpackDecoder, HpackError } from './hpack.js';
import {
  CLIENT_PREFACE,
  DEFAULT_FRAME_BYTES_MAX,
  DEFAULT_WINDOW_BYTES,
  ErrorCode,
  Flag,
  FRAME_BYTES_LIMIT,
  FRAME_HEADER_BYTES,
  FrameType,
  frame,
  goawayFrame,
  rstStreamFrame,
  Setting,
  settingsFrame,
  WINDOW_BYTES_MAX,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.js';

/**
 * The server side of one HTTP/2 connection (RFC 9113) on a TCP or TLS socket: the preface and
 * SETTINGS exchange, frame parsing, HPACK decoding of request headers, stream states, flow
 * control in both directions, PING (answered, and sent as keepalive), GOAWAY, and one socket
 * write per tick for everything queued in it.
 *
 * It knows nothing of gRPC: `onStream` gets each new request stream with its decoded headers;
 * the stream's owner sets `onData`/`onEnd`/`onAbort` and answers with `respond`, `write`, `end`.
 *
 * What it refuses, and how (RFC 9113 5.4): a malformed connection (bad preface, a first frame
 * other than SETTINGS, frames too large, HPACK errors, frames on stream 0 that need a stream or
 * the reverse, an even or reused stream id, a CONTINUATION out of place, window overflows) ends
 * it with GOAWAY and that error code; a bad stream (flow-control violation, DATA after the
 * client's END_STREAM) gets RST_STREAM. Frames for streams already closed are dropped (they may
 * cross an RST_STREAM on the wire), but still count against the connection window.
 */
export interface Http2SessionOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: more open streams are refused (RST_STREAM REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: each request stream's receive window. */
  readonly streamWindowBytes: number;
  /** The connection's receive window (raised from 65,535 with a WINDOW_UPDATE at start). */
  readonly connectionWindowBytes: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: advertised; larger header lists reach `onStream` flagged. */
  readonly maxHeaderListBytes: number;
  /** A keepalive PING every this many ms; no ACK within `keepaliveTimeoutMs` closes the connection. */
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly onStream: (stream: Http2ServerStream, headers: readonly string[], headerListBytes: number) => void;
  /** The connection is gone (closed by either side, or broken); every stream was aborted first. */
  readonly onClose?: () => void;
  /** A connection error we detected (for logs): the code and what was wrong. */
  readonly onProtocolError?: (code: number, reason: string) => void;
}

/** Largest header block (all HEADERS + CONTINUATION fragments) buffered before it is refused. */
const HEADER_BLOCK_BYTES_MAX = 1024 * 1024;
/** Below this, queued output is joined into one buffer for one write; above, written as a vector. */
const JOIN_BYTES_MAX = 64 * 1024;
/** Output queued (not yet taken by the socket) above which streams are told to wait. */
const OUTPUT_BYTES_HIGH = 1024 * 1024;

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class Http2ServerSession {
  private readonly streams = new Map<number, Http2ServerStream>();
  private readonly decoder = new HpackDecoder(4096);
  private readonly headerFields: string[] = [];
  /** Highest client stream id seen: every id up to it is open or closed, never idle. */
  private lastStreamId = 0;
  private prefaceBytes = 0;
  private settingsReceived = false;
  /** Input not yet parsed (a partial frame). */
  private inputChunks: Buffer[] = [];
  private inputBytes = 0;
  /** A header block being assembled across CONTINUATION frames. */
  private continuation: { streamId: number; flags: number; fragments: Buffer[]; bytes: number } | undefined;

  private connRecvWindow: number;
  private connRecvConsumed = 0;
  /** Send side: the connection window and the peer's settings. */
  connSendWindow = DEFAULT_WINDOW_BYTES;
  peerInitialWindow = DEFAULT_WINDOW_BYTES;
  peerMaxFrameBytes = DEFAULT_FRAME_BYTES_MAX;
  /** Streams with DATA waiting for window, in the order they got blocked. */
  private readonly blocked = new Set<Http2ServerStream>();

  private output: Buffer[] = [];
  private outputBytes = 0;
  private flushScheduled = false;
  private socketBlocked = false;
  private writableWaiters: (() => void)[] = [];

  private goawaySent = false;
  private closed = false;
  private keepalive: NodeJS.Timeout | undefined;
  private pingAckTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly options: Http2SessionOptions,
  ) {
    this.connRecvWindow = options.connectionWindowBytes;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => {
      this.socketBlocked = false;
      this.wakeWriters();
    });
    socket.on('error', () => undefined); // followed by 'close'
    socket.on('close', () => this.onSocketClose());
    socket.on('end', () => {
      // The client half-closed TCP: nothing more will arrive; finish what is queued and close.
      this.flush();
      socket.end();
    });
    this.queue(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, options.streamWindowBytes],
        [Setting.MAX_HEADER_LIST_SIZE, options.maxHeaderListBytes],
      ]),
    );
    if (options.connectionWindowBytes > DEFAULT_WINDOW_BYTES) this.queue(windowUpdateFrame(0, options.connectionWindowBytes - DEFAULT_WINDOW_BYTES));
    this.startKeepalive();
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The socket under the connection (TLS details such as the peer certificate). */
  get transport(): Socket {
    return this.socket;
  }

  /** Graceful close: GOAWAY (no new streams), then the connection ends once its streams are done. */
  close(): void {
    if (this.closed) return;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.queue(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    }
    if (this.streams.size === 0) this.endSocket();
  }

  /** Closes at once: every stream is aborted. */
  destroy(): void {
    if (this.closed) return;
    this.socket.destroy();
    this.onSocketClose();
  }

  // ---- output ----

  /** @internal Queues bytes for the next write (one write per tick). */
  queue(bytes: Buffer): void {
    if (this.closed) return;
    this.output.push(bytes);
    this.outputBytes += bytes.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** @internal True while the socket has more than it takes: stream writers should wait. */
  congested(): boolean {
    return this.socketBlocked || this.outputBytes > OUTPUT_BYTES_HIGH;
  }

  /** @internal Resolves once the connection takes more output (or is closed). */
  whenWritable(): Promise<void> {
    if (this.closed || !this.congested()) return Promise.resolve();
    return new Promise((resolve) => this.writableWaiters.push(resolve));
  }

  private wakeWriters(): void {
    if (this.writableWaiters.length === 0 || (this.congested() && !this.closed)) return;
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const wake of waiters) wake();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.output.length === 0 || this.closed) return;
    const output = this.output;
    const bytes = this.outputBytes;
    this.output = [];
    this.outputBytes = 0;
    let accepted: boolean;
    if (output.length === 1) {
      accepted = this.socket.write(output[0] as Buffer);
    } else if (bytes <= JOIN_BYTES_MAX) {
      accepted = this.socket.write(Buffer.concat(output, bytes));
    } else {
      this.socket.cork();
      accepted = true;
      for (const b of output) accepted = this.socket.write(b);
      this.socket.uncork();
    }
    if (!accepted) this.socketBlocked = true;
  }

  private endSocket(): void {
    this.flush();
    this.socket.end();
  }

  // ---- input ----

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.consume(chunk);
    } catch (error) {
      if (error instanceof ConnectionError) this.connectionError(error.code, error.message);
      else throw error;
    }
  }

  private consume(chunk: Buffer): void {
    if (this.prefaceBytes < CLIENT_PREFACE.length) {
      const n = Math.min(CLIENT_PREFACE.length - this.prefaceBytes, chunk.length);
      if (!chunk.subarray(0, n).equals(CLIENT_PREFACE.subarray(this.prefaceBytes, this.prefaceBytes + n))) {
        // Not HTTP/2 with prior knowledge (HTTP/1.1, TLS to a plaintext port, garbage): just close.
        this.options.onProtocolError?.(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
        this.destroy();
        return;
      }
      this.prefaceBytes += n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    let buf: Buffer;
    if (this.inputBytes === 0) {
      buf = chunk;
    } else {
      this.inputChunks.push(chunk);
      this.inputBytes += chunk.length;
      // Join only once the pending frame is complete (or its header is).
      const head = this.inputChunks[0] as Buffer;
      const needed = head.length >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + head.readUIntBE(0, 3) : FRAME_HEADER_BYTES;
      if (this.inputBytes < needed) return;
      buf = Buffer.concat(this.inputChunks, this.inputBytes);
      this.inputChunks = [];
      this.inputBytes = 0;
    }
    let pos = 0;
    const end = buf.length;
    while (end - pos >= FRAME_HEADER_BYTES && !this.closed) {
      const length = buf.readUIntBE(pos, 3);
      if (length > DEFAULT_FRAME_BYTES_MAX) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes, above SETTINGS_MAX_FRAME_SIZE ${DEFAULT_FRAME_BYTES_MAX}`);
      if (end - pos - FRAME_HEADER_BYTES < length) break;
      const type = buf[pos + 3] as number;
      const flags = buf[pos + 4] as number;
      const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const payload = buf.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
      pos += FRAME_HEADER_BYTES + length;
      this.onFrame(type, flags, streamId, payload);
    }
    if (pos < end && !this.closed) {
      const rest = buf.subarray(pos);
      this.inputChunks = [rest];
      this.inputBytes = rest.length;
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsReceived) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      this.settingsReceived = true;
    }
    if (this.continuation !== undefined && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a header block was interrupted by another frame');
    }
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, streamId, payload);
      case FrameType.PRIORITY:
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.resetStream(streamId, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.onRstStream(streamId, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FrameType.PING:
        return this.onPing(flags, streamId, payload);
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        // The client opens no more streams; the ones open finish. It closes the socket itself.
        this.goawaySent = true;
        if (this.streams.size === 0) this.endSocket();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, streamId, payload);
      default:
        // Unknown frame types are ignored (RFC 9113 4.1).
        return;
    }
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const length = payload.length;
    this.connRecvWindow -= length;
    if (this.connRecvWindow < 0) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.connRecvConsumed += length;
    if (this.connRecvConsumed >= this.options.connectionWindowBytes / 2) {
      this.queue(windowUpdateFrame(0, this.connRecvConsumed));
      this.connRecvWindow += this.connRecvConsumed;
      this.connRecvConsumed = 0;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      return; // a stream already closed: dropped
    }
    if (stream.remoteClosed) {
      this.resetStream(streamId, ErrorCode.STREAM_CLOSED);
      return;
    }
    let data = payload;
    if ((flags & Flag.PADDED) !== 0) {
      const pad = length === 0 ? -1 : (payload[0] as number);
      if (pad < 0 || pad >= length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA padding longer than the frame');
      data = payload.subarray(1, length - pad);
    }
    if (!stream.received(length)) {
      this.resetStream(streamId, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (data.length > 0) stream.onData?.(data);
    if ((flags & Flag.END_STREAM) !== 0) this.remoteEnd(stream);
  }

  private onHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let start = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      if (end < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its padding');
      const pad = payload[0] as number;
      start = 1;
      end -= pad;
    }
    if ((flags & Flag.PRIORITY) !== 0) {
      if ((payload.readUInt32BE(start) & 0x7fffffff) === streamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a stream depends on itself');
      start += 5;
    }
    if (end < start) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
    const fragment = payload.subarray(start, end);
    if ((flags & Flag.END_HEADERS) === 0) {
      this.continuation = { streamId, flags, fragments: [fragment], bytes: fragment.length };
      return;
    }
    this.onHeaderBlock(streamId, flags, fragment);
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const c = this.continuation;
    if (c === undefined || c.streamId !== streamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress');
    c.fragments.push(payload);
    c.bytes += payload.length;
    if (c.bytes > HEADER_BLOCK_BYTES_MAX) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block above ${HEADER_BLOCK_BYTES_MAX} bytes`);
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.continuation = undefined;
    this.onHeaderBlock(streamId, c.flags, Buffer.concat(c.fragments, c.bytes));
  }

  private onHeaderBlock(streamId: number, flags: number, block: Buffer): void {
    const fields = this.headerFields;
    fields.length = 0;
    let listBytes: number;
    try {
      listBytes = this.decoder.decode(block, fields);
    } catch (error) {
      if (error instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, error.message);
      throw error;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers: must end the stream.
      if (existing.remoteClosed) {
        this.resetStream(streamId, ErrorCode.STREAM_CLOSED);
      } else if (!endStream) {
        this.resetStream(streamId, ErrorCode.PROTOCOL_ERROR);
      } else {
        this.remoteEnd(existing);
      }
      return;
    }
    if ((streamId & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `even stream id ${streamId} from a client`);
    if (streamId <= this.lastStreamId) return; // a stream already closed (its HPACK state is kept)
    this.lastStreamId = streamId;
    if (this.goawaySent || this.streams.size >= this.options.maxConcurrentStreams) {
      this.queue(rstStreamFrame(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const stream = new Http2ServerStream(this, streamId, this.options.streamWindowBytes);
    this.streams.set(streamId, stream);
    this.options.onStream(stream, fields.slice(), listBytes);
    if (endStream && !stream.isClosed) this.remoteEnd(stream);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM must be 4 bytes');
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.closeStream(stream, payload.readUInt32BE(0));
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length is not a multiple of 6');
    for (let p = 0; p < payload.length; p += 6) {
      const id = payload.readUInt16BE(p);
      const value = payload.readUInt32BE(p + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > WINDOW_BYTES_MAX) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const stream of this.streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > WINDOW_BYTES_MAX) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window above 2^31-1');
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_FRAME_BYTES_MAX || value > FRAME_BYTES_LIMIT) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
          this.peerMaxFrameBytes = value;
          break;
        default:
          // HEADER_TABLE_SIZE (we never index), MAX_CONCURRENT_STREAMS (we never push),
          // MAX_HEADER_LIST_SIZE (advisory), unknown settings: nothing to do.
          break;
      }
    }
    this.queue(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.resumeBlocked();
  }

  private onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING must be 8 bytes');
    if ((flags & Flag.ACK) !== 0) {
      if (this.pingAckTimer !== undefined) {
        clearTimeout(this.pingAckTimer);
        this.pingAckTimer = undefined;
      }
      return;
    }
    this.queue(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE must be 4 bytes');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      this.connSendWindow += increment;
      if (this.connSendWindow > WINDOW_BYTES_MAX) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      this.resumeBlocked();
      return;
    }
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (increment === 0) {
      this.resetStream(streamId, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > WINDOW_BYTES_MAX) {
      this.resetStream(streamId, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (this.blocked.has(stream)) this.resumeBlocked();
  }

  // ---- streams ----

  /** @internal The stream has DATA waiting for window. */
  block(stream: Http2ServerStream): void {
    this.blocked.add(stream);
  }

  private resumeBlocked(): void {
    for (const stream of this.blocked) {
      if (this.connSendWindow <= 0) break;
      if (stream.sendPending()) this.blocked.delete(stream);
    }
    this.wakeWriters();
  }

  private remoteEnd(stream: Http2ServerStream): void {
    stream.remoteClosed = true;
    stream.onEnd?.();
    if (stream.localClosed) this.closeStream(stream, undefined);
  }

  /** @internal We sent END_STREAM. If the client is still sending, tell it to stop (RFC 9113 8.1). */
  localEnd(stream: Http2ServerStream): void {
    if (!stream.remoteClosed) this.queue(rstStreamFrame(stream.id, ErrorCode.NO_ERROR));
    this.closeStream(stream, undefined);
  }

  /** @internal */
  resetStream(streamId: number, code: number): void {
    this.queue(rstStreamFrame(streamId, code));
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.closeStream(stream, code);
  }

  /** Removes a stream; `abortCode` set means it ended before its response was complete. */
  private closeStream(stream: Http2ServerStream, abortCode: number | undefined): void {
    if (!this.streams.delete(stream.id)) return;
    this.blocked.delete(stream);
    stream.markClosed();
    if (abortCode !== undefined) stream.onAbort?.(abortCode);
    if (this.goawaySent && this.streams.size === 0) this.endSocket();
  }

  /** @internal A stream's receive window was consumed by `bytes`; sends the update when due. */
  streamWindowUpdate(streamId: number, bytes: number): void {
    this.queue(windowUpdateFrame(streamId, bytes));
  }

  private connectionError(code: number, reason: string): void {
    this.options.onProtocolError?.(code, reason);
    this.queue(goawayFrame(this.lastStreamId, code, reason));
    this.goawaySent = true;
    this.flush();
    this.socket.end();
    this.abortAll(code);
    this.closed = true;
  }

  private abortAll(code: number): void {
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const stream of streams) {
      stream.markClosed();
      stream.onAbort?.(code);
    }
  }

  private onSocketClose(): void {
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    if (this.pingAckTimer !== undefined) clearTimeout(this.pingAckTimer);
    this.closed = true;
    this.output = [];
    this.outputBytes = 0;
    this.abortAll(ErrorCode.CANCEL);
    this.wakeWriters();
    if (!this.closeReported) {
      this.closeReported = true;
      this.options.onClose?.();
    }
  }

  private closeReported = false;

  private startKeepalive(): void {
    const { keepaliveTimeMs, keepaliveTimeoutMs } = this.options;
    if (!(keepaliveTimeMs > 0) || !Number.isFinite(keepaliveTimeMs)) return;
    this.keepalive = setInterval(() => {
      if (this.closed || this.pingAckTimer !== undefined) return;
      this.pingAckTimer = setTimeout(() => this.destroy(), keepaliveTimeoutMs);
      this.pingAckTimer.unref();
      this.queue(frame(FrameType.PING, 0, 0, KEEPALIVE_PAYLOAD));
    }, keepaliveTimeMs);
    this.keepalive.unref();
  }
}

const KEEPALIVE_PAYLOAD = Buffer.from('t4-alive', 'latin1');

/**
 * One request stream. Its owner sets the callbacks in `onStream` and answers with `respond`
 * (response HEADERS), `write` (DATA, flow-controlled: what the windows do not allow waits) and
 * `end` (trailers with END_STREAM), or `reset`.
 */
export class Http2ServerStream {
  /** Request DATA (padding removed), in order. */
  onData: ((chunk: Buffer) => void) | undefined;
  /** The client half-closed (END_STREAM). */
  onEnd: (() => void) | undefined;
  /** The stream ended before this side finished it: RST_STREAM from the client, or the connection went away. */
  onAbort: ((code: number) => void) | undefined;

  sendWindow: number;
  remoteClosed = false;
  /** END_STREAM (or RST_STREAM) has been sent. */
  localClosed = false;
  /** `end` was called: its trailers wait behind pending DATA. */
  private ending = false;
  private closed = false;
  private recvConsumed = 0;
  private recvWindow: number;
  private paused = false;
  private pending: Buffer[] = [];
  private pendingEnd: Buffer | null | undefined;

  constructor(
    private readonly session: Http2ServerSession,
    readonly id: number,
    private readonly windowBytes: number,
  ) {
    this.sendWindow = session.peerInitialWindow;
    this.recvWindow = windowBytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The connection (the socket, for TLS details). */
  get connection(): Http2ServerSession {
    return this.session;
  }

  /** Response HEADERS (a pre-encoded HPACK block); with `endStream`, a trailers-only response. */
  respond(headerBlock: Buffer, endStream = false): void {
    if (this.ending || this.localClosed || this.closed) return;
    this.session.queue(headersFrame(this.id, headerBlock, endStream, this.session.peerMaxFrameBytes));
    if (endStream) this.finishLocal();
  }

  /**
   * A whole response in one piece when the windows allow it: HEADERS, one DATA frame of
   * `head` + `body`, trailers with END_STREAM. Otherwise the same frames through the
   * flow-controlled path.
   */
  respondWhole(headerBlock: Buffer, head: Buffer, body: Buffer, trailerBlock: Buffer): void {
    if (this.ending || this.localClosed || this.closed) return;
    const session = this.session;
    const frameMax = session.peerMaxFrameBytes;
    const dataBytes = head.length + body.length;
    if (
      dataBytes <= this.sendWindow &&
      dataBytes <= session.connSendWindow &&
      dataBytes <= frameMax &&
      headerBlock.length <= frameMax &&
      trailerBlock.length <= frameMax &&
      this.pending.length === 0
    ) {
      const out = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headerBlock.length + dataBytes + trailerBlock.length);
      let p = 0;
      writeFrameHeader(out, p, headerBlock.length, FrameType.HEADERS, Flag.END_HEADERS, this.id);
      p += FRAME_HEADER_BYTES;
      p += headerBlock.copy(out, p);
      writeFrameHeader(out, p, dataBytes, FrameType.DATA, 0, this.id);
      p += FRAME_HEADER_BYTES;
      p += head.copy(out, p);
      p += body.copy(out, p);
      writeFrameHeader(out, p, trailerBlock.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, this.id);
      p += FRAME_HEADER_BYTES;
      trailerBlock.copy(out, p);
      this.sendWindow -= dataBytes;
      session.connSendWindow -= dataBytes;
      session.queue(out);
      this.finishLocal();
      return;
    }
    this.respond(headerBlock);
    this.write(head);
    this.write(body);
    this.end(trailerBlock);
  }

  /** DATA; bytes the flow-control windows do not allow yet are kept and sent as they open. */
  write(data: Buffer): void {
    if (this.ending || this.localClosed || this.closed || data.length === 0) return;
    this.pending.push(data);
    if (!this.sendPending()) this.session.block(this);
  }

  /** Trailers (END_STREAM), after every byte written before; an empty DATA END_STREAM without a block. */
  end(trailerBlock?: Buffer): void {
    if (this.ending || this.localClosed || this.closed) return;
    this.ending = true;
    this.pendingEnd = trailerBlock ?? null;
    if (!this.sendPending()) this.session.block(this);
  }

  /** RST_STREAM with `code` (CANCEL, INTERNAL_ERROR, ...). */
  reset(code: number): void {
    if (this.closed) return;
    this.localClosed = true;
    this.session.resetStream(this.id, code);
  }

  /** True while the response cannot leave as fast as it is written: wait with `whenWritable`. */
  congested(): boolean {
    return this.pending.length > 0 || this.session.congested();
  }

  whenWritable(): Promise<void> {
    return this.session.whenWritable();
  }

  /** Stops granting receive window (the client stops sending once it is used up). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.grantWindow();
  }

  /** @internal Sends pending DATA (and the end) as far as the windows allow; true when nothing is left. */
  sendPending(): boolean {
    if (this.closed) return true;
    const session = this.session;
    while (this.pending.length > 0) {
      const allowed = Math.min(this.sendWindow, session.connSendWindow, session.peerMaxFrameBytes);
      if (allowed <= 0) return false;
      const head = this.pending[0] as Buffer;
      const n = Math.min(allowed, head.length);
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(header, 0, n, FrameType.DATA, 0, this.id);
      session.queue(header);
      session.queue(n === head.length ? head : head.subarray(0, n));
      if (n === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(n);
      this.sendWindow -= n;
      session.connSendWindow -= n;
    }
    if (this.pendingEnd !== undefined) {
      const block = this.pendingEnd;
      this.pendingEnd = undefined;
      if (block === null) session.queue(frame(FrameType.DATA, Flag.END_STREAM, this.id));
      else session.queue(headersFrame(this.id, block, true, session.peerMaxFrameBytes));
      this.finishLocal();
    }
    return true;
  }

  /** @internal Counts received DATA against the stream window; false on a flow-control violation. */
  received(bytes: number): boolean {
    this.recvWindow -= bytes;
    if (this.recvWindow < 0) return false;
    this.recvConsumed += bytes;
    if (!this.paused) this.grantWindow();
    return true;
  }

  /** @internal */
  markClosed(): void {
    this.closed = true;
    this.localClosed = true;
    this.pending = [];
    this.pendingEnd = undefined;
  }

  private grantWindow(): void {
    if (this.remoteClosed || this.recvConsumed < this.windowBytes / 2) return;
    this.session.streamWindowUpdate(this.id, this.recvConsumed);
    this.recvWindow += this.recvConsumed;
    this.recvConsumed = 0;
  }

  private finishLocal(): void {
    this.localClosed = true;
    this.session.localEnd(this);
  }
}

/** HEADERS with `block`, split into CONTINUATION frames past the peer's frame size. */
function headersFrame(streamId: number, block: Buffer, endStream: boolean, frameBytesMax: number): Buffer {
  const endFlag = endStream ? Flag.END_STREAM : 0;
  if (block.length <= frameBytesMax) {
    const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
    writeFrameHeader(out, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | endFlag, streamId);
    block.copy(out, FRAME_HEADER_BYTES);
    return out;
  }
  const parts: Buffer[] = [];
  for (let p = 0; p < block.length; p += frameBytesMax) {
    const piece = block.subarray(p, Math.min(block.length, p + frameBytesMax));
    const last = p + frameBytesMax >= block.length;
    const type = p === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (p === 0 ? endFlag : 0);
    parts.push(frame(type, flags, streamId, piece));
  }
  return Buffer.concat(parts);
}
