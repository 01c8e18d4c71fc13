import type { Cancellation } from '../../domain/write/write-pipeline.js';
/**
 * Transport-neutral handlers: plain functions over generated message types with an AbortSignal.
 * The grpc-js server (grpc-server.ts) adapts them; a Connect transport can adapt the same ones.
 */
export interface CallContext extends Cancellation {
  readonly signal: AbortSignal;
  /**
   * What `signal.aborted` says, without making an AbortSignal (writes pass the context itself to
   * the pipeline, which only needs the flag; an AbortController costs ~2.4 µs a call).
   */
  readonly aborted: boolean;
  /** First value of a request metadata entry (lower-case key). */
  metadata(key: string): string | undefined;
  /**
   * The Common Name of the client's certificate, when mutual TLS verified one; undefined otherwise
   * (plaintext, server-only TLS). Under mTLS etcd takes it as the user when there is no token.
   */
  peerCommonName(): string | undefined;
}

export type UnaryHandler<I = any, O = any> = (request: I, ctx: CallContext) => Promise<O> | O;

/** A server-streaming or bidi handler: reads requests from `requests` (bidi), writes with `send`. */
export interface StreamCall<I, O> {
  readonly ctx: CallContext;
  readonly requests: AsyncIterable<I>;
  /**
   * Queues `message`. Returns a promise to wait for when the connection is congested (back
   * pressure), undefined when there is room: a stream sending many small messages (a watch
   * fan-out) then need not wait for anything per message.
   */
  send(message: O): Promise<void> | undefined;
}
export type StreamHandler<I = any, O = any> = (call: StreamCall<I, O>) => Promise<void>;

export type ServiceHandlers = Record<string, UnaryHandler | StreamHandler>;
