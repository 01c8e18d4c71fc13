// Tables and the SVG plot of `npm run bench:scale` (bench/scale.mjs).

const MiB = 2 ** 20;
const fmt = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a, b) => (a && b ? a / b : null);
const fmtRatio = (r) => (r === null ? '-' : `${r.toFixed(2)}x`);
const mib = (kib) => (kib === null || kib === undefined ? null : kib / 1024);
const pct = (x) => (x === null || x === undefined ? '-' : `${Math.round(x * 100)}%`);
const secs = (ms) => (ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);

/** Memory and disk after each load stage (and at start, and after the restart). */
export function memoryTable(stages) {
  const out = [
    '| stage | keys | t4 RSS MiB | etcd RSS MiB | RSS t4/etcd | t4 / etcd anon RSS MiB | t4 peak RSS MiB | etcd peak RSS MiB | t4 data dir MiB | etcd data dir MiB | data dir t4/etcd | t4 / etcd db file MiB | t4 load keys/s | etcd load keys/s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { stage, keys, t4, etcd } of stages) {
    const t4Disk = t4?.disk ? t4.disk.allocatedBytes / MiB : null;
    const etcdDisk = etcd?.disk ? etcd.disk.allocatedBytes / MiB : null;
    const dbFile = (s) => (s?.disk?.dbFileBytes === null || s?.disk?.dbFileBytes === undefined ? null : s.disk.dbFileBytes / MiB);
    out.push(
      `| ${stage} | ${keys.toLocaleString('en-US')} | ${fmt(mib(t4?.rssKiB))} | ${fmt(mib(etcd?.rssKiB))} | ${fmtRatio(ratio(t4?.rssKiB, etcd?.rssKiB))} | ${fmt(mib(t4?.rssAnonKiB))} / ${fmt(mib(etcd?.rssAnonKiB))} | ${fmt(mib(t4?.hwmKiB))} | ${fmt(mib(etcd?.hwmKiB))} | ${fmt(t4Disk)} | ${fmt(etcdDisk)} | ${fmtRatio(ratio(t4Disk, etcdDisk))} | ${fmt(dbFile(t4))} / ${fmt(dbFile(etcd))} | ${fmt(t4?.load?.keysPerS)} | ${fmt(etcd?.load?.keysPerS)} |`,
    );
  }
  return out.join('\n');
}

/** Start-up (spawn to first answered Range on a loaded key) after SIGTERM, on the same data dir. */
export function startupTable(startup) {
  const out = ['| start-up | keys | t4 | etcd | t4/etcd |', '|---|---|---|---|---|'];
  for (const row of startup) {
    const { what, keys, t4, etcd } = row;
    out.push(`| ${what} | ${keys.toLocaleString('en-US')} | ${secs(t4?.startupMs)} | ${secs(etcd?.startupMs)} | ${fmtRatio(ratio(t4?.startupMs, etcd?.startupMs))} |`);
    if (t4?.stopMs !== undefined || etcd?.stopMs !== undefined) {
      out.push(`| ${what}: preceding stop (SIGTERM to exit) | | ${secs(t4?.stopMs)} | ${secs(etcd?.stopMs)} | ${fmtRatio(ratio(t4?.stopMs, etcd?.stopMs))} |`);
    }
  }
  return out.join('\n');
}

