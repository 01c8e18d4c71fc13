#!/usr/bin/env node
// Write throughput with 1 and with 16 concurrent writers against a fresh `t4 run` (and against a
// fresh etcd when one is installed), to show group commit at work: many writers share each
// fdatasync. Usage: npm run build && node bench/group-commit.mjs [seconds per run, default 5]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdGrpcClient } from '../dist/test/support/etcd-grpc-client.js';

const seconds = Number(process.argv[2] ?? 5);
const value = new Uint8Array(256).fill(120);

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startT4() {
  const dir = mkdtempSync(join(tmpdir(), 't4-bench-'));
  const child = spawn(process.execPath, ['dist/src/app/cli/main.js', 'run', '--data-dir', dir, '--listen', '127.0.0.1:0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const ready = buf.split('\n').find((line) => line.includes('"msg":"serving etcd v3 gRPC"'));
      if (ready !== undefined) resolve(JSON.parse(ready).address);
    });
    child.on('exit', (code) => reject(new Error(`t4 exited ${code}`)));
  });
  return { endpoint, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } };
}

async function startEtcd() {
  if (spawnSync('which', ['etcd']).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'etcd-bench-'));
  const [c, p] = [await freePort(), await freePort()];
  const child = spawn('etcd', ['--data-dir', dir, '--listen-client-urls', `http://127.0.0.1:${c}`, '--advertise-client-urls', `http://127.0.0.1:${c}`,
    '--listen-peer-urls', `http://127.0.0.1:${p}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${p}`, '--initial-cluster', `default=http://127.0.0.1:${p}`, '--log-level', 'error'], { stdio: 'ignore' });
  const endpoint = `127.0.0.1:${c}`;
  const probe = new EtcdGrpcClient(endpoint, { deadlineMs: 1000 });
  for (let i = 0; i < 100; i++) {
    try { await probe.status(); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  probe.close();
  return { endpoint, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } };
}

async function run(endpoint, writers) {
  const clients = Array.from({ length: writers }, () => new EtcdGrpcClient(endpoint));
  let ops = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(clients.map(async (c, w) => {
    let i = 0;
    while (Date.now() < deadline) {
      await c.put({ key: new TextEncoder().encode(`bench/${w}/${(i++ % 1000).toString().padStart(50, '0')}`), value });
      ops++;
    }
  }));
  clients.forEach((c) => c.close());
  return ops / seconds;
}

const results = {};
for (const [name, start] of [['t4', startT4], ['etcd', startEtcd]]) {
  const server = await start();
  if (server === undefined) { console.log(`${name}: not installed, skipped`); continue; }
  const one = await run(server.endpoint, 1);
  const sixteen = await run(server.endpoint, 16);
  server.stop();
  results[name] = { oneWriterOps: Math.round(one), sixteenWritersOps: Math.round(sixteen), ratio: +(sixteen / one).toFixed(2) };
  console.log(`${name}: 1 writer ${Math.round(one)} puts/s, 16 writers ${Math.round(sixteen)} puts/s (${(sixteen / one).toFixed(2)}x)`);
}
console.log(JSON.stringify(results));
