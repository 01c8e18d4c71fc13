import { prefixEnd } from '../domain/bytes.js';
import { InvalidArgumentError } from '../domain/errors.js';
import { keyRange } from '../domain/mvcc/key-range.js';
import type { Revision } from '../domain/mvcc/types.js';
import type { WatchHub } from '../domain/watch/hub.js';
import { AUTO_WATCH_ID, WatchCompactedError, type WatchEvent } from '../domain/watch/types.js';

export type { WatchEvent };
export { WatchCompactedError };

export interface WatchOptions {
  /** Every key with `key` as prefix (an empty key with `prefix`: every key). */
  readonly prefix?: boolean;
  /** Keys in [key, end); `"\0"` means every key >= key (as etcd's range_end). */
  readonly end?: Uint8Array;
  /** Replay history from this revision (inclusive); default: from the next write. */
  readonly startRevision?: Revision;
  readonly prevKv?: boolean;
  readonly filters?: readonly ('noPut' | 'noDelete')[];
  /** Aborting ends the iteration (no error). */
  readonly signal?: AbortSignal;
  /** Periodic progress messages (every `--watch-progress-notify-interval`) while no events come. */
  readonly progressNotify?: boolean;
}

/**
 * What a watch yields, in order: `created` (the store's revision when the watch started), then
 * `events` (all events of a revision always in one message, in revision order, none missing, none
 * twice) and `progress` (every event up to `revision` has been yielded).
 */
export type WatchMessage =
  | { readonly kind: 'created'; readonly revision: Revision }
  | { readonly kind: 'events'; readonly revision: Revision; readonly events: readonly WatchEvent[] }
  | { readonly kind: 'progress'; readonly revision: Revision };

export interface Watch extends AsyncIterable<WatchMessage> {
  /** Asks for a progress message once the watch has caught up (etcd RequestProgress). */
  requestProgress(): void;
  /** Ends the watch; a running iteration finishes. */
  cancel(): void;
}

/**
 * An embedded watch: one domain stream with one watcher, so it has the same guarantees as a gRPC
 * watch. A consumer that stops iterating is not handed live events (nothing grows without bound);
 * when it iterates again it catches up from history. Iteration throws WatchCompactedError if the
 * history it still needs was compacted away, and InvalidArgumentError for an empty range.
 */
export function openWatch(hub: WatchHub, key: Uint8Array, options: WatchOptions): Watch {
  const start = key.length === 0 ? new Uint8Array([0]) : key;
  const end = options.end ?? (options.prefix ? (key.length === 0 ? new Uint8Array([0]) : prefixEnd(key)) : undefined);
  const stream = hub.openStream();
  stream.create({
    range: keyRange(start, end),
    startRevision: options.startRevision ?? 0,
    watchId: AUTO_WATCH_ID,
    prevKv: options.prevKv ?? false,
    noPut: options.filters?.includes('noPut') ?? false,
    noDelete: options.filters?.includes('noDelete') ?? false,
    progressNotify: options.progressNotify ?? false,
    fragment: false,
  });
  const signal = options.signal;
  const onAbort = (): void => stream.close();
  if (signal?.aborted) stream.close();
  else signal?.addEventListener('abort', onAbort, { once: true });

  async function* iterate(): AsyncGenerator<WatchMessage> {
    try {
      for (;;) {
        const output = await stream.next();
        if (output === undefined) return;
        switch (output.kind) {
          case 'created':
            yield { kind: 'created', revision: output.revision };
            break;
          case 'events':
            yield { kind: 'events', revision: output.revision, events: output.events };
            break;
          case 'progress':
            // The stream's only watcher: its periodic progress and the RequestProgress answer (-1) alike.
            yield { kind: 'progress', revision: output.revision };
            break;
          case 'refused':
            throw new InvalidArgumentError(output.reason);
          case 'compacted':
            throw new WatchCompactedError(output.compactRevision);
          case 'canceled':
            return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stream.close();
    }
  }

  let iterated = false;
  return {
    [Symbol.asyncIterator]: () => {
      if (iterated) throw new Error('a watch can be iterated once');
      iterated = true;
      return iterate();
    },
    requestProgress: () => stream.requestProgress(),
    cancel: () => stream.close(),
  };
}
