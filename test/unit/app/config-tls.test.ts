// --client-tls-cert/-key/-ca: which combinations are accepted (resolveRunConfig), and what
// loadClientTls refuses when it reads the files at start (missing, not PEM, key of another cert).
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadClientTls, resolveRunConfig, type ClientTlsFiles } from '../../../src/app/config.js';
import { testCertificates, type TestCertificates } from '../../support/certs.js';

/** assert.throws matcher: a ConfigError whose message matches every pattern. */
function configError(...patterns: RegExp[]): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

describe('client TLS options', () => {
  it('are off by default; cert + key is server-only TLS; + CA is mutual TLS', () => {
    assert.equal(resolveRunConfig({}, {}).clientTls, undefined);
    const serverOnly = resolveRunConfig({ 'client-tls-cert': 's.crt', 'client-tls-key': 's.key' }, {}).clientTls;
    assert.deepEqual(serverOnly, { cert: { path: 's.crt', source: '--client-tls-cert' }, key: { path: 's.key', source: '--client-tls-key' }, ca: undefined });
    const mutual = resolveRunConfig({ 'client-tls-cert': 's.crt', 'client-tls-key': 's.key', 'client-tls-ca': 'ca.crt' }, {}).clientTls;
    assert.deepEqual(mutual?.ca, { path: 'ca.crt', source: '--client-tls-ca' });
  });

  it('come from T4_CLIENT_TLS_* too, a flag winning over its variable', () => {
    const env = { T4_CLIENT_TLS_CERT: 'env.crt', T4_CLIENT_TLS_KEY: 'env.key', T4_CLIENT_TLS_CA: 'env-ca.crt' };
    const fromEnv = resolveRunConfig({}, env).clientTls;
    assert.deepEqual(fromEnv, { cert: { path: 'env.crt', source: 'T4_CLIENT_TLS_CERT' }, key: { path: 'env.key', source: 'T4_CLIENT_TLS_KEY' }, ca: { path: 'env-ca.crt', source: 'T4_CLIENT_TLS_CA' } });
    assert.equal(resolveRunConfig({ 'client-tls-cert': 'flag.crt' }, env).clientTls?.cert.path, 'flag.crt');
  });

  it('refuse a certificate without its key and a key without its certificate, naming the missing flag', () => {
    assert.throws(() => resolveRunConfig({ 'client-tls-cert': 's.crt' }, {}), configError(/^--client-tls-cert needs --client-tls-key/));
    assert.throws(() => resolveRunConfig({ 'client-tls-key': 's.key' }, {}), configError(/^--client-tls-key needs --client-tls-cert/));
    assert.throws(() => resolveRunConfig({}, { T4_CLIENT_TLS_KEY: 's.key' }), configError(/^T4_CLIENT_TLS_KEY needs --client-tls-cert/));
  });

  it('refuse --client-tls-ca without the certificate and key', () => {
    assert.throws(() => resolveRunConfig({ 'client-tls-ca': 'ca.crt' }, {}), configError(/^--client-tls-ca needs --client-tls-cert and --client-tls-key/));
    assert.throws(() => resolveRunConfig({ 'client-tls-ca': 'ca.crt', 'client-tls-cert': 's.crt' }, {}), configError(/needs --client-tls-key/));
  });

  it('refuse an empty path', () => {
    assert.throws(() => resolveRunConfig({ 'client-tls-cert': '', 'client-tls-key': 's.key' }, {}), configError(/^--client-tls-cert: must not be empty/));
  });
});

describe('loadClientTls', () => {
  let certs: TestCertificates;
  let dir: string;
  const files = (cert: string, key: string, ca?: string): ClientTlsFiles => ({
    cert: { path: cert, source: '--client-tls-cert' },
    key: { path: key, source: '--client-tls-key' },
    ca: ca === undefined ? undefined : { path: ca, source: '--client-tls-ca' },
  });

  before(() => {
    certs = testCertificates();
    dir = mkdtempSync(join(tmpdir(), 't4-config-tls-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the certificate, key and CA (mutual TLS) or just the pair (server-only)', () => {
    const mutual = loadClientTls(files(certs.server.cert, certs.server.key, certs.ca.cert));
    assert.match(mutual.cert.toString(), /BEGIN CERTIFICATE/);
    assert.match(mutual.key.toString(), /PRIVATE KEY/);
    assert.match(String(mutual.clientCa), /BEGIN CERTIFICATE/);
    assert.equal(loadClientTls(files(certs.server.cert, certs.server.key)).clientCa, undefined);
  });

  it('takes a CA bundle of several certificates', () => {
    const bundle = join(dir, 'bundle.crt');
    writeFileSync(bundle, Buffer.concat([readFileSync(certs.ca.cert), readFileSync(certs.otherCa.cert)]));
    assert.ok(loadClientTls(files(certs.server.cert, certs.server.key, bundle)).clientCa);
  });

  it('refuses a missing file, naming it and its flag', () => {
    const missing = join(dir, 'no-such.key');
    assert.throws(() => loadClientTls(files(certs.server.cert, missing)), configError(/^--client-tls-key: cannot read /, new RegExp(escape(missing)), /no such file/));
    assert.throws(() => loadClientTls(files(certs.server.cert, certs.server.key, join(dir, 'no-ca.crt'))), configError(/^--client-tls-ca: cannot read .*no-ca\.crt: no such file/));
  });

  it('refuses a directory as unreadable', () => {
    assert.throws(() => loadClientTls(files(dir, certs.server.key)), configError(/^--client-tls-cert: cannot read /, /EISDIR/));
  });

  it('refuses files that are not PEM', () => {
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'hello\n');
    assert.throws(() => loadClientTls(files(junk, certs.server.key)), configError(/^--client-tls-cert: .*junk\.pem holds no PEM certificate/));
    assert.throws(() => loadClientTls(files(certs.server.cert, junk)), configError(/^--client-tls-key: .*junk\.pem holds no PEM private key/));
    assert.throws(() => loadClientTls(files(certs.server.cert, certs.server.key, junk)), configError(/^--client-tls-ca: .*junk\.pem holds no PEM certificate/));
    // The key file given as the certificate, and the other way round.
    assert.throws(() => loadClientTls(files(certs.server.key, certs.server.cert)), configError(/^--client-tls-cert: .*server\.key holds no PEM certificate/));
  });

  it('refuses a damaged certificate', () => {
    const damaged = join(dir, 'damaged.crt');
    writeFileSync(damaged, '-----BEGIN CERTIFICATE-----\nTUlJQm9n\n-----END CERTIFICATE-----\n');
    assert.throws(() => loadClientTls(files(damaged, certs.server.key)), configError(/^--client-tls-cert: certificate 1 in .*damaged\.crt is not a valid certificate/));
  });

  it('refuses a key that does not belong to the certificate, naming both files', () => {
    const otherKey = join(dir, 'other.key');
    copyFileSync(certs.otherClient.key, otherKey);
    assert.throws(
      () => loadClientTls(files(certs.server.cert, otherKey)),
      configError(/^--client-tls-key: the key in .*other\.key does not match the certificate in .*server\.crt/),
    );
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
