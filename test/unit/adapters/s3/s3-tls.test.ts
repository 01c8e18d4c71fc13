// TLS to the S3 endpoint: the CA bundle (validated at construction, the only trust when set),
// TLS 1.2 at least, and certificate failures as a typed, non-retried error. The live tests run a
// small https server in this process that answers every request with an empty ListObjectsV2 page.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveS3Config, S3ConfigError, type S3Credentials, type S3ObjectStoreConfig } from '../../../../src/adapters/s3/s3-config.js';
import { toObjectStoreError } from '../../../../src/adapters/s3/s3-errors.js';
import { S3ObjectStore } from '../../../../src/adapters/s3/s3-object-store.js';
import { readCaBundle, s3HttpsAgent } from '../../../../src/adapters/s3/s3-tls.js';
import { ObjectStoreRequestError, ObjectStoreUnavailableError } from '../../../../src/ports/object-store-errors.js';
import { testCertificates, type TestCertificates } from '../../../support/certs.js';

const creds: S3Credentials = { kind: 'static', accessKeyId: 'id', secretAccessKey: 'secret' };

describe('S3 CA bundle configuration', () => {
  let certs: TestCertificates;
  let dir: string;
  before(() => {
    certs = testCertificates();
    dir = mkdtempSync(join(tmpdir(), 't4-s3-tls-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('needs https: a bundle with an http endpoint is refused; https endpoints and AWS take it; empty means none', () => {
    assert.throws(
      () => resolveS3Config({ bucket: 'b-1', endpoint: 'http://127.0.0.1:9000', caBundle: '/etc/ca.pem', credentials: creds }),
      (e: Error) => e instanceof S3ConfigError && /CA bundle \(\/etc\/ca\.pem\) needs an https endpoint, got http:\/\/127\.0\.0\.1:9000/.test(e.message),
    );
    assert.equal(resolveS3Config({ bucket: 'b-1', endpoint: 'https://127.0.0.1:9000', caBundle: '/etc/ca.pem', credentials: creds }).caBundle, '/etc/ca.pem');
    assert.equal(resolveS3Config({ bucket: 'b-1', region: 'eu-west-1', caBundle: '/etc/ca.pem', credentials: creds }).caBundle, '/etc/ca.pem');
    assert.equal(resolveS3Config({ bucket: 'b-1', endpoint: 'http://127.0.0.1:9000', caBundle: '', credentials: creds }).caBundle, undefined);
    assert.equal(resolveS3Config({ bucket: 'b-1', endpoint: 'http://127.0.0.1:9000', credentials: creds }).caBundle, undefined);
  });

  it('reads every certificate of a PEM bundle, ignoring text around them', () => {
    assert.equal(readCaBundle(certs.ca.cert).length, 1);
    const both = join(dir, 'both.pem');
    writeFileSync(both, `# test CA\n${readFileSync(certs.ca.cert, 'utf8')}\nother CA\n${readFileSync(certs.otherCa.cert, 'utf8')}`);
    const read = readCaBundle(both);
    assert.equal(read.length, 2);
    assert.ok(read.every((pem) => pem.startsWith('-----BEGIN CERTIFICATE-----') && pem.endsWith('-----END CERTIFICATE-----')));
  });

  it('refuses a missing file, one without a certificate, a key, and a damaged certificate, naming the file', () => {
    const missing = join(dir, 'missing.pem');
    assert.throws(() => readCaBundle(missing), (e: Error) => e instanceof S3ConfigError && e.message.startsWith(`cannot read the S3 CA bundle ${missing}:`));
    assert.throws(() => readCaBundle(dir), (e: Error) => e instanceof S3ConfigError && e.message.includes(`cannot read the S3 CA bundle ${dir}`));
    const text = join(dir, 'text.pem');
    writeFileSync(text, 'not a certificate\n');
    assert.throws(() => readCaBundle(text), (e: Error) => e instanceof S3ConfigError && e.message.includes(`${text} holds no PEM certificate`));
    // A private key is PEM, but no certificate.
    assert.throws(() => readCaBundle(certs.ca.key), (e: Error) => e instanceof S3ConfigError && e.message.includes(`${certs.ca.key} holds no PEM certificate`));
    const damaged = join(dir, 'damaged.pem');
    const pem = readFileSync(certs.ca.cert, 'utf8');
    writeFileSync(damaged, `${pem}\n${pem.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA')}`);
    assert.throws(() => readCaBundle(damaged), (e: Error) => e instanceof S3ConfigError && e.message.includes(`${damaged}: certificate 2 of 2 does not parse`));
  });

  it('the https agent: TLS 1.2 at least always, the bundle as its only CAs, the socket settings kept', () => {
    const plain = s3HttpsAgent({ caBundle: undefined, maxSockets: 7 });
    assert.equal(plain.options.minVersion, 'TLSv1.2');
    assert.equal(plain.options.ca, undefined);
    assert.equal(plain.maxSockets, 7);
    assert.equal(plain.options.keepAlive, true);
    const pinned = s3HttpsAgent({ caBundle: certs.ca.cert, maxSockets: 64 });
    assert.equal(pinned.options.minVersion, 'TLSv1.2');
    assert.deepEqual(pinned.options.ca, [readFileSync(certs.ca.cert, 'utf8').trim()]);
    assert.equal(pinned.maxSockets, 64);
    plain.destroy();
    pinned.destroy();
  });

  it('the store reads the bundle at construction: a bad one fails there, not at the first request', () => {
    const missing = join(dir, 'gone.pem');
    assert.throws(
      () => new S3ObjectStore({ bucket: 'b-1', endpoint: 'https://127.0.0.1:1', caBundle: missing, credentials: creds }),
      (e: Error) => e instanceof S3ConfigError && e.message.includes(missing),
    );
  });
});

describe('S3 TLS failures are typed and not retried', () => {
  const tlsError = (code: string, message: string): Error => Object.assign(new Error(message), { code, $metadata: { attempts: 1 } });

  it('an untrusted certificate is an ObjectStoreRequestError carrying the TLS reason and a hint', () => {
    for (const [code, message] of [
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'],
      ['CERT_HAS_EXPIRED', 'certificate has expired'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"],
    ] as const) {
      const e = toObjectStoreError('put', 'k', tlsError(code, message), undefined);
      assert.ok(e instanceof ObjectStoreRequestError, code);
      assert.equal(e.code, code);
      assert.ok(e.message.includes(`TLS: ${message}`) && e.message.includes('(--s3-ca-bundle)'), e.message);
    }
  });

  it('an endpoint that does not speak TLS (1.2+) is a request error too; a reset stays transient', () => {
    const e = toObjectStoreError('get', 'k', tlsError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'), undefined);
    assert.ok(e instanceof ObjectStoreRequestError && /does not speak TLS 1\.2 or later/.test(e.message));
    assert.ok(toObjectStoreError('put', 'k', tlsError('ECONNRESET', 'socket hang up'), undefined) instanceof ObjectStoreUnavailableError);
  });
});

describe('S3ObjectStore over https (an in-process TLS server)', () => {
  let certs: TestCertificates;
  let server: Server;
  let endpoint: string;
  let handshakeFailures = 0;
  let requests = 0;
  before(async () => {
    certs = testCertificates();
    server = createServer({ cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) }, (req, res) => {
      requests++;
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b-1</Name>' +
            '<Prefix>p/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>',
        );
      });
    });
    server.on('tlsClientError', () => handshakeFailures++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const store = (caBundle: string | undefined): S3ObjectStore => {
    const config: S3ObjectStoreConfig = { bucket: 'b-1', prefix: 'p', endpoint, credentials: creds, maxAttempts: 3, ...(caBundle === undefined ? {} : { caBundle }) };
    return new S3ObjectStore(config);
  };

  it('with the CA that signed the server certificate in the bundle, requests go through', async () => {
    const s = store(certs.ca.cert);
    try {
      assert.deepEqual(await s.listPage(''), { objects: [], nextStartAfter: undefined });
      assert.ok(requests >= 1);
    } finally {
      s.close();
    }
  });

  for (const [name, bundle] of [
    ['with another CA in the bundle', () => certs.otherCa.cert],
    ['without a bundle (the system store does not know the test CA)', () => undefined],
  ] as const) {
    it(`${name}: one handshake, refused with "unable to verify the first certificate", not retried`, async () => {
      const before = { handshakeFailures, requests };
      const s = store(bundle());
      try {
        await assert.rejects(
          s.listPage(''),
          (e: unknown) => e instanceof ObjectStoreRequestError && e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' && /TLS: unable to verify the first certificate/.test(e.message),
        );
      } finally {
        s.close();
      }
      // The server may see the client's alert a moment after the client gave up.
      for (let i = 0; i < 50 && handshakeFailures === before.handshakeFailures; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(handshakeFailures - before.handshakeFailures, 1, 'the TLS failure was retried');
      assert.equal(requests, before.requests, 'a request got through');
    });
  }
});