/** One row per op and client count: ops/s both servers, the ratio, latencies, CPU. */
export function throughputTable(points) {
  const out = [
    '| op | clients | t4 ops/s | etcd ops/s | ops/s t4/etcd | t4 p50 / p99 ms | etcd p50 / p99 ms | client CPU (t4 run / etcd run) | server CPU (t4 / etcd) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { op, clients, t4, etcd } of points) {
    const cell = (s) => (s?.error ? `error: ${s.error}` : fmt(s?.opsPerS));
    const lat = (s) => (s && !s.error ? `${fmt(s.p50Ms)} / ${fmt(s.p99Ms)}` : '-');
    const ok = t4 && etcd && !t4.error && !etcd.error;
    out.push(
      `| ${op} | ${clients} | ${cell(t4)} | ${cell(etcd)} | ${ok ? fmtRatio(ratio(t4.opsPerS, etcd.opsPerS)) : '-'} | ${lat(t4)} | ${lat(etcd)} | ${pct(t4?.clientCpuShare)} / ${pct(etcd?.clientCpuShare)} | ${pct(t4?.serverCpuShare)} / ${pct(etcd?.serverCpuShare)} |`,
    );
  }
  return out.join('\n');
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A "nice" upper bound for an axis (a round multiple of a power of ten), at least `max`. */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/**
 * ops/s against clients (log2 x axis), one line per server and op: T4 blue, etcd orange; put
 * solid, get dashed. `notes` are lines of text printed under the plot.
 */
export function throughputSvg(points, { title, notes = [] }) {
  const left = 80;
  const top = 60;
  const w = 560;
  const h = 320;
  const clientsList = [...new Set(points.map((p) => p.clients))].sort((a, b) => a - b);
  const lo = Math.log2(clientsList[0] ?? 1);
  const hi = Math.max(lo + 1, Math.log2(clientsList[clientsList.length - 1] ?? 2));
  const x = (c) => left + ((Math.log2(c) - lo) / (hi - lo)) * w;
  const series = [];
  for (const server of ['t4', 'etcd']) {
    for (const op of ['put', 'get']) {
      const pts = points.filter((p) => p.op === op && p[server] && !p[server].error && p[server].opsPerS !== null).map((p) => [p.clients, p[server].opsPerS]);
      if (pts.length > 0) series.push({ server, op, pts });
    }
  }
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.pts.map(([, v]) => v))));
  const y = (v) => top + h - (v / yMax) * h;
  const color = { t4: '#1f6fd1', etcd: '#e07b18' };
  const height = top + h + 60 + notes.length * 16 + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.max(left + w + 170, 20 + title.length * 8.6)}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">ops/s by number of clients (one HTTP/2 connection each, one call in flight each); log2 x axis</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    parts.push(`<line x1="${left}" y1="${y(v)}" x2="${left + w}" y2="${y(v)}" stroke="${i === 0 ? '#000' : '#ddd'}"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${Math.round(v).toLocaleString('en-US')}</text>`);
  }
  for (const c of clientsList) {
    parts.push(`<line x1="${x(c)}" y1="${top}" x2="${x(c)}" y2="${top + h}" stroke="#eee"/>`);
    parts.push(`<text x="${x(c)}" y="${top + h + 16}" text-anchor="middle" fill="#555">${c}</text>`);
  }
  parts.push(`<text x="${left + w / 2}" y="${top + h + 34}" text-anchor="middle">clients</text>`);
  parts.push(`<text x="16" y="${top + h / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + h / 2})">ops/s</text>`);
  series.forEach(({ server, op, pts }, i) => {
    const dash = op === 'get' ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<polyline fill="none" stroke="${color[server]}" stroke-width="2"${dash} points="${pts.map(([c, v]) => `${x(c).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`);
    for (const [c, v] of pts) parts.push(`<circle cx="${x(c).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${color[server]}"/>`);
    const ly = top + 10 + i * 20;
    parts.push(`<line x1="${left + w + 15}" y1="${ly}" x2="${left + w + 45}" y2="${ly}" stroke="${color[server]}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${left + w + 52}" y="${ly + 4}">${esc(`${server} ${op}`)}</text>`);
  });
  notes.forEach((n, i) => parts.push(`<text x="10" y="${top + h + 58 + i * 16}" fill="#333">${esc(n)}</text>`));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** One-line summaries of memory, disk and start-up for the SVG. */
export function svgNotes(result) {
  const notes = [];
  for (const s of result.stages.filter((st) => st.stage.startsWith('loaded'))) {
    notes.push(
      `${s.keys.toLocaleString('en-US')} keys: RSS t4 ${fmt(mib(s.t4?.rssKiB))} MiB, etcd ${fmt(mib(s.etcd?.rssKiB))} MiB; disk t4 ${fmt(s.t4?.disk ? s.t4.disk.allocatedBytes / MiB : null)} MiB, etcd ${fmt(s.etcd?.disk ? s.etcd.disk.allocatedBytes / MiB : null)} MiB`,
    );
  }
  for (const r of result.startup.filter((st) => st.what.startsWith('restart'))) {
    notes.push(`start-up with ${r.keys.toLocaleString('en-US')} keys (spawn to first Range): t4 ${secs(r.t4?.startupMs)}, etcd ${secs(r.etcd?.startupMs)}`);
  }
  return notes;
}
