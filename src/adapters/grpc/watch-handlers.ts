import { keyRange } from '../../domain/mvcc/key-range.js';
import type { WatchHub } from '../../domain/watch/hub.js';
import type { WatchStream } from '../../domain/watch/stream.js';
import type { WatchCreate } from '../../domain/watch/types.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import type { HeaderFactory } from './header.js';
import type { CallContext, ServiceHandlers, StreamCall } from './handler.js';
import type { AuthService } from '../../domain/auth/auth-service.js';
import { T4Error, type KnownError } from '../../domain/errors.js';
import { callerOf } from './auth-guard.js';
import { toNumber } from './kv-mappers.js';
import { WatchResponseEncoder } from './watch-response-encoder.js';

/**
 * etcd's Watch service on one bidi stream (etcd api/v3rpc/watch.go): requests are handled in
 * order (each create is answered by its created response before the next request is read), the
 * domain stream's outbox is sent in order, and a client that stops reading stops being handed
 * live events (its watchers catch up from history later) instead of growing memory.
 *
 * `hasleader` metadata (clientv3.WithRequireLeader) is accepted: a single node always has a
 * leader, so such watches are always served.
 *
 * As etcd, the stream stays open after the client half-closes its side, until it cancels.
 */
/**
 * etcd's cancel reasons for a watch refused by auth (api/v3rpc/watch.go): the text of the gRPC
 * error, as Go prints it. A bad token and a missing user have their own; anything else is
 * permission denied.
 */
export const WATCH_PERMISSION_DENIED_REASON = 'rpc error: code = PermissionDenied desc = etcdserver: permission denied';
const WATCH_REFUSAL_REASONS: Readonly<Record<string, string>> = {
  InvalidAuthToken: 'rpc error: code = Unauthenticated desc = etcdserver: invalid auth token',
  UserEmpty: 'rpc error: code = InvalidArgument desc = etcdserver: user name is empty',
};

export function watchHandlers(hub: WatchHub, headers: HeaderFactory, fragmentBytesMax: number, auth?: AuthService): ServiceHandlers {
  return {
    Watch: async (call: StreamCall<pb.WatchRequest, pb.WatchResponse | Uint8Array>): Promise<void> => {
      const stream = hub.openStream();
      const { signal } = call.ctx;
      const stopped = new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      const sending = sendResponses(stream, call, headers, fragmentBytesMax);
      readRequests(stream, call, auth).catch(() => stream.close());
      await Promise.race([stopped, sending]);
      stream.close();
      await sending;
    },
  };
}

async function readRequests(stream: WatchStream, call: StreamCall<pb.WatchRequest, pb.WatchResponse | Uint8Array>, auth: AuthService | undefined): Promise<void> {
  for await (const request of call.requests) {
    // Bounded control responses: a client that sends creates without reading waits here (HTTP/2
    // flow control then holds it back), as etcd's recvLoop blocks on its 128-slot ctrlStream.
    await untilOrAborted(stream.controlRoom(), call.ctx.signal);
    if (stream.closed || call.ctx.signal.aborted) return;
    handleRequest(stream, request, auth === undefined ? undefined : (r) => watchRefusal(auth, call.ctx, r));
  }
}

/** etcd's isWatchPermitted: read over the whole watched range, checked at creation. The refusal reason, or undefined when permitted. */
function watchRefusal(auth: AuthService, ctx: CallContext, r: pb.WatchCreateRequest): string | undefined {
  try {
    auth.check(callerOf(auth, ctx), 'read', r.key, r.rangeEnd);
    return undefined;
  } catch (error) {
    if (error instanceof T4Error) return WATCH_REFUSAL_REASONS[(error as KnownError).kind] ?? WATCH_PERMISSION_DENIED_REASON;
    throw error;
  }
}

function handleRequest(stream: WatchStream, request: pb.WatchRequest, refusal?: (r: pb.WatchCreateRequest) => string | undefined): void {
  const union = request.requestUnion;
  switch (union.case) {
    case 'createRequest': {
      const refused = refusal?.(union.value);
      if (refused !== undefined) {
        stream.refuse(refused);
        return;
      }
      stream.create(fromPbCreate(union.value));
      return;
    }
    case 'cancelRequest':
      stream.cancel(union.value.watchId);
      return;
    case 'progressRequest':
      stream.requestProgress();
      return;
    default:
      // etcd ignores a request of an unknown kind rather than ending the stream.
      return;
  }
}

async function sendResponses(
  stream: WatchStream,
  call: StreamCall<pb.WatchRequest, pb.WatchResponse | Uint8Array>,
  headers: HeaderFactory,
  fragmentBytesMax: number,
): Promise<void> {
  const encoder = new WatchResponseEncoder(headers, fragmentBytesMax);
  for (;;) {
    const output = await stream.next();
    if (output === undefined) return;
    for (const message of encoder.encode(output)) {
      const congested = call.send(message);
      if (congested !== undefined) await untilOrAborted(congested, call.ctx.signal);
      if (call.ctx.signal.aborted) return;
    }
  }
}

/**
 * Resolves when `promise` does or the call is aborted, whichever is first. Not
 * `Promise.race([promise, stopped])`: each race leaves a reaction on the long-lived `stopped`
 * promise until the stream ends, so a stream would retain memory for every response it ever sent.
 * Here the abort listener is removed as soon as `promise` settles.
 */
export function untilOrAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** A create request as the domain takes it, normalised as etcd's recvLoop does. */
export function fromPbCreate(r: pb.WatchCreateRequest): WatchCreate {
  // An empty key is "\0", the smallest key; range_end "\0" means every key >= key.
  const key = r.key.length === 0 ? new Uint8Array([0]) : r.key;
  return {
    range: keyRange(key, r.rangeEnd),
    startRevision: toNumber(r.startRevision),
    watchId: r.watchId,
    prevKv: r.prevKv,
    noPut: r.filters.includes(pb.WatchCreateRequest_FilterType.NOPUT),
    noDelete: r.filters.includes(pb.WatchCreateRequest_FilterType.NODELETE),
    progressNotify: r.progressNotify,
    fragment: r.fragment,
  };
}
