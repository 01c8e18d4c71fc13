// A fake-gcs-server (github.com/fsouza/fake-gcs-server) for tests: the GCS JSON API in one process.
//  - a `fake-gcs-server` binary on PATH or in $(go env GOPATH)/bin (.ci/run go-installs a pinned
//    release), started on 127.0.0.1 with a free port, plain HTTP and the in-memory backend;
//  - otherwise the suite is skipped with the reason, or fails when T4_REQUIRE_EXTERNAL=1.
//
//   const fakeGcs = await findFakeGcs();
//   describe('on fake-gcs-server', { skip: fakeGcs.skip }, () => {
//     let server: FakeGcsServer;
//     before(async () => { server = await startFakeGcs(fakeGcs); await server.createBucket('b'); });
//     after(() => server?.stop());
//   });
//
// No flag is needed for generation preconditions: ifGenerationMatch (0 and <generation>) is
// honoured by every backend since v1.40. Tests may create buckets (createBucket); T4 itself never does.
import type { GcsObjectStoreConfig } from '../../src/adapters/gcs/gcs-config.js';
import { freePort, sleep, Supervised } from './child-process.js';
import { externalsRequired, goBinBinary, whichSync } from './external.js';

/** The version .ci/run installs; the tests were checked against it. */
export const FAKE_GCS_SERVER_VERSION = 'v1.56.1';
const READY_TIMEOUT_MS = 20_000;

export type FakeGcsAvailability = { readonly skip: false; readonly binary: string } | { readonly skip: string };

export interface FakeGcsServer {
  /** `http://127.0.0.1:<port>`: give it as the GCS endpoint. */
  readonly endpoint: string;
  /** Creates a bucket (tests only; T4 never creates buckets). Idempotent. */
  createBucket(bucket: string): Promise<void>;
  /** A GcsObjectStore configuration for `bucket`/`prefix` on this server (no credentials). */
  gcsConfig(bucket: string, prefix?: string): GcsObjectStoreConfig;
  /** Server output so far, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

/** Finds the fake-gcs-server binary; quick. */
export async function findFakeGcs(): Promise<FakeGcsAvailability> {
  const binary = whichSync('fake-gcs-server') ?? (await goBinBinary('fake-gcs-server'));
  if (binary !== undefined) return { skip: false, binary };
  const reason = `fake-gcs-server not available: no fake-gcs-server binary on PATH or in $(go env GOPATH)/bin (run .ci/run, or go install github.com/fsouza/fake-gcs-server@${FAKE_GCS_SERVER_VERSION})`;
  if (externalsRequired()) throw new Error(`${reason}; T4_REQUIRE_EXTERNAL=1 forbids skipping`);
  return { skip: reason };
}

export async function startFakeGcs(availability: FakeGcsAvailability): Promise<FakeGcsServer> {
  if (availability.skip !== false) throw new Error(availability.skip);
  let lastError: unknown;
  // A free port can be taken between probing and binding; try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const child = new Supervised('fake-gcs-server', availability.binary, [
      '-scheme',
      'http',
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-backend',
      'memory',
      // Upload responses and mediaLinks name this address rather than storage.googleapis.com.
      '-public-host',
      `127.0.0.1:${port}`,
      '-external-url',
      endpoint,
      '-log-level',
      'warn',
    ]);
    try {
      await waitReady(child, endpoint);
      return serverFor(endpoint, child);
    } catch (error) {
      lastError = error;
      await child.kill9();
    }
  }
  throw lastError;
}

function serverFor(endpoint: string, child: Supervised): FakeGcsServer {
  return {
    endpoint,
    async createBucket(bucket: string): Promise<void> {
      const response = await fetch(`${endpoint}/storage/v1/b?project=t4-test`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: bucket }),
        signal: AbortSignal.timeout(10_000),
      });
      if (response.ok || response.status === 409) return;
      throw new Error(`fake-gcs-server: creating bucket ${bucket} failed: HTTP ${response.status} ${await response.text()}`);
    },
    gcsConfig(bucket: string, prefix = ''): GcsObjectStoreConfig {
      return { bucket, prefix, endpoint, maxAttempts: 3, requestTimeoutMs: 30_000 };
    },
    logs: () => child.logs(),
    async stop(): Promise<void> {
      await child.stop('SIGTERM', 10_000);
    },
  };
}

async function waitReady(child: Supervised, endpoint: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!child.running) throw child.error('exited before it was ready');
    try {
      const response = await fetch(`${endpoint}/storage/v1/b?project=t4-test`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw child.error(`not ready within ${READY_TIMEOUT_MS} ms`);
}
