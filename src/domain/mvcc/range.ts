import { compareBytes, EMPTY_BYTES } from '../bytes.js';
import { CompactedError, FutureRevisionError } from '../errors.js';
import type { MvccReader } from '../../ports/mvcc-backend.js';
import { keyRange } from './key-range.js';
import type { RangeRequest, RangeResult, RecordsRangeResult, SortOrder, SortTarget } from './requests.js';
import type { KeyValue, Revision } from './types.js';

/**
 * Resolves a requested read revision as etcd's mvcc does: `<= 0` is the current revision; above
 * current is a future revision; below the compaction revision is compacted (the compaction
 * revision itself stays readable).
 */
export function readRevision(view: MvccReader, requested: Revision | undefined): Revision {
  const current = view.currentRevision();
  if (requested === undefined || requested <= 0) return current;
  if (requested > current) throw new FutureRevisionError();
  if (requested < view.compactRevision()) throw new CompactedError();
  return requested;
}

/**
 * The same Range as `executeRange`, answered with the store's framed records as they are
 * (MvccReader.currentRecords), when the request needs nothing else: the current revision, no
 * count-only, revision filters, keys-only or sort other than by ascending key. Undefined when the
 * request or the store does not qualify (then `executeRange` answers it).
 */
export function executeRangeRecords(view: MvccReader, req: RangeRequest): RecordsRangeResult | undefined {
  if (view.currentRecords === undefined) return undefined;
  if (req.countOnly || req.keysOnly) return undefined;
  if ((req.minModRevision ?? 0) !== 0 || (req.maxModRevision ?? 0) !== 0 || (req.minCreateRevision ?? 0) !== 0 || (req.maxCreateRevision ?? 0) !== 0) {
    return undefined;
  }
  const order = req.sortOrder ?? 'none';
  const target = req.sortTarget ?? 'key';
  if (!(order === 'none' && target === 'key') && !(order === 'ascend' && target === 'key')) return undefined;
  const revision = readRevision(view, req.revision);
  if (revision !== view.currentRevision()) return undefined;
  const range = keyRange(req.key, req.rangeEnd);
  const limit = req.limit !== undefined && req.limit > 0 ? req.limit : 0;
  const page = view.currentRecords(range, limit);
  if (page === undefined) return undefined;
  // A full page may have more after it: the count says (as etcd, count is every key in the range).
  const count = limit > 0 && page.n === limit ? view.count(range, revision) : page.n;
  return { records: page.records, n: page.n, more: count > page.n, count };
}

/**
 * A Range as etcd's applier runs it: read (with `limit + 1` when no sort or filter needs every
 * key), drop keys outside the revision filters, sort, cut to `limit` and say whether there was
 * `more`. `count` is the number of keys in the range at the read revision, before filters and limit.
 */
export function executeRange(view: MvccReader, req: RangeRequest): RangeResult {
  const revision = readRevision(view, req.revision);
  const range = keyRange(req.key, req.rangeEnd);
  if (req.countOnly) return { kvs: [], more: false, count: view.count(range, revision) };

  const limitRequested = req.limit !== undefined && req.limit > 0 ? req.limit : 0;
  const filtered =
    (req.minModRevision ?? 0) !== 0 ||
    (req.maxModRevision ?? 0) !== 0 ||
    (req.minCreateRevision ?? 0) !== 0 ||
    (req.maxCreateRevision ?? 0) !== 0;
  const fetchAll = (req.sortOrder ?? 'none') !== 'none' || filtered;
  const fetchLimit = fetchAll || limitRequested === 0 ? 0 : limitRequested + 1;

  let kvs = view.range(range, revision, fetchLimit);
  const count = fetchLimit === 0 || kvs.length < fetchLimit ? kvs.length : view.count(range, revision);
  if (filtered) kvs = kvs.filter((kv) => passesFilters(kv, req));

  const target = req.sortTarget ?? 'key';
  let order: SortOrder = req.sortOrder ?? 'none';
  // etcd: a sort target other than KEY without an order sorts ascending (results already come by key).
  if (target !== 'key' && order === 'none') order = 'ascend';
  const sorts = order === 'descend' || (order === 'ascend' && target !== 'key');
  if (sorts) kvs = sortKvs(kvs, target, order);

  let more = false;
  if (limitRequested > 0 && kvs.length > limitRequested) {
    kvs = kvs.slice(0, limitRequested);
    more = true;
  }
  if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY_BYTES }));
  return { kvs, more, count };
}

function passesFilters(kv: KeyValue, req: RangeRequest): boolean {
  if ((req.maxModRevision ?? 0) !== 0 && kv.modRevision > (req.maxModRevision as number)) return false;
  if ((req.minModRevision ?? 0) !== 0 && kv.modRevision < (req.minModRevision as number)) return false;
  if ((req.maxCreateRevision ?? 0) !== 0 && kv.createRevision > (req.maxCreateRevision as number)) return false;
  if ((req.minCreateRevision ?? 0) !== 0 && kv.createRevision < (req.minCreateRevision as number)) return false;
  return true;
}

function sortKvs(kvs: KeyValue[], target: SortTarget, order: SortOrder): KeyValue[] {
  const compare = comparators[target];
  const sign = order === 'descend' ? -1 : 1;
  return [...kvs].sort((a, b) => sign * compare(a, b));
}

const comparators: Record<SortTarget, (a: KeyValue, b: KeyValue) => number> = {
  key: (a, b) => compareBytes(a.key, b.key),
  version: (a, b) => a.version - b.version,
  create: (a, b) => a.createRevision - b.createRevision,
  mod: (a, b) => a.modRevision - b.modRevision,
  value: (a, b) => compareBytes(a.value, b.value),
};
