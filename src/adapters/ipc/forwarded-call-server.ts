import type { DescService } from '@bufbuild/protobuf';
import type { CallContext, ServiceHandlers, StreamHandler, UnaryHandler } from '../grpc/handler.js';
import { grpcServiceDefinition } from '../grpc/service-definition.js';
import { toGrpcStatus } from '../grpc/errors.js';
import type { Logger } from '../../ports/logger.js';
import type { Frame, FrameChannel } from './frame-channel.js';
import { decodeCall, encodeStatus, FrameType, STREAM_WINDOW, type CallHead } from './serving-protocol.js';

interface Method {
  readonly kind: 'unary' | 'serverStream' | 'bidi';
  readonly handler: UnaryHandler | StreamHandler;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly serialize: (message: unknown) => Buffer;
}

const UNIMPLEMENTED = 12;
const INTERNAL = 13;

/** A forwarded call's context in the writer: the serving process's view of the client. */
class ForwardedContext implements CallContext {
  private controller: AbortController | undefined;
  private cancelled = false;

  constructor(private readonly head: CallHead) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort();
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.cancelled;
  }

  metadata(key: string): string | undefined {
    return key === 'token' ? this.head.token : undefined;
  }

  peerCommonName(): string | undefined {
    return this.head.peerCommonName;
  }

  abort(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.controller?.abort();
  }
}

/** A stream's requests, fed by MESSAGE frames: an AsyncIterable that ends at HALF_CLOSE. */
class ForwardedRequests implements AsyncIterable<unknown> {
  private readonly items: unknown[] = [];
  private ended = false;
  private waiter: ((r: IteratorResult<unknown>) => void) | undefined;

