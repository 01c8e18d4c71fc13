// An in-process watch setup for unit tests: the domain (InMemoryMvccBackend, WritePipeline,
// KvService) plus a WatchHub on a VirtualClock, and recorders that turn domain outputs into the
// validators' RecordedResponse form.
//
//   const h = watchHarness({ streamEventsQueuedMax: 4 });
//   const rec = h.record();                                   // a stream that records what it takes
//   rec.create({ key: 'k', end: prefixEndOf('k') });
//   await h.d.kv.put({ key: b('k1'), value: b('v') });
//   rec.drain();                                              // take everything queued now
//   validateWatchHistory(rec.history(), h.truth());
import { VirtualClock } from '../../src/adapters/memory/virtual-clock.js';
import { fromUtf8, prefixEnd, utf8 } from '../../src/domain/bytes.js';
import { keyRange } from '../../src/domain/mvcc/key-range.js';
import type { KeyValue } from '../../src/domain/mvcc/types.js';
import { WatchHub, type WatchHubOptions } from '../../src/domain/watch/hub.js';
import type { WatchStream } from '../../src/domain/watch/stream.js';
import { AUTO_WATCH_ID, type WatchEvent, type WatchId, type WatchOutput } from '../../src/domain/watch/types.js';
import { buildDomain, type Domain, type DomainOptions } from './domain-fixtures.js';
import { truthModel, type RecordedEvent, type RecordedKv, type RecordedResponse, type StreamHistory, type TruthEvent, type WatchSpec } from './watch-validators.js';

export const TEST_HUB_OPTIONS: WatchHubOptions = {
  streamEventsQueuedMax: 10_000,
  streamControlQueuedMax: 128,
  streamWatchersMax: 1_000,
  catchUpPageChangesMax: 1_000,
  progressNotifyIntervalMs: 1_000,
};

export interface WatchHarness {
  readonly d: Domain;
  readonly clock: VirtualClock;
  readonly hub: WatchHub;
  record(name?: string): StreamRecorder;
  /** The committed history (from the pipeline's batches) through the independent model. */
  truth(): TruthEvent[];
}

export function watchHarness(options: Partial<WatchHubOptions> = {}, domain: DomainOptions = {}): WatchHarness {
  const d = buildDomain(domain);
  const clock = new VirtualClock();
  const hub = new WatchHub(d.backend, clock, d.scheduler, { ...TEST_HUB_OPTIONS, ...options }, d.logger.child({ component: 'watch' }));
  d.pipeline.onCommitted((batch) => hub.publish(batch));
  let n = 0;
  return {
    d,
    clock,
    hub,
    record: (name) => new StreamRecorder(hub.openStream(), name ?? `stream-${n++}`),
    truth: () =>
      truthModel(
        d.batches.flatMap((batch) =>
          batch.changes.map((c) => ({ revision: c.main, sub: c.sub, type: c.kind, key: fromUtf8(c.kv.key), value: fromUtf8(c.kv.value) })),
        ),
      ),
  };
}

export interface CreateInit {
  key: string;
  end?: string;
  startRevision?: number;
  watchId?: WatchId;
  prevKv?: boolean;
  noPut?: boolean;
  noDelete?: boolean;
  progressNotify?: boolean;
}

export const prefixEndOf = (prefix: string): string => fromUtf8(prefixEnd(utf8(prefix)));

/** A stream whose outputs are taken by the test and recorded in order. */
export class StreamRecorder {
  readonly watches: WatchSpec[] = [];
  readonly outputs: WatchOutput[] = [];

  constructor(
    readonly stream: WatchStream,
    readonly name: string,
  ) {}

  create(init: CreateInit): WatchId {
    const end = init.end === undefined ? undefined : init.end === '\0' ? new Uint8Array([0]) : utf8(init.end);
    const id = this.stream.create({
      range: keyRange(utf8(init.key), end),
      startRevision: init.startRevision ?? 0,
      watchId: init.watchId ?? AUTO_WATCH_ID,
      prevKv: init.prevKv ?? false,
      noPut: init.noPut ?? false,
      noDelete: init.noDelete ?? false,
      progressNotify: init.progressNotify ?? false,
      fragment: false,
    });
    this.watches.push({
      watchId: id,
      key: init.key,
      ...(init.end !== undefined ? { end: init.end } : {}),
      startRevision: init.startRevision ?? 0,
      prevKv: init.prevKv ?? false,
      noPut: init.noPut ?? false,
      noDelete: init.noDelete ?? false,
    });
    return id;
  }

  /** Takes up to `max` queued outputs; returns what was taken. */
  drain(max = Infinity): WatchOutput[] {
    const taken: WatchOutput[] = [];
    while (taken.length < max) {
      const o = this.stream.poll();
      if (o === undefined) break;
      taken.push(o);
    }
    this.outputs.push(...taken);
    return taken;
  }

  history(): StreamHistory {
    return { name: this.name, watches: this.watches, responses: this.outputs.map(toRecorded) };
  }

  /** Events delivered so far, as "TYPE key@rev" strings. */
  eventLines(): string[] {
    return this.outputs.flatMap((o) => (o.kind === 'events' ? o.events.map((e) => `${e.kind.toUpperCase()} ${fromUtf8(e.kv.key)}@${e.kv.modRevision}`) : []));
  }
}

function recordedKv(kv: KeyValue): RecordedKv {
  return { key: fromUtf8(kv.key), value: fromUtf8(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
}

function recordedEvent(e: WatchEvent): RecordedEvent {
  return { type: e.kind, kv: recordedKv(e.kv), ...(e.prevKv !== undefined ? { prevKv: recordedKv(e.prevKv) } : {}) };
}

export function toRecorded(o: WatchOutput): RecordedResponse {
  const base = { created: false, canceled: false, compactRevision: 0, fragment: false, events: [] as RecordedEvent[] };
  switch (o.kind) {
    case 'created':
      return { ...base, watchId: o.watchId, revision: o.revision, created: true };
    case 'refused':
      return { ...base, watchId: -1n, revision: o.revision, created: true, canceled: true };
    case 'events':
      return { ...base, watchId: o.watchId, revision: o.revision, events: o.events.map(recordedEvent) };
    case 'progress':
      return { ...base, watchId: o.watchId, revision: o.revision };
    case 'canceled':
      return { ...base, watchId: o.watchId, revision: o.revision, canceled: true };
    case 'compacted':
      return { ...base, watchId: o.watchId, revision: 0, canceled: true, compactRevision: o.compactRevision };
  }
}
