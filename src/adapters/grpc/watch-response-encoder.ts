import { create, toBinary } from '@bufbuild/protobuf';
import { INVALID_WATCH_ID, type WatchEvent, type WatchOutput } from '../../domain/watch/types.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { EventSchema, Event_EventType, type Event as PbEvent } from './gen/etcd/api/mvccpb/kv_pb.js';
import type { HeaderFactory } from './header.js';
import { toPbKeyValue } from './kv-mappers.js';
import { ProtobufWriter, bytesTag, messageFieldLength, varintFieldLength, varintTag } from '../../domain/protobuf-wire.js';

/**
 * Encodes a watch stream's event responses without building a protobuf message per watcher.
 * A put seen by 1,000 watchers is one domain `WatchEvent` object shared by all of them (the hub
 * hands the same object to every watcher that wants it), so its `mvccpb.Event` bytes are encoded
 * once and cached on that object; the stream's `ResponseHeader` bytes are encoded once per
 * revision; a response is then three length-delimited fields written into one buffer. The bytes
 * are exactly what `toBinary(WatchResponseSchema, ...)` gives for the same response
 * (test/unit/adapters/grpc/watch-response-encoder.test.ts).
 *
 * Field numbers (etcd api/etcdserverpb/rpc.proto): WatchResponse header = 1, watch_id = 2,
 * events = 11.
 */
const HEADER_TAG = bytesTag(1);
const WATCH_ID_TAG = varintTag(2);
const EVENTS_TAG = bytesTag(11);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const encodedEvents = new WeakMap<WatchEvent, Uint8Array>();

function encodedEvent(event: WatchEvent): Uint8Array {
  let bytes = encodedEvents.get(event);
  if (bytes === undefined) {
    bytes = toBinary(EventSchema, toPbEvent(event));
    encodedEvents.set(event, bytes);
  }
  return bytes;
}

export class WatchResponseEncoder {
  constructor(
    private readonly headers: HeaderFactory,
    private readonly fragmentBytesMax: number,
  ) {}

  /** One domain output as wire responses: encoded bytes for events, messages for the rest. */
  encode(output: WatchOutput): (pb.WatchResponse | Uint8Array)[] {
    if (output.kind !== 'events' || output.fragment || output.watchId < 0n || output.watchId > MAX_SAFE) {
      return toPbWatchResponses(output, this.headers, this.fragmentBytesMax);
    }
    return [this.eventsResponse(output.revision, Number(output.watchId), output.events)];
  }

  private eventsResponse(revision: number, watchId: number, events: readonly WatchEvent[]): Uint8Array {
    const header = this.headers.encode(revision);
    const encoded = events.map(encodedEvent);
    let size = messageFieldLength(header.byteLength) + varintFieldLength(watchId);
    for (const e of encoded) size += messageFieldLength(e.byteLength);
    const w = new ProtobufWriter(new Uint8Array(size));
    w.messageField(HEADER_TAG, header);
    w.varintField(WATCH_ID_TAG, watchId);
    for (const e of encoded) w.messageField(EVENTS_TAG, e);
    return w.out;
  }
}

export function toPbEvent(event: WatchEvent): PbEvent {
  return create(EventSchema, {
    type: event.kind === 'put' ? Event_EventType.PUT : Event_EventType.DELETE,
    kv: toPbKeyValue(event.kv),
    ...(event.prevKv !== undefined ? { prevKv: toPbKeyValue(event.prevKv) } : {}),
  });
}

/** One domain output as wire responses (several only when a fragmenting watcher's response is large). */
export function toPbWatchResponses(output: WatchOutput, headers: HeaderFactory, fragmentBytesMax: number): pb.WatchResponse[] {
  const header = headers.make(output.kind === 'compacted' ? 0 : output.revision);
  switch (output.kind) {
    case 'created':
      return [create(pb.WatchResponseSchema, { header, watchId: output.watchId, created: true })];
    case 'refused':
      return [create(pb.WatchResponseSchema, { header, watchId: INVALID_WATCH_ID, created: true, canceled: true, cancelReason: output.reason })];
    case 'progress':
      return [create(pb.WatchResponseSchema, { header, watchId: output.watchId })];
    case 'canceled':
      return [create(pb.WatchResponseSchema, { header, watchId: output.watchId, canceled: true })];
    case 'compacted':
      return [create(pb.WatchResponseSchema, { header, watchId: output.watchId, canceled: true, compactRevision: BigInt(output.compactRevision) })];
    case 'events': {
      const events = output.events.map(toPbEvent);
      const whole = create(pb.WatchResponseSchema, { header, watchId: output.watchId, events });
      return output.fragment ? fragments(whole, fragmentBytesMax) : [whole];
    }
  }
}

/**
 * etcd's sendFragments: a response at least `maxBytes` long with two or more events is split
 * into responses of under `maxBytes` (at least one event each), all but the last with fragment=true.
 */
export function fragments(whole: pb.WatchResponse, maxBytes: number): pb.WatchResponse[] {
  const size = toBinary(pb.WatchResponseSchema, whole).byteLength;
  if (size < maxBytes || whole.events.length < 2) return [whole];
  const base = toBinary(pb.WatchResponseSchema, create(pb.WatchResponseSchema, { header: whole.header, watchId: whole.watchId, fragment: true })).byteLength;
  const out: pb.WatchResponse[] = [];
  let current: PbEvent[] = [];
  let currentBytes = base;
  for (const event of whole.events) {
    const n = toBinary(EventSchema, event).byteLength;
    const eventBytes = messageFieldLength(n);
    if (current.length > 0 && currentBytes + eventBytes >= maxBytes) {
      out.push(create(pb.WatchResponseSchema, { header: whole.header, watchId: whole.watchId, fragment: true, events: current }));
      current = [];
      currentBytes = base;
    }
    current.push(event);
    currentBytes += eventBytes;
  }
  out.push(create(pb.WatchResponseSchema, { header: whole.header, watchId: whole.watchId, fragment: false, events: current }));
  return out;
}