  push(item: unknown): void {
    if (this.ended) return;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter !== undefined) waiter({ value: item, done: false });
    else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    return {
      next: (): Promise<IteratorResult<unknown>> => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift(), done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
      return: (): Promise<IteratorResult<unknown>> => {
        this.end();
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

interface OpenStream {
  readonly ctx: ForwardedContext;
  readonly method: Method;
  readonly requests: ForwardedRequests;
  /** Responses sent and not yet credited back. */
  unacknowledged: number;
  creditWaiters: (() => void)[];
  /** Server streaming: the one request arrived. */
  started: boolean;
  finished: boolean;
}

/**
 * The writer's side of forwarded calls: the same handler table a gRPC server holds, served to
 * serving processes over their channels. Each call runs exactly as it would on a local gRPC
 * server (same handlers, same error mapping), with the client's token and certificate CN.
 */
export class ForwardedCallServer {
  private readonly methods = new Map<string, Method>();
  private readonly names: string[] = [];

  constructor(private readonly logger: Logger) {}

  serviceNames(): readonly string[] {
    return this.names;
  }

  register(service: DescService, handlers: ServiceHandlers): void {
    const definition = grpcServiceDefinition(service);
    for (const method of service.methods) {
      const handler = handlers[method.name];
      const def = definition[method.name];
      if (handler === undefined || def === undefined) throw new Error(`no handler for ${service.typeName}/${method.name}`);
      this.methods.set(def.path, {
        kind: method.methodKind === 'unary' ? 'unary' : method.methodKind === 'server_streaming' ? 'serverStream' : 'bidi',
        handler,
        deserialize: def.requestDeserialize,
        serialize: def.responseSerialize as (message: unknown) => Buffer,
      });
    }
    this.names.push(service.typeName);
  }

  /** Serves the calls arriving on `channel` until it closes (then every call still running is cancelled). */
  attach(channel: FrameChannel): void {
    const unary = new Map<number, ForwardedContext>();
    const streams = new Map<number, OpenStream>();
    channel.onFrame((frame) => {
      try {
        this.onFrame(channel, frame, unary, streams);
      } catch (error) {
        this.logger.error({ err: error, frameType: frame.type }, 'bad frame from a serving process');
        channel.destroy();
      }
    });
    channel.onClose(() => {
      for (const ctx of unary.values()) ctx.abort();
      for (const stream of streams.values()) {
        stream.ctx.abort();
        stream.requests.end();
        for (const wake of stream.creditWaiters.splice(0)) wake();
      }
      unary.clear();
      streams.clear();
    });
  }

  private onFrame(channel: FrameChannel, frame: Frame, unary: Map<number, ForwardedContext>, streams: Map<number, OpenStream>): void {
    switch (frame.type) {
      case FrameType.UNARY: {
        const { head, request } = decodeCall(frame.payload);
        const method = this.methods.get(head.path);
        if (method === undefined || method.kind !== 'unary') {
          channel.send(FrameType.STATUS, frame.id, encodeStatus(UNIMPLEMENTED, `The server does not implement the method ${head.path}`));
          return;
        }
        const ctx = new ForwardedContext(head);
        unary.set(frame.id, ctx);
        this.runUnary(channel, frame.id, method, ctx, request, () => unary.delete(frame.id));
        return;
      }
      case FrameType.OPEN: {
        const { head } = decodeCall(frame.payload);
        const method = this.methods.get(head.path);
        if (method === undefined || method.kind === 'unary') {
          channel.send(FrameType.STATUS, frame.id, encodeStatus(UNIMPLEMENTED, `The server does not implement the method ${head.path}`));
          return;
        }
        const stream: OpenStream = {
          ctx: new ForwardedContext(head),
          method,
          requests: new ForwardedRequests(),
          unacknowledged: 0,
          creditWaiters: [],
          started: false,
          finished: false,
        };
        streams.set(frame.id, stream);
        if (method.kind === 'bidi') this.runStream(channel, frame.id, stream, stream.requests, () => streams.delete(frame.id));
        return;
      }
      case FrameType.MESSAGE: {
        const stream = streams.get(frame.id);
        if (stream === undefined || stream.finished) return;
        let request: unknown;
        try {
          request = stream.method.deserialize(frame.payload);
        } catch (error) {
          this.finish(channel, frame.id, stream, INTERNAL, `Error deserializing request: ${error instanceof Error ? error.message : String(error)}`);
          streams.delete(frame.id);
          return;
        }
        if (stream.method.kind === 'bidi') {
          stream.requests.push(request);
        } else if (!stream.started) {
          stream.started = true;
          this.runStream(channel, frame.id, stream, once(request), () => streams.delete(frame.id));
        }
        return;
      }
      case FrameType.HALF_CLOSE: {
        streams.get(frame.id)?.requests.end();
        return;
      }
      case FrameType.CANCEL: {
        unary.get(frame.id)?.abort();
        unary.delete(frame.id);
        const stream = streams.get(frame.id);
        if (stream !== undefined) {
          stream.finished = true;
          stream.ctx.abort();
          stream.requests.end();
          for (const wake of stream.creditWaiters.splice(0)) wake();
          streams.delete(frame.id);
        }
        return;
      }
      case FrameType.CREDIT: {
        const stream = streams.get(frame.id);
        if (stream === undefined) return;
        stream.unacknowledged -= frame.payload.readUInt32BE(0);
        if (stream.unacknowledged < STREAM_WINDOW) for (const wake of stream.creditWaiters.splice(0)) wake();
        return;
      }
      default:
        // LISTENING and the like belong to the pool.
        return;
    }
  }

  private runUnary(channel: FrameChannel, id: number, method: Method, ctx: ForwardedContext, bytes: Buffer, done: () => void): void {
    const fail = (error: unknown): void => {
      done();
      const s = toGrpcStatus(error);
      if (!s.known) this.logger.error({ err: error }, 'unexpected error serving a forwarded request');
      channel.send(FrameType.STATUS, id, encodeStatus(s.code, s.message));
    };
    const reply = (response: unknown): void => {
      done();
      let encoded: Buffer;
      try {
        encoded = method.serialize(response);
      } catch (error) {
        fail(error);
        return;
      }
      channel.send(FrameType.REPLY, id, encoded);
    };
    let result: unknown;
    try {
      result = (method.handler as UnaryHandler)(method.deserialize(bytes), ctx);
    } catch (error) {
      fail(error);
      return;
    }
    if (result instanceof Promise) result.then(reply, fail);
    else reply(result);
  }

  private runStream(channel: FrameChannel, id: number, stream: OpenStream, requests: AsyncIterable<unknown>, done: () => void): void {
    const send = async (message: unknown): Promise<void> => {
      if (stream.finished) return;
      while (stream.unacknowledged >= STREAM_WINDOW && !stream.finished) {
        await new Promise<void>((resolve) => stream.creditWaiters.push(resolve));
      }
      if (stream.finished) return;
      stream.unacknowledged++;
      if (!channel.send(FrameType.STREAM_MESSAGE, id, stream.method.serialize(message))) await channel.drained();
    };
    let running: Promise<void>;
    try {
      running = (stream.method.handler as StreamHandler)({ ctx: stream.ctx, requests, send });
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      () => {
        done();
        this.finish(channel, id, stream, 0, '');
      },
      (error: unknown) => {
        done();
        const s = toGrpcStatus(error);
        if (!s.known) this.logger.error({ err: error }, 'unexpected error serving a forwarded stream');
        this.finish(channel, id, stream, s.code, s.message);
      },
    );
  }

  private finish(channel: FrameChannel, id: number, stream: OpenStream, code: number, message: string): void {
    if (stream.finished) return;
    stream.finished = true;
    stream.requests.end();
    channel.send(FrameType.STATUS, id, encodeStatus(code, message));
  }
}

async function* once(request: unknown): AsyncIterable<unknown> {
  yield request;
}
