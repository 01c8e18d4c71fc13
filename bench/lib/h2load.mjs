// Optional: nghttp2's h2load (Debian `nghttp2-client`, bench/install-tools.sh) as a C client that
// is never the bottleneck, for a throughput ceiling of unary gRPC calls. It counts HTTP statuses,
// not grpc-status, so run.mjs first checks with its own client that the same request succeeds.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export function h2loadAvailable() {
  return spawnSync('h2load', ['--version']).status === 0;
}

/** Runs h2load for `seconds` with `clients` connections, 1 stream each; { reqPerS, ok, failed } or { error }. */
export function h2load({ endpoint, path, body, bodyFile, clients, seconds }) {
  writeFileSync(bodyFile, body);
  const args = ['-c', String(clients), '-m', '1', '-t', '1', '-D', String(seconds), '--warm-up-time', '1', '-d', bodyFile,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://${endpoint}${path}`];
  return new Promise((resolve) => {
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const killChild = () => child.kill('SIGKILL');
    process.once('exit', killChild); // an interrupted bench leaves no h2load behind
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', () => {
      process.off('exit', killChild);
      const reqPerS = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
      const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
      const requests = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
      if (!reqPerS || !requests) resolve({ error: out.trim().split('\n').slice(-3).join(' ') });
      else resolve({ reqPerS: Math.round(Number(reqPerS[1])), ok: Number(requests[1]), failed: Number(requests[2]) + Number(requests[3]), status2xx: status ? Number(status[1]) : null, clients, seconds });
    });
  });
}
