import type { DescService } from '@bufbuild/protobuf';
import { GrpcStatusError } from '../grpc/errors.js';
import type { CallContext, ServiceHandlers, StreamCall, StreamHandler, UnaryHandler } from '../grpc/handler.js';
import type { Frame, FrameChannel } from './frame-channel.js';
import { CREDIT_BATCH, decodeStatus, encodeCall, encodeCount, FrameType } from './serving-protocol.js';

const UNAVAILABLE = 14;
const GONE = 'etcdserver: the writer process is gone; this serving process is stopping';

interface PendingUnary {
  readonly resolve: (bytes: Buffer) => void;
  readonly reject: (error: Error) => void;
}

interface PendingStream {
  /** Sends to the client, one after another, in order. */
  chain: Promise<void>;
  readonly send: (bytes: Buffer) => Promise<void>;
  readonly end: (error?: Error) => void;
  credits: number;
}

/**
 * The serving process's side of forwarded calls: handlers (over encoded messages) that send each
 * call to the writer and answer with what comes back. Register them on an H2GrpcServer with
 * `encoded: true`.
 */
export class CallForwarder {
  private nextId = 1;
  private readonly unary = new Map<number, PendingUnary>();
  private readonly streams = new Map<number, PendingStream>();

  constructor(private readonly channel: FrameChannel) {
    channel.onFrame((frame) => this.onFrame(frame));
    channel.onClose(() => {
      const error = new GrpcStatusError(UNAVAILABLE, GONE);
      for (const pending of this.unary.values()) pending.reject(error);
      for (const stream of this.streams.values()) stream.end(error);
      this.unary.clear();
      this.streams.clear();
    });
  }

  /** Forwarding handlers for every method of `service` but those in `except`. */
  handlers(service: DescService, except: readonly string[] = []): ServiceHandlers {
    const out: ServiceHandlers = {};
    for (const method of service.methods) {
      if (except.includes(method.name)) continue;
      const path = `/${service.typeName}/${method.name}`;
      out[method.name] = method.methodKind === 'unary' ? this.unaryHandler(path) : this.streamHandler(path);
    }
    return out;
  }

  private unaryHandler(path: string): UnaryHandler<Buffer, Buffer> {
    return (request, ctx) => {
      if (this.channel.isClosed) throw new GrpcStatusError(UNAVAILABLE, GONE);
      const id = this.allocateId();
      const reply = new Promise<Buffer>((resolve, reject) => this.unary.set(id, { resolve, reject }));
      this.channel.send(FrameType.UNARY, id, ...encodeCall(head(path, ctx), request));
      const signal = ctx.signal;
      const onAbort = (): void => {
        if (this.unary.delete(id)) this.channel.send(FrameType.CANCEL, id);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      return reply.finally(() => signal.removeEventListener('abort', onAbort));
    };
  }

  private streamHandler(path: string): StreamHandler<Buffer, Buffer> {
    return (call: StreamCall<Buffer, Buffer>) => {
      if (this.channel.isClosed) return Promise.reject(new GrpcStatusError(UNAVAILABLE, GONE));
      const id = this.allocateId();
      return new Promise<void>((resolve, reject) => {
        let ended = false;
        const stream: PendingStream = {
          chain: Promise.resolve(),
          send: async (bytes) => call.send(bytes),
          end: (error) => {
            if (ended) return;
            ended = true;
            this.streams.delete(id);
            // Responses already queued reach the client before the status.
            void stream.chain.then(() => (error === undefined ? resolve() : reject(error)));
          },
          credits: 0,
        };
        this.streams.set(id, stream);
        this.channel.send(FrameType.OPEN, id, ...encodeCall(head(path, call.ctx), new Uint8Array(0)));
        call.ctx.signal.addEventListener(
          'abort',
          () => {
            if (ended) return;
            this.channel.send(FrameType.CANCEL, id);
            stream.end(new GrpcStatusError(1, 'context canceled'));
          },
          { once: true },
        );
        void (async () => {
          try {
            for await (const request of call.requests) {
              if (ended) break;
              this.channel.send(FrameType.MESSAGE, id, request);
            }
          } finally {
            if (!ended) this.channel.send(FrameType.HALF_CLOSE, id);
          }
        })();
      });
    };
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case FrameType.REPLY: {
        const pending = this.unary.get(frame.id);
        if (pending === undefined) return;
        this.unary.delete(frame.id);
        pending.resolve(frame.payload);
        return;
      }
      case FrameType.STREAM_MESSAGE: {
        const stream = this.streams.get(frame.id);
        if (stream === undefined) return;
        const bytes = frame.payload;
        stream.chain = stream.chain.then(async () => {
          await stream.send(bytes);
          if (++stream.credits >= CREDIT_BATCH) {
            this.channel.send(FrameType.CREDIT, frame.id, encodeCount(stream.credits));
            stream.credits = 0;
          }
        });
        return;
      }
      case FrameType.STATUS: {
        const { code, message } = decodeStatus(frame.payload);
        const error = code === 0 ? undefined : new GrpcStatusError(code, message);
        const pending = this.unary.get(frame.id);
        if (pending !== undefined) {
          this.unary.delete(frame.id);
          pending.reject(error ?? new GrpcStatusError(13, 'no response'));
          return;
        }
        this.streams.get(frame.id)?.end(error);
        return;
      }
      default:
        return;
    }
  }

  private allocateId(): number {
    const id = this.nextId;
    this.nextId = id >= 0xffff_ffff ? 1 : id + 1;
    return id;
  }
}

function head(path: string, ctx: CallContext): { path: string; token: string | undefined; peerCommonName: string | undefined } {
  return { path, token: ctx.metadata('token'), peerCommonName: ctx.peerCommonName() };
}
