// Test certificates, EC P-256, made with the openssl CLI once per test run and shared by every test
// file of the run (RSA-4096 takes seconds each on this machine; P-256 milliseconds).
//
//   const certs = await testCertificates();
//   certs.ca.cert            PEM path of the test CA
//   certs.server.cert/.key   for 127.0.0.1, ::1 and localhost, signed by the CA
//   certs.client('alice')    a client certificate with CN=alice, signed by the CA (made on demand)
//   certs.otherCa            a second, unrelated CA; certs.otherClient: a client cert it signed
//
// The directory is $T4_TEST_CERTS_DIR when set (scripts/run-tests.mjs sets one per run), else one
// per process under the OS temp dir. Generation is guarded by a lock directory so concurrent test
// files in one run create the files once.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface TestCertificates {
  readonly dir: string;
  readonly ca: CertPair;
  readonly server: CertPair;
  readonly otherCa: CertPair;
  /** A client certificate signed by the other CA (must be refused under mTLS). */
  readonly otherClient: CertPair;
  /** A client certificate with CN=`commonName`, signed by the test CA. */
  client(commonName: string): CertPair;
}

let cached: TestCertificates | undefined;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir: string, name: string): string {
  const key = join(dir, `${name}.key`);
  if (!existsSync(key)) openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  return key;
}

function makeCa(dir: string, name: string): CertPair {
  const key = newKey(dir, name);
  const cert = join(dir, `${name}.crt`);
  if (!existsSync(cert)) {
    openssl(['req', '-x509', '-new', '-key', key, '-sha256', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', cert], dir);
  }
  return { cert, key };
}

function signed(dir: string, ca: CertPair, name: string, commonName: string, extensions: string): CertPair {
  const key = newKey(dir, name);
  const cert = join(dir, `${name}.crt`);
  if (!existsSync(cert)) {
    const csr = join(dir, `${name}.csr`);
    const ext = join(dir, `${name}.ext`);
    writeFileSync(ext, extensions);
    openssl(['req', '-new', '-key', key, '-subj', `/CN=${commonName}`, '-out', csr], dir);
    openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-sha256', '-extfile', ext, '-out', `${cert}.tmp`], dir);
    // Rename last: a reader never sees a half-written certificate.
    execFileSync('mv', [`${cert}.tmp`, cert]);
  }
  return { cert, key };
}

const SERVER_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n';
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

function withLock<T>(dir: string, fn: () => T): T {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`test certificates: ${lock} held for 30 s`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export function testCertificates(): TestCertificates {
  if (cached !== undefined) return cached;
  const fromEnv = process.env['T4_TEST_CERTS_DIR'];
  const dir = fromEnv ?? mkdtempSync(join(tmpdir(), 't4-certs-'));
  mkdirSync(dir, { recursive: true });
  const made = withLock(dir, () => {
    const ca = makeCa(dir, 'test-ca');
    const otherCa = makeCa(dir, 'other-ca');
    return {
      ca,
      otherCa,
      server: signed(dir, ca, 'server', 'localhost', SERVER_EXT),
      otherClient: signed(dir, otherCa, 'other-client', 'mallory', CLIENT_EXT),
    };
  });
  cached = {
    dir,
    ...made,
    client: (commonName: string) => withLock(dir, () => signed(dir, made.ca, `client-${commonName}`, commonName, CLIENT_EXT)),
  };
  return cached;
}
