// Summaries, the printed table, and the SVG chart of T4/etcd ratios.

export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** One workload on one server: throughput, latency percentiles, where the CPU went. */
export function summarize({ latenciesMs, wallMs, clientCpuMs, serverCpuMs, extra }) {
  const sorted = Float64Array.from(latenciesMs).sort();
  const ops = sorted.length;
  return {
    ops,
    wallMs: round(wallMs, 1),
    opsPerS: round((ops * 1000) / wallMs, 1),
    p50Ms: round(percentile(sorted, 0.5), 3),
    p99Ms: round(percentile(sorted, 0.99), 3),
    p999Ms: round(percentile(sorted, 0.999), 3),
    maxMs: round(sorted[ops - 1], 3),
    /** Client CPU (user + system) as a share of one core over the measured wall time. */
    clientCpuShare: round(clientCpuMs / wallMs, 3),
    clientCpuUsPerOp: round((clientCpuMs * 1000) / ops, 1),
    serverCpuShare: Number.isNaN(serverCpuMs) ? null : round(serverCpuMs / wallMs, 3),
    ...(extra ? { extra } : {}),
  };
}

function round(x, digits) {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const fmt = (x) => (x === null || x === undefined ? '-' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pct = (x) => (x === null || x === undefined ? '-' : `${Math.round(x * 100)}%`);
/** Client CPU at or above this share of one core: the client, not the server, likely set the pace. */
export const CLIENT_BOUND_SHARE = 0.8;
const clientPct = (x) => `${pct(x)}${x >= CLIENT_BOUND_SHARE ? ' (client-bound)' : ''}`;
const ratio = (a, b) => (a && b ? a / b : null);
const fmtRatio = (r) => (r === null ? '-' : `${r.toFixed(2)}x`);
const lat = (s) => `${fmt(s.p50Ms)} / ${fmt(s.p99Ms)} / ${fmt(s.p999Ms)}`;

/** Markdown table: one row per workload, T4 and etcd side by side, then the ratios. */
export function comparisonTable(rows, t4Name) {
  const out = [
    `| workload | clients | ${t4Name} ops/s | ${t4Name} p50 / p99 / p999 ms | etcd ops/s | etcd p50 / p99 / p999 ms | ops/s ${t4Name}/etcd | p99 ${t4Name}/etcd | client CPU (${t4Name} run / etcd run) | server CPU (${t4Name} / etcd) |`,
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { workload, clients, t4, etcd } of rows) {
    if (t4?.error || etcd?.error) {
      out.push(`| ${workload} | ${clients} | ${t4?.error ? `error: ${t4.error}` : fmt(t4?.opsPerS)} | | ${etcd?.error ? `error: ${etcd.error}` : fmt(etcd?.opsPerS)} | | | | | |`);
      continue;
    }
    out.push(
      `| ${workload} | ${clients} | ${fmt(t4.opsPerS)} | ${lat(t4)} | ${fmt(etcd.opsPerS)} | ${lat(etcd)} | ${fmtRatio(ratio(t4.opsPerS, etcd.opsPerS))} | ${fmtRatio(ratio(t4.p99Ms, etcd.p99Ms))} | ${clientPct(t4.clientCpuShare)} / ${clientPct(etcd.clientCpuShare)} | ${pct(t4.serverCpuShare)} / ${pct(etcd.serverCpuShare)} |`,
    );
  }
  return out.join('\n');
}

export function calibrationTable(rows) {
  const out = ['| calibration | clients | ops/s | p50 / p99 / p999 ms | client CPU | client CPU per call | client ceiling (1 core) | server CPU |', '|---|---|---|---|---|---|---|---|'];
  for (const { name, clients, s } of rows) {
    if (s.error) {
      out.push(`| ${name} | ${clients} | error: ${s.error} | | | | | |`);
      continue;
    }
    const ceiling = s.clientCpuUsPerOp ? Math.round(1e6 / s.clientCpuUsPerOp) : null;
    out.push(`| ${name} | ${clients} | ${fmt(s.opsPerS)} | ${lat(s)} | ${clientPct(s.clientCpuShare)} | ${fmt(s.clientCpuUsPerOp)} µs | ${fmt(ceiling)} calls/s | ${pct(s.serverCpuShare)} |`);
  }
  return out.join('\n');
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Horizontal bars of ops/s T4/etcd per workload on a log2 axis from 1/16 to 16, centred on 1
 * (bars to the right: T4 faster).
 */
export function ratioSvg(rows, { title, t4Name }) {
  const left = 130;
  const width = 560;
  const rowH = 26;
  const top = 50;
  const span = 4; // log2 range each side
  const height = top + rows.length * rowH + 50;
  const x = (r) => left + width / 2 + (Math.max(-span, Math.min(span, Math.log2(r))) / span) * (width / 2);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 90}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">ops/s ${esc(t4Name)} / etcd, log scale; right of 1x: ${esc(t4Name)} faster</text>`,
  ];
  for (let e = -span; e <= span; e++) {
    const gx = x(2 ** e);
    parts.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + rows.length * rowH}" stroke="${e === 0 ? '#000' : '#ddd'}"/>`);
    parts.push(`<text x="${gx}" y="${top + rows.length * rowH + 16}" text-anchor="middle" fill="#555">${e < 0 ? `1/${2 ** -e}` : 2 ** e}x</text>`);
  }
  rows.forEach(({ workload, t4, etcd }, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end">${esc(workload)}</text>`);
    const r = !t4?.error && !etcd?.error ? ratio(t4?.opsPerS, etcd?.opsPerS) : null;
    if (r === null) {
      parts.push(`<text x="${x(1) + 6}" y="${y + 17}" fill="#a00">no result</text>`);
      return;
    }
    const [x0, x1] = [x(1), x(r)];
    parts.push(`<rect x="${Math.min(x0, x1)}" y="${y + 4}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${rowH - 8}" fill="${r >= 1 ? '#3a7' : '#d64'}"/>`);
    parts.push(`<text x="${r >= 1 ? x1 + 4 : x1 - 4}" y="${y + 17}" text-anchor="${r >= 1 ? 'start' : 'end'}">${r.toFixed(2)}x</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * The issue's targets, each with what this run measured and whether it was met:
 *  - every workload at least 1.0x etcd's ops/s, in every scenario;
 *  - seq-put p50 no more than the same client's round trip to an empty handler (echo-seq p50)
 *    plus the disk's fdatasync p50 (the syscall alone) plus 100 µs;
 *  - par-put at least 5x seq-put (T4, scenario single);
 *  - single-s3 (T4 on MinIO) at least 0.8x single (T4 on local disk), workload by workload.
 */
export function targetChecks(result) {
  const checks = [];
  const runs = Object.fromEntries(result.scenarios.map((r) => [r.scenario, r]));
  const t4Of = (run, name) => {
    const row = run?.workloads.find((w) => w.workload === name)?.t4;
    return row && !row.error ? row : undefined;
  };
  for (const run of result.scenarios) {
    for (const row of run.workloads) {
      const r = !row.t4?.error && !row.etcd?.error ? ratio(row.t4?.opsPerS, row.etcd?.opsPerS) : null;
      checks.push({ target: `${run.scenario}: ${row.workload} ops/s >= 1.0x etcd`, measured: r === null ? 'no result' : fmtRatio(r), met: r !== null && r >= 1 });
    }
  }
  const seqPut = t4Of(runs.single, 'seq-put');
  const echo = result.calibration.find((c) => c.name === 'echo-seq')?.s;
  const fsync = result.fdatasync?.syscall.p50Ms;
  if (seqPut && echo && !echo.error && fsync !== undefined) {
    const bound = echo.p50Ms + fsync + 0.1;
    checks.push({
      target: 'single: seq-put p50 <= empty-handler round trip p50 + fdatasync p50 + 0.1 ms',
      measured: `${seqPut.p50Ms} ms; bound ${echo.p50Ms} + ${fsync} + 0.1 = ${bound.toFixed(3)} ms`,
      met: seqPut.p50Ms <= bound,
    });
  }
  const parPut = t4Of(runs.single, 'par-put');
  if (parPut && seqPut) {
    const r = parPut.opsPerS / seqPut.opsPerS;
    checks.push({ target: 'single: par-put ops/s >= 5x seq-put', measured: `${fmtRatio(r)} (${fmt(parPut.opsPerS)} / ${fmt(seqPut.opsPerS)})`, met: r >= 5 });
  }
  if (runs.single && runs['single-s3']) {
    for (const row of runs['single-s3'].workloads) {
      const local = t4Of(runs.single, row.workload);
      const remote = row.t4 && !row.t4.error ? row.t4 : undefined;
      const r = local && remote ? remote.opsPerS / local.opsPerS : null;
      checks.push({ target: `single-s3: ${row.workload} ops/s >= 0.8x single`, measured: r === null ? 'no result' : fmtRatio(r), met: r !== null && r >= 0.8 });
    }
  }
  return checks;
}

export function targetsTable(checks) {
  const met = checks.filter((c) => c.met).length;
  const out = ['| target | measured | met |', '|---|---|---|'];
  for (const c of checks) out.push(`| ${c.target} | ${c.measured} | ${c.met ? 'yes' : '**no**'} |`);
  out.push('', `${met} of ${checks.length} targets met.`);
  return out.join('\n');
}
