// Self-test of the integration harness: a real etcd 3.4 driven by the real etcdctl.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findExternal } from '../support/external.js';
import { startEtcd, type EtcdProcess } from '../support/etcd-process.js';
import { decodeB64, etcdctl, etcdctlJson, parseJsonWithBigInts } from '../support/etcdctl.js';

interface GetResponse {
  header: { cluster_id: bigint | number; member_id: bigint | number; revision: number };
  kvs?: { key: string; value: string; create_revision: number; mod_revision: number; version: number }[];
  count?: number;
}

describe('parseJsonWithBigInts', () => {
  it('keeps unsafe integers exact as BigInt and leaves strings and safe numbers alone', () => {
    const parsed = parseJsonWithBigInts('{"id":14841639068965178418,"rev":-5,"f":1.5e3,"s":"x\\"12345678901234567890"}');
    assert.deepEqual(parsed, { id: 14841639068965178418n, rev: -5, f: 1500, s: 'x"12345678901234567890' });
  });
});

const etcd = findExternal('etcd');
const etcdctlBin = findExternal('etcdctl');

describe('harness: etcd + etcdctl', { skip: etcd.skip || etcdctlBin.skip }, () => {
  let server: EtcdProcess | undefined;
  before(async () => {
    server = await startEtcd();
  });
  after(async () => {
    await server?.stop();
  });

  it('puts and gets a key with etcdctl', async () => {
    const endpoint = (server as EtcdProcess).endpoint;
    const put = await etcdctl(endpoint, ['put', 'a', '1']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout.trim(), 'OK');

    const get = await etcdctl(endpoint, ['get', 'a']);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'a\n1\n');
  });

  it('parses -w json output, base64 bytes and 64-bit ids', async () => {
    const endpoint = (server as EtcdProcess).endpoint;
    const res = await etcdctlJson<GetResponse>(endpoint, ['get', 'a']);
    assert.equal(res.count, 1);
    assert.equal(decodeB64(res.kvs?.[0]?.key), 'a');
    assert.equal(decodeB64(res.kvs?.[0]?.value), '1');
    assert.ok(res.header.revision >= 2);
    assert.ok(['bigint', 'number'].includes(typeof res.header.cluster_id));

    const missing = await etcdctlJson<GetResponse>(endpoint, ['get', 'no-such-key']);
    assert.equal(missing.kvs, undefined);
  });

  it('reports a non-zero exit with stderr for a bad command', async () => {
    const res = await etcdctl((server as EtcdProcess).endpoint, ['no-such-command']);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /unknown command|Error/i);
  });
});
