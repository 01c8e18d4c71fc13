// The workloads of `npm run bench`. Each has prepare(ctx) (connections, preloaded keys; untimed),
// measure(ctx, state, { ops, deadlineMs }) → { latenciesMs, extra } (timed by the caller), and
// cleanup(state, force). Every workload uses its own key prefix, so one server can run them all in turn.
// Keys are 64 bytes and values 256 bytes (requests.mjs). An "op" is one request, except:
// watch (one put and its event), watch-fanout (one put and all its events), k8s-list (one whole
// paginated list).
import { performance } from 'node:perf_hooks';
import { GrpcH2 } from './grpc-h2.mjs';
import { H2Client } from './h2-client.mjs';
import { scanHeaderRevision, scanRange, scanWatch } from './pb-scan.mjs';
import { PATH, casBody, casResult, getBody, key, multiPutBody, prefixRange, putBody, rangeBody, watchCreateBody } from './requests.mjs';

const PAR_CLIENTS = 16;
const KEYS_PER_WORKLOAD = 1000;
const LIST_KEYS = 10_000;
const LIST_PAGE = 500;
const SCAN_KEYS = 1000;
const SCAN_LIMIT = 100;
const FANOUT_WATCHERS = 1000;
const FANOUT_CONNECTIONS = 16;
const CAS_KEYS = 16;
const PRELOAD_TXN_PUTS = 100;

/** The client every workload uses: 'h2' (H2Client, raw HTTP/2 frames; the default) or 'node-http2' (GrpcH2). */
let clientKind = 'h2';
export const CLIENT_KINDS = ['h2', 'node-http2'];

export function useClient(kind) {
  if (!CLIENT_KINDS.includes(kind)) throw new Error(`unknown client ${kind}; known: ${CLIENT_KINDS.join(', ')}`);
  clientKind = kind;
}

export function connect(endpoint) {
  return clientKind === 'h2' ? H2Client.connect(endpoint) : GrpcH2.connect(endpoint);
}

async function connectAll(endpoint, n) {
  return Promise.all(Array.from({ length: n }, () => connect(endpoint)));
}

/** Graceful close; `force` (after a timeout) destroys the connections, failing calls in flight. */
async function closeAll(conns, force = false) {
  if (force) conns.forEach((c) => c.destroy());
  else await Promise.all(conns.map((c) => c.close()));
}

/** Puts key(prefix, 0..n-1) in txns of 100 puts over 4 connections. */
async function preload(endpoint, prefix, n) {
  const conns = await connectAll(endpoint, 4);
  let next = 0;
  await Promise.all(
    conns.map(async (conn) => {
      while (next < n) {
        const first = next;
        next = Math.min(n, next + PRELOAD_TXN_PUTS);
        const keys = [];
        for (let i = first; i < next; i++) keys.push(key(prefix, i));
        await conn.unary(PATH.txn, multiPutBody(keys));
      }
    }),
  );
  await closeAll(conns);
}

/**
 * `clients` closed loops sharing one op counter: each takes the next op index, runs op(client, i),
 * records its latency (until op's returned timestamp, if any); stops at `ops` ops or at the deadline.
 */
async function closedLoop(clients, { ops, deadlineMs }, op) {
  const latenciesMs = [];
  let next = 0;
  let failed = false; // the first failure stops every client
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (!failed && next < ops && performance.now() < deadlineMs) {
        const i = next++;
        const t0 = performance.now();
        try {
          const doneMs = await op(c, i); // an op may report when it really finished (a watch event)
          latenciesMs.push((doneMs ?? performance.now()) - t0);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    }),
  );
  return { latenciesMs };
}

function expect(condition, what) {
  if (!condition) throw new Error(`unexpected response: ${what}`);
}

function putWorkload(name, clients, description) {
  return {
    name,
    clients,
    description,
    async prepare({ endpoint }) {
      const bodies = Array.from({ length: KEYS_PER_WORKLOAD }, (_, i) => putBody(key(name, i)));
      return { conns: await connectAll(endpoint, clients), bodies };
    },
    measure(_ctx, { conns, bodies }, limits) {
      return closedLoop(clients, limits, async (c, i) => {
        await conns[c].unary(PATH.put, bodies[i % bodies.length]);
      });
    },
    cleanup: ({ conns }, force) => closeAll(conns, force),
  };
}

