// Just enough protobuf wire-format reading to check etcd responses without decoding every key and
// value: a 500-key page is walked field by field and only the numbers and the last key are kept.
// Field numbers are etcd's (api/etcdserverpb/rpc.proto, api/mvccpb/kv.proto).

function varint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift; // numbers here stay far below 2^53
    if (b < 0x80) return [value, pos];
    shift += 7;
  }
}

/** Calls visit(field, wireType, value, start, end) for each top-level field of `buf`. */
function fields(buf, visit) {
  let pos = 0;
  while (pos < buf.length) {
    let tag;
    [tag, pos] = varint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      let v;
      [v, pos] = varint(buf, pos);
      visit(field, wire, v, pos, pos);
    } else if (wire === 2) {
      let length;
      [length, pos] = varint(buf, pos);
      visit(field, wire, 0, pos, pos + length);
      pos += length;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** ResponseHeader.revision (field 3) of the message's header (field 1). */
function headerRevision(buf, start, end) {
  let revision = 0;
  fields(buf.subarray(start, end), (f, w, v) => {
    if (f === 3 && w === 0) revision = v;
  });
  return revision;
}

/** KeyValue fields we care about. */
export function scanKeyValue(buf) {
  const kv = { key: undefined, modRevision: 0, valueBytes: 0 };
  fields(buf, (f, w, v, s, e) => {
    if (f === 1) kv.key = buf.subarray(s, e);
    else if (f === 3) kv.modRevision = v;
    else if (f === 5) kv.valueBytes = e - s;
  });
  return kv;
}

/** RangeResponse: header revision, number of kvs, the last kv (scanned), more, count. */
export function scanRange(buf) {
  const out = { revision: 0, kvCount: 0, last: undefined, more: false, count: 0 };
  let lastStart = -1;
  let lastEnd = -1;
  fields(buf, (f, w, v, s, e) => {
    if (f === 1) out.revision = headerRevision(buf, s, e);
    else if (f === 2) {
      out.kvCount++;
      [lastStart, lastEnd] = [s, e];
    } else if (f === 3) out.more = v !== 0;
    else if (f === 4) out.count = v;
  });
  if (lastStart >= 0) out.last = scanKeyValue(buf.subarray(lastStart, lastEnd));
  return out;
}

/** PutResponse / DeleteRangeResponse / TxnResponse header revision. */
export function scanHeaderRevision(buf) {
  let revision = 0;
  fields(buf, (f, w, v, s, e) => {
    if (f === 1) revision = headerRevision(buf, s, e);
  });
  return revision;
}

/** WatchResponse: watch id, created/canceled flags, number of events, header revision. */
export function scanWatch(buf) {
  const out = { watchId: 0, created: false, canceled: false, events: 0, revision: 0, cancelReason: '' };
  fields(buf, (f, w, v, s, e) => {
    if (f === 1) out.revision = headerRevision(buf, s, e);
    else if (f === 2) out.watchId = v;
    else if (f === 3) out.created = v !== 0;
    else if (f === 4) out.canceled = v !== 0;
    else if (f === 6) out.cancelReason = buf.subarray(s, e).toString();
    else if (f === 11) out.events++;
  });
  return out;
}
