// etcd's watch guarantees as named validators (etcd.io/docs/v3.5/learning/api_guarantees/,
// etcd-io/etcd tests/robustness/validate/watch.go), run on recorded histories.
//
//   const truth = truthFrom(batches);                 // what was committed: (revision, sub, kind, key, value)
//   validateWatchHistory(streamHistory, truth);        // throws naming the guarantee that broke
//
// The validators are pure functions over plain data: the in-process tests record domain outputs,
// the integration tests record gRPC responses, both as RecordedResponse. The truth model computes
// create_revision, version and prev values itself from the sequence of writes, so the checks do not
// trust the store's own bookkeeping.

export interface RecordedKv {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export interface RecordedEvent {
  readonly type: 'put' | 'delete';
  readonly kv: RecordedKv;
  readonly prevKv?: RecordedKv;
}

export interface RecordedResponse {
  readonly watchId: bigint;
  /** Header revision. */
  readonly revision: number;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compactRevision: number;
  readonly fragment: boolean;
  readonly events: readonly RecordedEvent[];
}

/** A watch create request as sent, with the id the server gave it (-1: refused). */
export interface WatchSpec {
  readonly watchId: bigint;
  readonly key: string;
  /** Exclusive end; undefined: the single key; "\0": every key >= key. */
  readonly end?: string;
  /** <= 0: from the revision after the created response's header. */
  readonly startRevision: number;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

/** One stream: its create requests in order and every response it received, in order. */
export interface StreamHistory {
  readonly name: string;
  readonly watches: readonly WatchSpec[];
  readonly responses: readonly RecordedResponse[];
}

/** A committed change, as written (the model derives the rest). */
export interface TruthChange {
  readonly revision: number;
  readonly sub: number;
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
}

/** Each committed change with the kv and prev value a correct watch must report. */
export interface TruthEvent {
  readonly revision: number;
  readonly sub: number;
  readonly type: 'put' | 'delete';
  readonly kv: RecordedKv;
  readonly prev: RecordedKv | undefined;
}

export class WatchGuaranteeViolation extends Error {
  constructor(
    readonly guarantee: string,
    detail: string,
  ) {
    super(`watch guarantee "${guarantee}" violated: ${detail}`);
  }
}

const fail = (guarantee: string, detail: string): never => {
  throw new WatchGuaranteeViolation(guarantee, detail);
};

/** The sequential model: create revision, version and prev per committed change. */
export function truthModel(changes: readonly TruthChange[]): TruthEvent[] {
  const live = new Map<string, RecordedKv>();
  const out: TruthEvent[] = [];
  const sorted = [...changes].sort((a, b) => a.revision - b.revision || a.sub - b.sub);
  for (const c of sorted) {
    const prev = live.get(c.key);
    if (c.type === 'put') {
      const kv: RecordedKv = {
        key: c.key,
        value: c.value,
        createRevision: prev?.createRevision ?? c.revision,
        modRevision: c.revision,
        version: (prev?.version ?? 0) + 1,
      };
      live.set(c.key, kv);
      out.push({ revision: c.revision, sub: c.sub, type: 'put', kv, prev });
    } else {
      live.delete(c.key);
      out.push({ revision: c.revision, sub: c.sub, type: 'delete', kv: { key: c.key, value: '', createRevision: 0, modRevision: c.revision, version: 0 }, prev });
    }
  }
  return out;
}

function inRange(spec: WatchSpec, key: string): boolean {
  if (spec.end === undefined) return key === spec.key;
  if (spec.end === '\0') return key >= spec.key;
  return key >= spec.key && key < spec.end;
}

/** A watcher as the validators see it: its spec, the index of its created response, what it got. */
interface WatcherView {
  readonly spec: WatchSpec;
  readonly createdAt: number;
  readonly fromRevision: number;
  /** Events with the index of the logical response (fragments merged) they arrived in. */
  readonly events: { event: RecordedEvent; response: number; at: number }[];
  /** Progress responses that vouch for this watcher: [stream index, revision]. */
  readonly progress: { at: number; revision: number }[];
  endedAt: number;
  compactRevision: number;
}

const isProgress = (r: RecordedResponse): boolean =>
  r.events.length === 0 && !r.created && !r.canceled && r.compactRevision === 0 && r.revision !== 0;

/** Splits a stream history per watcher (created responses pair with creates in order, as clientv3). */
function viewsOf(history: StreamHistory): WatcherView[] {
  const views = new Map<bigint, WatcherView>();
  // Ids cancelled by compaction stay registered until the client cancels them (etcd): that
  // cancel is answered with a plain canceled response, which is not stray.
  const compactedIds = new Set<bigint>();
  const all: WatcherView[] = [];
  let nextSpec = 0;
  let logical = 0;
  history.responses.forEach((r, at) => {
    if (r.created) {
      const spec = history.watches[nextSpec++];
      if (spec === undefined) fail('created per create', `${history.name}: created response #${at} without a create request`);
      const s = spec as WatchSpec;
      if (r.watchId !== s.watchId) fail('created per create', `${history.name}: create #${nextSpec - 1} expected id ${s.watchId}, got ${r.watchId}`);
      if (r.canceled) return;
      const view: WatcherView = {
        spec: s,
        createdAt: at,
        fromRevision: s.startRevision > 0 ? s.startRevision : r.revision + 1,
        events: [],
        progress: [],
        endedAt: Infinity,
        compactRevision: 0,
      };
      views.set(r.watchId, view);
      all.push(view);
      return;
    }
    const view = views.get(r.watchId);
    if (isProgress(r)) {
      if (r.watchId === -1n) for (const v of views.values()) v.progress.push({ at, revision: r.revision });
      else view?.progress.push({ at, revision: r.revision });
      return;
    }
    if (view === undefined && r.canceled && r.events.length === 0 && r.compactRevision === 0 && compactedIds.delete(r.watchId)) return;
    if (view === undefined) fail('no stray responses', `${history.name}: response #${at} for unknown watch id ${r.watchId}`);
    const v = view as WatcherView;
    for (const event of r.events) v.events.push({ event, response: logical, at });
    if (!r.fragment) logical++;
    if (r.canceled) {
      v.endedAt = at;
      v.compactRevision = r.compactRevision;
      views.delete(r.watchId);
      if (r.compactRevision !== 0) compactedIds.add(r.watchId);
    }
  });
  return all;
}

/** The events this watcher must receive, in order. */
function expectedFor(view: WatcherView, truth: readonly TruthEvent[]): TruthEvent[] {
  const s = view.spec;
  return truth.filter(
    (t) => t.revision >= view.fromRevision && inRange(s, t.kv.key) && !(t.type === 'put' ? s.noPut : s.noDelete),
  );
}

const sameKv = (a: RecordedKv | undefined, b: RecordedKv | undefined): boolean =>
  a === b ||
  (a !== undefined &&
    b !== undefined &&
    a.key === b.key &&
    a.value === b.value &&
    a.createRevision === b.createRevision &&
    a.modRevision === b.modRevision &&
    a.version === b.version);

const show = (e: { type: string; kv: RecordedKv }): string => `${e.type.toUpperCase()} ${JSON.stringify(e.kv.key)}@${e.kv.modRevision}`;

/** Ordered: events in revision order, and within a revision in sub (commit) order. */
export function validateOrdered(history: StreamHistory, truth: readonly TruthEvent[]): void {
  const position = new Map(truth.map((t, i) => [`${t.revision}/${t.kv.key}`, i]));
  for (const view of viewsOf(history)) {
    let last = -1;
    for (const { event } of view.events) {
      const p = position.get(`${event.kv.modRevision}/${event.kv.key}`);
      if (p === undefined) fail('ordered', `${history.name} watch ${view.spec.watchId}: ${show(event)} was never committed`);
      if ((p as number) <= last) fail('ordered', `${history.name} watch ${view.spec.watchId}: ${show(event)} arrived out of order`);
      last = p as number;
    }
  }
}

/** Unique: no event is delivered twice to a watcher. */
export function validateUnique(history: StreamHistory): void {
  for (const view of viewsOf(history)) {
    const seen = new Set<string>();
    for (const { event } of view.events) {
      const id = `${event.kv.modRevision}/${event.kv.key}`;
      if (seen.has(id)) fail('unique', `${history.name} watch ${view.spec.watchId}: ${show(event)} delivered twice`);
      seen.add(id);
    }
  }
}

/** Atomic: a revision's events for a watcher arrive in one response (fragments merged). */
export function validateAtomic(history: StreamHistory, truth: readonly TruthEvent[]): void {
  for (const view of viewsOf(history)) {
    const expected = new Map<number, number>();
    for (const t of expectedFor(view, truth)) expected.set(t.revision, (expected.get(t.revision) ?? 0) + 1);
    const got = new Map<string, number>();
    const responsesOf = new Map<number, Set<number>>();
    for (const { event, response } of view.events) {
      const rev = event.kv.modRevision;
      got.set(`${response}/${rev}`, (got.get(`${response}/${rev}`) ?? 0) + 1);
      let set = responsesOf.get(rev);
      if (set === undefined) responsesOf.set(rev, (set = new Set()));
      set.add(response);
    }
    for (const [rev, responses] of responsesOf) {
      if (responses.size > 1) fail('atomic', `${history.name} watch ${view.spec.watchId}: revision ${rev} split over ${responses.size} responses`);
      const n = got.get(`${[...responses][0]}/${rev}`) ?? 0;
      if (n !== expected.get(rev)) fail('atomic', `${history.name} watch ${view.spec.watchId}: revision ${rev} has ${n} of ${expected.get(rev) ?? 0} events`);
    }
  }
}

/**
 * Reliable: no gaps. Up to the furthest revision the watcher is known to have reached (its last
 * event or a progress notification for it), it got exactly the expected events.
 */
export function validateReliable(history: StreamHistory, truth: readonly TruthEvent[]): void {
  for (const view of viewsOf(history)) {
    const lastEvent = view.events[view.events.length - 1]?.event.kv.modRevision ?? 0;
    const lastProgress = Math.max(0, ...view.progress.filter((p) => p.at < view.endedAt).map((p) => p.revision));
    const reached = Math.max(lastEvent, lastProgress);
    const expected = expectedFor(view, truth).filter((t) => t.revision <= reached);
    const got = view.events.map((e) => e.event);
    const n = Math.min(expected.length, got.length);
    for (let i = 0; i < n; i++) {
      const e = expected[i] as TruthEvent;
      const g = got[i] as RecordedEvent;
      if (e.revision !== g.kv.modRevision || e.kv.key !== g.kv.key || e.type !== g.type) {
        fail('reliable', `${history.name} watch ${view.spec.watchId}: event #${i} is ${show(g)}, expected ${show(e)}`);
      }
    }
    if (got.length !== expected.length) {
      const missing = expected.slice(got.length, got.length + 3).map(show).join(', ');
      fail('reliable', `${history.name} watch ${view.spec.watchId}: got ${got.length} events up to revision ${reached}, expected ${expected.length} (next missing: ${missing})`);
    }
  }
}

/**
 * Resumable: a watch from any retained revision starts with exactly the first event at or after
 * it; only a watcher whose next needed revision is below the compaction revision may be
 * cancelled for compaction.
 */
export function validateResumable(history: StreamHistory, truth: readonly TruthEvent[]): void {
  for (const view of viewsOf(history)) {
    if (view.compactRevision !== 0) {
      const lastEvent = view.events[view.events.length - 1]?.event.kv.modRevision ?? 0;
      const next = Math.max(view.fromRevision, lastEvent + 1);
      if (next >= view.compactRevision) {
        fail('resumable', `${history.name} watch ${view.spec.watchId}: cancelled for compaction at ${view.compactRevision} though it needed only revisions >= ${next}`);
      }
      continue;
    }
    const first = view.events[0]?.event;
    const expectedFirst = expectedFor(view, truth)[0];
    if (first !== undefined && expectedFirst !== undefined && (first.kv.modRevision !== expectedFirst.revision || first.kv.key !== expectedFirst.kv.key)) {
      fail('resumable', `${history.name} watch ${view.spec.watchId} from ${view.fromRevision}: first event ${show(first)}, expected ${show(expectedFirst)}`);
    }
  }
}

/** Bookmarkable: a progress notification at R comes after every event up to R of each watcher it covers. */
export function validateBookmarkable(history: StreamHistory, truth: readonly TruthEvent[]): void {
  for (const view of viewsOf(history)) {
    const expected = expectedFor(view, truth);
    for (const p of view.progress) {
      if (p.at > view.endedAt) continue;
      const before = view.events.filter((e) => e.at < p.at).length;
      const owed = expected.filter((t) => t.revision <= p.revision).length;
      if (before < owed) {
        fail('bookmarkable', `${history.name} watch ${view.spec.watchId}: progress at ${p.revision} (response #${p.at}) after ${before} of the ${owed} events up to it`);
      }
    }
  }
}

export interface ValidateOptions {
  /**
   * The highest compaction revision of the run. An event at or below it replayed from history may
   * lack prev_kv: its previous version is compacted away (etcd reads prev_kv at revision - 1 and
   * omits it when that is compacted).
   */
  readonly compactRevision?: number;
}

/** PrevKV and IsCreate: event kv as committed, prev_kv exactly when asked, create iff version 1. */
export function validateEventContents(history: StreamHistory, truth: readonly TruthEvent[], options: ValidateOptions = {}): void {
  const byId = new Map(truth.map((t) => [`${t.revision}/${t.kv.key}`, t]));
  for (const view of viewsOf(history)) {
    for (const { event } of view.events) {
      const t = byId.get(`${event.kv.modRevision}/${event.kv.key}`);
      if (t === undefined) fail('event contents', `${history.name}: ${show(event)} was never committed`);
      const truthEvent = t as TruthEvent;
      if (!sameKv(event.kv, truthEvent.kv)) fail('event contents', `${history.name}: ${show(event)} kv ${JSON.stringify(event.kv)} != ${JSON.stringify(truthEvent.kv)}`);
      const isCreate = event.type === 'put' && event.kv.createRevision === event.kv.modRevision;
      if (isCreate !== (event.type === 'put' && event.kv.version === 1)) fail('is create', `${history.name}: ${show(event)} create revision and version disagree`);
      if (isCreate !== (event.type === 'put' && truthEvent.prev === undefined)) fail('is create', `${history.name}: ${show(event)} create flag wrong`);
      const wantPrev = view.spec.prevKv ? truthEvent.prev : undefined;
      const prevCompacted = event.prevKv === undefined && event.kv.modRevision <= (options.compactRevision ?? -1);
      if (!sameKv(event.prevKv, wantPrev) && !prevCompacted) {
        fail('prev_kv', `${history.name} watch ${view.spec.watchId}: ${show(event)} prev_kv ${JSON.stringify(event.prevKv)}, expected ${JSON.stringify(wantPrev)}`);
      }
    }
  }
}

/** The header revision never decreases on a stream (the compaction cancel, header 0, excepted). */
export function validateHeaderMonotonic(history: StreamHistory): void {
  let last = 0;
  history.responses.forEach((r, at) => {
    if (r.compactRevision !== 0 && r.canceled) return;
    if (r.revision < last) fail('header revision non-decreasing', `${history.name}: response #${at} has header ${r.revision} after ${last}`);
    last = r.revision;
  });
}

/** Every validator, on one stream. */
export function validateWatchHistory(history: StreamHistory, truth: readonly TruthEvent[], options: ValidateOptions = {}): void {
  validateHeaderMonotonic(history);
  validateOrdered(history, truth);
  validateUnique(history);
  validateAtomic(history, truth);
  validateEventContents(history, truth, options);
  validateResumable(history, truth);
  validateReliable(history, truth);
  validateBookmarkable(history, truth);
}
