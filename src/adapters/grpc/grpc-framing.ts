import { status } from '@grpc/grpc-js';

/**
 * The gRPC-over-HTTP/2 pieces both of T4's own gRPC servers share (PROTOCOL-HTTP2.md,
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): length-prefixed message
 * framing, grpc-timeout and grpc-message encodings, and a bidi call's request queue.
 */

/** A gRPC status to answer with, raised by the transport itself (framing, limits, deadlines). */
export class CallStatus extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}


/** grpc-message is percent-encoded: bytes outside printable ASCII, and '%' itself (PROTOCOL-HTTP2.md). */
export function encodeGrpcMessage(message: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/** `grpc-timeout` (at most 8 digits and a unit) in milliseconds; undefined if malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (match === null) return undefined;
  return Number(match[1]) * (TIMEOUT_UNIT_MS[match[2] as string] as number);
}

/** One gRPC length-prefixed message: the flag byte (0, uncompressed), big-endian length, bytes. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.byteLength);
  out[0] = 0;
  out.writeUInt32BE(message.byteLength, 1);
  message.copy(out, 5);
  return out;
}

/**
 * Splits a request body into length-prefixed messages. Chunks are kept as they arrive and joined
 * once a whole message is there, so a large message costs one copy, not one per DATA frame.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly messageBytesMax: number) {}

  /** Appends a chunk; pushes each complete message to `out`. Throws CallStatus on a bad or oversized message. */
  push(chunk: Buffer, out: Buffer[]): void {
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
    while (this.size >= 5) {
      let head = this.chunks[0] as Buffer;
      if (head.byteLength < 5) {
        head = Buffer.concat(this.chunks, this.size);
        this.chunks = [head];
      }
      if (head[0] !== 0) {
        throw new CallStatus(status.INTERNAL, 'received a compressed message, but compression is not supported (grpc-encoding identity)');
      }
      const length = head.readUInt32BE(1);
      if (length > this.messageBytesMax) {
        // grpc-js's wording, as the README documents.
        throw new CallStatus(status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${this.messageBytesMax})`);
      }
      if (this.size < 5 + length) return;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.size);
      out.push(all.subarray(5, 5 + length));
      const rest = all.subarray(5 + length);
      this.chunks = rest.byteLength === 0 ? [] : [rest];
      this.size = rest.byteLength;
    }
  }

  /** True when part of a message has arrived but not all of it. */
  partial(): boolean {
    return this.size > 0;
  }
}

/** A bidi call's requests: an AsyncIterable that ends when the client half-closes. */
export class RequestQueue implements AsyncIterable<unknown> {
  private readonly items: unknown[] = [];
  private ended = false;
  private waiter: ((r: IteratorResult<unknown>) => void) | undefined;

  constructor(private readonly onDrained: () => void) {}

  get length(): number {
    return this.items.length;
  }

  push(item: unknown): void {
    if (this.ended) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  end(): void {
    this.ended = true;
    this.items.length = 0;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    return {
      next: (): Promise<IteratorResult<unknown>> => {
        if (this.items.length > 0) {
          const value = this.items.shift();
          if (this.items.length === 0) this.onDrained();
          return Promise.resolve({ value, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        this.onDrained();
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
      // Leaving a `for await` early does not end the call: the handler still sends and returns.
      return: (): Promise<IteratorResult<unknown>> => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** A server-streaming call's single request as the handlers' AsyncIterable. */
export async function* one(request: unknown): AsyncIterable<unknown> {
  yield request;
}

