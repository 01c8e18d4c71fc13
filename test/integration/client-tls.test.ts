// Client TLS on the etcd gRPC port (`--client-tls-cert/-key`, mutual with `--client-tls-ca`) against
// the built `t4 run`: etcdctl and the etcd3 Node client with and without trust and certificates,
// the protocol floor (TLS 1.1 refused, with a positive control showing this openssl can speak it),
// TLS 1.2 limited to ECDHE + AEAD suites, TLS 1.3 on, configuration errors (exit 2), and the
// verified client certificate's Common Name on the CallContext (in process, on GrpcServer).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from '../../src/adapters/grpc/gen/grpc/health/v1/health_pb.js';
import { GrpcServer, type ServerTls } from '../../src/adapters/grpc/grpc-server.js';
import type { CallContext } from '../../src/adapters/grpc/handler.js';
import { PinoLogger } from '../../src/adapters/node/pino-logger.js';
import { testCertificates, type TestCertificates } from '../support/certs.js';
import { makeTempDir, removeDir, runCommand, type RunResult } from '../support/child-process.js';
import { etcdctl } from '../support/etcdctl.js';
import { findExternal, requireBinary } from '../support/external.js';
import { runT4, startT4, type T4Process } from '../support/t4-process.js';

const etcdctlBinary = findExternal('etcdctl');

/** Short timeouts for calls expected to fail (etcdctl retries until its deadline). */
const FAIL_FAST = ['--dial-timeout=2s', '--command-timeout=3s'];

