#!/usr/bin/env node
// Runs the compiled test files with node's test runner: unit (and contract) files in parallel,
// integration files one at a time (2 cores; each starts real processes). Prints one closing line
// "tests: N passed, N failed, N skipped" and exits non-zero on any failure.
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdirSync, statSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Test certificates (test/support/certs.ts) are generated once per run, in this directory.
if (process.env.T4_TEST_CERTS_DIR === undefined) {
  const certsDir = mkdtempSync(join(tmpdir(), 't4-test-certs-'));
  process.env.T4_TEST_CERTS_DIR = certsDir;
  process.on('exit', () => rmSync(certsDir, { recursive: true, force: true }));
}

const args = process.argv.slice(2);
const only = args.find((a) => a === '--unit' || a === '--integration');
const filter = args.filter((a) => !a.startsWith('--'));

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const matches = (f) => filter.length === 0 || filter.some((s) => f.includes(s));
const groups = [];
if (only !== '--integration') {
  groups.push({ name: 'unit', files: [...findTests('dist/test/unit'), ...findTests('dist/test/contract')].filter(matches), concurrency: 2 });
}
if (only !== '--unit') {
  groups.push({ name: 'integration', files: findTests('dist/test/integration').filter(matches), concurrency: 1 });
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const group of groups) {
  if (group.files.length === 0) continue;
  process.stdout.write(`\n== ${group.name}: ${group.files.length} files ==\n`);
  const stream = run({ files: group.files, concurrency: group.concurrency, timeout: 15 * 60_000 });
  stream.on('test:pass', (data) => {
    if (data.details?.type === 'suite' && !data.skip) return;
    if (data.skip || data.todo) skipped += 1;
    else passed += 1;
  });
  stream.on('test:fail', (data) => {
    if (data.details?.type === 'suite' && data.details?.error?.failureType === 'subtestsFailed') return;
    failed += 1;
  });
  await new Promise((resolve, reject) => {
    stream.compose(spec).on('end', resolve).on('error', reject).pipe(process.stdout, { end: false });
  });
}
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
