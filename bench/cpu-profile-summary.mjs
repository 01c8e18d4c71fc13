#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, and the
// share of idle/GC/program samples. Used with T4_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"
// (bench/lib/servers.mjs) to see where t4 spends a workload. See docs/performance.md.
//
//   node bench/cpu-profile-summary.mjs FILE.cpuprofile [--top 40] [--by-file]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' }, 'by-file': { type: 'boolean', default: false } } });
if (positionals.length !== 1) {
  console.error('usage: node bench/cpu-profile-summary.mjs FILE.cpuprofile [--top N] [--by-file]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const counts = new Map();
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
const total = profile.samples.length;
const self = new Map();
for (const [id, n] of counts) {
  const node = byId.get(id);
  const f = node.callFrame;
  const file = f.url.replace(/^.*\/(node_modules\/|dist\/|node:)/, '$1');
  const name = values['by-file'] ? file || f.functionName : `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
  self.set(name, (self.get(name) ?? 0) + n);
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
console.log(`${total} samples`);
for (const [name, n] of rows) console.log(`${((100 * n) / total).toFixed(1).padStart(5)}%  ${name}`);