function show(r: RunResult): string {
  return `exit ${String(r.code)} signal ${String(r.signal)}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** Blank T4_* variables: the parent's environment must not configure the child. */
function blankT4Env(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('T4_')) env[k] = '';
  return env;
}

/** `openssl s_client` to 127.0.0.1:port with `args`; stdin closed, so it exits after the handshake. */
function sClient(port: number, args: string[]): Promise<RunResult> {
  return runCommand(requireBinary('openssl'), ['s_client', '-connect', `127.0.0.1:${port}`, '-alpn', 'h2', ...args], { timeoutMs: 15_000 });
}

/**
 * The negotiated protocol and cipher ("TLSv1.3", "TLS_AES_128_GCM_SHA256") if the handshake
 * completed: s_client prints "New, (NONE), Cipher is (NONE)" when it did not. Its exit code says
 * nothing here: after a completed handshake it can still exit 1 ("unexpected eof while reading")
 * when the HTTP/2 server closes the idle connection first. "New, TLSv1.0, ..." names the cipher's
 * version (a TLS 1.1 session shows TLSv1.0), so the protocol is the session's "Protocol  :" line
 * when printed (TLS 1.3 prints it only once a session ticket arrives, which may be after exit).
 */
function negotiated(r: RunResult): { protocol: string; cipher: string } | undefined {
  const out = r.stdout + r.stderr;
  const m = /New, (\S+), Cipher is (\S+)/.exec(out);
  if (m === null || m[2] === '(NONE)') return undefined;
  return { protocol: /Protocol\s*: (\S+)/.exec(out)?.[1] ?? (m[1] as string), cipher: m[2] as string };
}

function portOf(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

function tlsArgs(certs: TestCertificates, mutual: boolean): string[] {
  return ['--client-tls-cert', certs.server.cert, '--client-tls-key', certs.server.key, ...(mutual ? ['--client-tls-ca', certs.ca.cert] : [])];
}

describe('client TLS on the etcd gRPC port', { skip: etcdctlBinary.skip }, () => {
  let certs: TestCertificates;
  before(() => {
    certs = testCertificates();
  });

  describe('server-only TLS (--client-tls-cert + --client-tls-key)', () => {
    let t4: T4Process;
    before(async () => {
      t4 = await startT4({ args: tlsArgs(certs, false), env: blankT4Env() });
    });
    after(() => t4?.cleanup());

    it('serves etcdctl with --cacert, and advertises an https:// client URL', async () => {
      const put = await etcdctl(t4.endpoint, ['--cacert', certs.ca.cert, 'put', 'tls/a', '1']);
      assert.equal(put.code, 0, show(put));
      const get = await etcdctl(t4.endpoint, ['--cacert', certs.ca.cert, 'get', 'tls/a', '--print-value-only']);
      assert.equal(get.stdout.trim(), '1', show(get));
      const members = await etcdctl(t4.endpoint, ['--cacert', certs.ca.cert, 'member', 'list']);
      assert.equal(members.code, 0, show(members));
      assert.ok(members.stdout.includes(`https://${t4.endpoint}`), show(members));
      assert.match(t4.logs(), /"tls":"server-only"/);
    });

    it('refuses a plaintext client', async () => {
      const r = await etcdctl(t4.endpoint, [...FAIL_FAST, 'put', 'tls/plain', '1']);
      assert.notEqual(r.code, 0, show(r));
    });

    it('is refused by a client that does not trust the CA (and works once verification is skipped: the refusal is trust)', async () => {
      const untrusted = await etcdctl(t4.endpoint, [...FAIL_FAST, '--insecure-transport=false', 'put', 'tls/untrusted', '1']);
      assert.notEqual(untrusted.code, 0, show(untrusted));
      const skipVerify = await etcdctl(t4.endpoint, ['--insecure-transport=false', '--insecure-skip-tls-verify', 'put', 'tls/untrusted', '1']);
      assert.equal(skipVerify.code, 0, show(skipVerify));
    });

    it('refuses TLS 1.1 (positive control: the same openssl command connects to a TLS 1.0+ Node server)', async (t) => {
      const args = ['-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0'];
      const permissive = await permissiveTlsServer(certs);
      let control: RunResult;
      try {
        control = await sClient((permissive.address() as AddressInfo).port, args);
      } finally {
        permissive.close();
      }
      if (negotiated(control)?.protocol !== 'TLSv1.1') {
        t.skip(`this machine's openssl cannot speak TLS 1.1 at all (positive control failed):\n${show(control)}`);
        return;
      }
      const r = await sClient(portOf(t4.endpoint), args);
      assert.equal(negotiated(r), undefined, show(r));
      assert.match(r.stdout + r.stderr, /alert protocol version/, show(r));
    });

    it('refuses a TLS 1.2 client offering only CBC suites', async () => {
      const r = await sClient(portOf(t4.endpoint), ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES128-SHA']);
      assert.equal(negotiated(r), undefined, show(r));
      assert.match(r.stdout + r.stderr, /handshake failure/, show(r));
    });

    it('refuses TLS 1.2 suites without forward secrecy (static RSA, even with GCM)', async () => {
      const r = await sClient(portOf(t4.endpoint), ['-tls1_2', '-cipher', 'AES128-GCM-SHA256:AES256-GCM-SHA384']);
      assert.equal(negotiated(r), undefined, show(r));
    });

    for (const cipher of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
      it(`accepts TLS 1.2 with ${cipher}`, async () => {
        const r = await sClient(portOf(t4.endpoint), ['-tls1_2', '-cipher', cipher, '-CAfile', certs.ca.cert, '-verify_return_error']);
        assert.deepEqual(negotiated(r), { protocol: 'TLSv1.2', cipher }, show(r));
      });
    }

    it('accepts TLS 1.3', async () => {
      const r = await sClient(portOf(t4.endpoint), ['-tls1_3', '-CAfile', certs.ca.cert, '-verify_return_error']);
      assert.equal(negotiated(r)?.protocol, 'TLSv1.3', show(r));
    });

    it('serves the etcd3 Node client with the CA as its root', async () => {
      const client = new Etcd3({ hosts: `https://${t4.endpoint}`, credentials: { rootCertificate: readFileSync(certs.ca.cert) } });
      try {
        await client.put('tls/node').value('v');
        assert.equal(await client.get('tls/node').string(), 'v');
      } finally {
        client.close();
      }
    });
  });

  describe('mutual TLS (+ --client-tls-ca)', () => {
    let t4: T4Process;
    before(async () => {
      t4 = await startT4({ args: tlsArgs(certs, true), env: blankT4Env() });
    });
    after(() => t4?.cleanup());

    it('accepts a client certificate signed by the CA', async () => {
      const alice = certs.client('alice');
      const r = await etcdctl(t4.endpoint, ['--cacert', certs.ca.cert, '--cert', alice.cert, '--key', alice.key, 'put', 'mtls/a', '1']);
      assert.equal(r.code, 0, show(r));
      assert.match(t4.logs(), /"tls":"mutual"/);
    });

    it('refuses a client without a certificate', async () => {
      const r = await etcdctl(t4.endpoint, [...FAIL_FAST, '--cacert', certs.ca.cert, 'put', 'mtls/none', '1']);
      assert.notEqual(r.code, 0, show(r));
      // TLS 1.2: the server refuses the empty Certificate message with a handshake_failure alert
      // (s_client has already printed "New, TLSv1.2, ..." by then; under TLS 1.3 the alert comes
      // after the client's handshake is done, so s_client may exit before reading it).
      const s = await sClient(portOf(t4.endpoint), ['-tls1_2', '-CAfile', certs.ca.cert]);
      assert.match(s.stdout + s.stderr, /alert handshake failure/, show(s));
    });

    it('refuses a client certificate from another CA', async () => {
      const r = await etcdctl(t4.endpoint, [...FAIL_FAST, '--cacert', certs.ca.cert, '--cert', certs.otherClient.cert, '--key', certs.otherClient.key, 'put', 'mtls/other', '1']);
      assert.notEqual(r.code, 0, show(r));
    });

    it('serves the etcd3 Node client with a client certificate, and refuses it without one', async () => {
      const bob = certs.client('bob');
      const good = new Etcd3({
        hosts: `https://${t4.endpoint}`,
        credentials: { rootCertificate: readFileSync(certs.ca.cert), certChain: readFileSync(bob.cert), privateKey: readFileSync(bob.key) },
      });
      const none = new Etcd3({ hosts: `https://${t4.endpoint}`, credentials: { rootCertificate: readFileSync(certs.ca.cert) }, dialTimeout: 2_000 });
      try {
        await good.put('mtls/node').value('v');
        assert.equal(await good.get('mtls/node').string(), 'v');
        await assert.rejects(none.get('mtls/node').string());
      } finally {
        good.close();
        none.close();
      }
    });
  });

  describe('configuration errors stop start-up with exit 2', () => {
    let dataDir: string;
    before(async () => {
      dataDir = await makeTempDir('t4-tls-config-');
    });
    after(() => removeDir(dataDir));

    const runWith = (args: string[]): Promise<RunResult> => runT4(['run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...args], { env: blankT4Env() });

    it('a missing key file, naming the flag and the file', async () => {
      const missing = join(dataDir, 'missing.key');
      const r = await runWith(['--client-tls-cert', certs.server.cert, '--client-tls-key', missing]);
      assert.equal(r.code, 2, show(r));
      assert.ok(r.stderr.includes(`t4 run: --client-tls-key: cannot read ${missing}: no such file`), show(r));
    });

    it('a key that does not match the certificate, naming both files', async () => {
      const r = await runWith(['--client-tls-cert', certs.server.cert, '--client-tls-key', certs.otherClient.key]);
      assert.equal(r.code, 2, show(r));
      assert.ok(r.stderr.includes(`--client-tls-key: the key in ${certs.otherClient.key} does not match the certificate in ${certs.server.cert}`), show(r));
    });

    it('--client-tls-ca without a certificate and key', async () => {
      const r = await runWith(['--client-tls-ca', certs.ca.cert]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /t4 run: --client-tls-ca needs --client-tls-cert and --client-tls-key/, show(r));
    });

    it('a certificate without its key, naming the missing flag', async () => {
      const r = await runWith(['--client-tls-cert', certs.server.cert]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /t4 run: --client-tls-cert needs --client-tls-key/, show(r));
    });
  });
});