function getWorkload(name, clients, description) {
  return {
    name,
    clients,
    description,
    async prepare({ endpoint }) {
      await preload(endpoint, name, KEYS_PER_WORKLOAD);
      const bodies = Array.from({ length: KEYS_PER_WORKLOAD }, (_, i) => getBody(key(name, i)));
      return { conns: await connectAll(endpoint, clients), bodies };
    },
    measure(_ctx, { conns, bodies }, limits) {
      return closedLoop(clients, limits, async (c, i) => {
        const r = scanRange(await conns[c].unary(PATH.range, bodies[i % bodies.length]));
        expect(r.kvCount === 1 && r.last.valueBytes === 256, 'a get returns one 256-byte value');
      });
    },
    cleanup: ({ conns }, force) => closeAll(conns, force),
  };
}

const mixed = {
  name: 'mixed',
  clients: PAR_CLIENTS,
  description: '16 clients, each op a get or a put (alternating: 50/50) over 1,000 keys',
  async prepare({ endpoint }) {
    await preload(endpoint, 'mixed', KEYS_PER_WORKLOAD);
    const gets = Array.from({ length: KEYS_PER_WORKLOAD }, (_, i) => getBody(key('mixed', i)));
    const puts = Array.from({ length: KEYS_PER_WORKLOAD }, (_, i) => putBody(key('mixed', i)));
    return { conns: await connectAll(endpoint, PAR_CLIENTS), gets, puts };
  },
  measure(_ctx, { conns, gets, puts }, limits) {
    return closedLoop(PAR_CLIENTS, limits, async (c, i) => {
      const k = (i >> 1) % KEYS_PER_WORKLOAD;
      if (i % 2 === 0) expect(scanRange(await conns[c].unary(PATH.range, gets[k])).kvCount === 1, 'a get returns one key');
      else await conns[c].unary(PATH.put, puts[k]);
    });
  },
  cleanup: ({ conns }, force) => closeAll(conns, force),
};

const txnCas = {
  name: 'txn-cas',
  clients: PAR_CLIENTS,
  description: '16 clients: txn(if mod_revision(k) == known then put(k) else get(k)) on 16 shared keys, k picked at random',
  async prepare({ endpoint }) {
    await preload(endpoint, 'cas', CAS_KEYS);
    const keys = Array.from({ length: CAS_KEYS }, (_, i) => key('cas', i));
    return { conns: await connectAll(endpoint, PAR_CLIENTS), keys, known: new Array(CAS_KEYS).fill(0) };
  },
  async measure(_ctx, { conns, keys, known }, limits) {
    let seed = 12345;
    let conflicts = 0;
    const result = await closedLoop(PAR_CLIENTS, limits, async (c) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const k = (seed >>> 8) % CAS_KEYS;
      const r = casResult(await conns[c].unary(PATH.txn, casBody(keys[k], known[k])));
      if (!r.succeeded) conflicts++;
      expect(r.modRevision > 0, 'a CAS txn reports the key\'s revision');
      if (r.modRevision > known[k]) known[k] = r.modRevision;
    });
    return { ...result, extra: { conflicts } };
  },
  cleanup: ({ conns }, force) => closeAll(conns, force),
};

const rangeScan = {
  name: 'range-scan',
  clients: 1,
  description: '1 client: range over a prefix of 1,000 keys with limit 100 (100 keys and values per response)',
  async prepare({ endpoint }) {
    await preload(endpoint, 'scan', SCAN_KEYS);
    const { start, end } = prefixRange('scan');
    return { conns: await connectAll(endpoint, 1), body: rangeBody({ key: start, rangeEnd: end, limit: SCAN_LIMIT }) };
  },
  measure(_ctx, { conns, body }, limits) {
    return closedLoop(1, limits, async () => {
      const r = scanRange(await conns[0].unary(PATH.range, body));
      expect(r.kvCount === SCAN_LIMIT && r.more, 'a limited scan returns 100 keys and more=true');
    });
  },
  cleanup: ({ conns }, force) => closeAll(conns, force),
};

function afterKey(k) {
  const out = new Uint8Array(k.length + 1);
  out.set(k);
  return out;
}

const k8sList = {
  name: 'k8s-list',
  clients: 1,
  description: '1 client: list 10,000 keys in pages of 500, pages 2.. pinned to page 1\'s revision (as the Kubernetes API server); op = whole list',
  async prepare({ endpoint }) {
    await preload(endpoint, 'list', LIST_KEYS);
    const { start, end } = prefixRange('list');
    return { conns: await connectAll(endpoint, 1), start, end, first: rangeBody({ key: start, rangeEnd: end, limit: LIST_PAGE }) };
  },
  async measure(_ctx, { conns, end, first }, limits) {
    let pages = 0;
    const result = await closedLoop(1, limits, async () => {
      let r = scanRange(await conns[0].unary(PATH.range, first));
      const revision = r.revision;
      let total = r.kvCount;
      pages++;
      while (r.more) {
        r = scanRange(await conns[0].unary(PATH.range, rangeBody({ key: afterKey(r.last.key), rangeEnd: end, limit: LIST_PAGE, revision })));
        total += r.kvCount;
        pages++;
      }
      expect(total === LIST_KEYS, `a list returns all ${LIST_KEYS} keys (got ${total})`);
    });
    return { ...result, extra: { pages } };
  },
  cleanup: ({ conns }, force) => closeAll(conns, force),
};

/**
 * Opens `watchers` watches on prefix `name` spread over `connections` connections (one Watch
 * stream each); onEvents(n) is called with the number of events in each response.
 */
async function openWatchers(endpoint, name, watchers, connections, onEvents) {
  const conns = await connectAll(endpoint, connections);
  const { start, end } = prefixRange(name);
  const create = watchCreateBody({ key: start, rangeEnd: end });
  let created = 0;
  let allCreated;
  const ready = new Promise((resolve, reject) => (allCreated = { resolve, reject }));
  const streams = conns.map((conn, s) => {
    const stream = conn.bidi(
      PATH.watch,
      (bytes) => {
        const m = scanWatch(bytes);
        if (m.canceled) allCreated.reject(new Error(`watch canceled: ${m.cancelReason}`));
        if (m.created && ++created === watchers) allCreated.resolve();
        if (m.events > 0) onEvents(m.events);
      },
      (error) => {
        if (error) allCreated.reject(error);
      },
    );
    for (let w = s; w < watchers; w += connections) stream.send(create);
    return stream;
  });
  try {
    await ready;
  } catch (error) {
    await closeAll(conns, true);
    throw error;
  }
  return { conns, streams };
}

function watchWorkload(name, watchers, connections, description) {
  return {
    name,
    clients: 1,
    description,
    async prepare({ endpoint }) {
      const state = { delivered: 0, target: 0, wake: undefined };
      const watch = await openWatchers(endpoint, name, watchers, connections, (n) => {
        state.delivered += n;
        if (state.wake !== undefined && state.delivered >= state.target) {
          const wake = state.wake;
          state.wake = undefined;
          wake(performance.now());
        }
      });
      const [writer] = await connectAll(endpoint, 1);
      const bodies = Array.from({ length: KEYS_PER_WORKLOAD }, (_, i) => putBody(key(name, i)));
      return { state, watch, writer, bodies };
    },
    async measure(_ctx, { state, writer, bodies }, limits) {
      let lastRevision = 0;
      const result = await closedLoop(1, limits, async (_c, i) => {
        state.target = state.delivered + watchers;
        const delivered = new Promise((resolve) => (state.wake = resolve));
        lastRevision = scanHeaderRevision(await writer.unary(PATH.put, bodies[i % bodies.length]));
        return delivered; // the time the last event arrived
      });
      return { ...result, extra: { watchers, eventsDelivered: result.latenciesMs.length * watchers, lastRevision } };
    },
    async cleanup({ watch, writer }, force) {
      for (const s of watch.streams) s.cancel();
      await closeAll([...watch.conns, writer], force);
    },
  };
}

export const WORKLOADS = [
  putWorkload('seq-put', 1, '1 client: put, wait, put (1,000 distinct keys, overwritten in turn)'),
  putWorkload('par-put', PAR_CLIENTS, '16 clients, one connection each: puts over 1,000 keys'),
  getWorkload('seq-get', 1, '1 client: linearizable get of one key (1,000 keys preloaded)'),
  getWorkload('par-get', PAR_CLIENTS, '16 clients, one connection each: linearizable gets'),
  mixed,
  watchWorkload('watch', 1, 1, '1 watcher on a prefix, 1 writer: time from sending a put to receiving its event'),
  txnCas,
  rangeScan,
  k8sList,
  watchWorkload('watch-fanout', FANOUT_WATCHERS, FANOUT_CONNECTIONS, '1,000 watchers on one prefix (16 connections, one Watch stream each): time from sending a put to all 1,000 events received'),
];

/** Calibration: unary calls against the echo server (an empty handler) with 1 and with 16 clients. */
export function echoWorkload(name, clients) {
  return {
    name,
    clients,
    description: `${clients} client(s): unary call to T4's gRPC server with an empty handler (answers at once with an empty message)`,
    async prepare({ endpoint }) {
      return { conns: await connectAll(endpoint, clients), body: getBody(key('echo', 0)) };
    },
    measure(_ctx, { conns, body }, limits) {
      return closedLoop(clients, limits, async (c) => {
        await conns[c].unary(PATH.range, body);
      });
    },
    cleanup: ({ conns }, force) => closeAll(conns, force),
  };
}