/** A TLS server accepting anything down to TLS 1.0: the positive control for the TLS 1.1 check. */
function permissiveTlsServer(certs: TestCertificates): Promise<TlsServer> {
  const server = createTlsServer(
    { key: readFileSync(certs.server.key), cert: readFileSync(certs.server.cert), minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' },
    (socket) => socket.end(),
  );
  server.on('tlsClientError', () => {});
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('CallContext.peerCommonName (GrpcServer, in process)', () => {
  let certs: TestCertificates;
  before(() => {
    certs = testCertificates();
  });

  /** A GrpcServer whose health Check records the caller's peerCommonName(). */
  async function recordingServer(tls: ServerTls | undefined): Promise<{ address: string; seen: (string | undefined)[]; server: GrpcServer }> {
    const seen: (string | undefined)[] = [];
    const server = new GrpcServer({ requestBytesMax: 1024 * 1024, keepaliveTimeMs: 60_000, keepaliveTimeoutMs: 20_000, logger: PinoLogger.create('silent') });
    server.register(Health, {
      Check: (_req: HealthCheckRequest, ctx: CallContext): HealthCheckResponse => {
        seen.push(ctx.peerCommonName());
        return create(HealthCheckResponseSchema, { status: ServingStatus.SERVING });
      },
      Watch: async (): Promise<void> => {},
    });
    return { address: await server.listen('127.0.0.1:0', tls), seen, server };
  }

  function check(address: string, credentials: grpc.ChannelCredentials): Promise<void> {
    const client = new grpc.Client(address, credentials);
    return new Promise<void>((resolve, reject) => {
      client.makeUnaryRequest<HealthCheckRequest, HealthCheckResponse>(
        '/grpc.health.v1.Health/Check',
        (req) => Buffer.from(toBinary(HealthCheckRequestSchema, req)),
        (buf) => fromBinary(HealthCheckResponseSchema, buf),
        create(HealthCheckRequestSchema, {}),
        { deadline: Date.now() + 10_000 },
        (err) => {
          client.close();
          if (err) reject(err);
          else resolve();
        },
      );
    });
  }

  const pem = (path: string): Buffer => readFileSync(path);

  it('is the verified client certificate CN under mutual TLS', async () => {
    const { address, seen, server } = await recordingServer({ cert: pem(certs.server.cert), key: pem(certs.server.key), clientCa: pem(certs.ca.cert) });
    try {
      const carol = certs.client('carol');
      await check(address, grpc.credentials.createSsl(pem(certs.ca.cert), pem(carol.key), pem(carol.cert)));
      assert.deepEqual(seen, ['carol']);
    } finally {
      await server.close(1_000);
    }
  });

  it('is undefined with server-only TLS (no client certificate is asked for) and in plaintext', async () => {
    const tls = await recordingServer({ cert: pem(certs.server.cert), key: pem(certs.server.key), clientCa: undefined });
    const plain = await recordingServer(undefined);
    try {
      const carol = certs.client('carol');
      await check(tls.address, grpc.credentials.createSsl(pem(certs.ca.cert), pem(carol.key), pem(carol.cert)));
      await check(plain.address, grpc.credentials.createInsecure());
      assert.deepEqual(tls.seen, [undefined]);
      assert.deepEqual(plain.seen, [undefined]);
    } finally {
      await tls.server.close(1_000);
      await plain.server.close(1_000);
    }
  });
});
