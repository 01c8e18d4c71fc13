// The real etcdctl (v3 API, Debian 3.4) watching the built `t4 run`: prefix watches, --rev
// history replay with --prev-kv, interactive progress requests, and the compaction cancel (etcdctl
// 3.4 has no --progress-notify: periodic progress is tested over gRPC in watch-grpc.test.ts). Each
// watch starts at an explicit revision so it never depends on when etcdctl's create lands.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeB64, etcdctl, etcdctlJson } from '../support/etcdctl.js';
import { jsonResponses, startEtcdctlWatch } from '../support/etcdctl-watch.js';
import { findExternal } from '../support/external.js';
import { startT4, type T4Process } from '../support/t4-process.js';

const etcdctlBin = findExternal('etcdctl');

describe('etcdctl watch against t4 run', { skip: etcdctlBin.skip }, () => {
  let t4: T4Process;
  before(async () => {
    t4 = await startT4();
  });
  after(() => t4?.cleanup());

  const revision = async (): Promise<number> => (await etcdctlJson<{ header: { revision: number } }>(t4.endpoint, ['get', 'nothing-here'])).header.revision;
  const put = async (k: string, v: string): Promise<void> => {
    const r = await etcdctl(t4.endpoint, ['put', k, v]);
    assert.equal(r.code, 0, r.stderr);
  };

  it('a prefix watch prints every put and delete under the prefix, in order, and nothing else', async () => {
    const from = (await revision()) + 1;
    const w = startEtcdctlWatch(t4.endpoint, ['watch', 'pw/', '--prefix', `--rev=${from}`]);
    try {
      await put('pw/a', '1');
      await put('other', 'x');
      await put('pw/b', '2');
      assert.equal((await etcdctl(t4.endpoint, ['del', 'pw/a'])).code, 0);
      await w.waitFor((out) => out.includes('DELETE'));
      assert.equal(w.stdout(), 'PUT\npw/a\n1\nPUT\npw/b\n2\nDELETE\npw/a\n\n');
    } finally {
      await w.stop();
    }
  });

  it('--rev replays history inclusively; --prev-kv carries the previous values; -w json has etcd fields', async () => {
    const start = (await revision()) + 1;
    await put('hk', 'v1');
    await put('hk', 'v2');
    assert.equal((await etcdctl(t4.endpoint, ['del', 'hk'])).code, 0);
    const w = startEtcdctlWatch(t4.endpoint, ['watch', 'hk', `--rev=${start + 1}`, '--prev-kv', '-w', 'json']);
    try {
      await w.waitFor((out) => jsonResponses(out).flatMap((r) => r.Events ?? []).length >= 2);
      const events = jsonResponses(w.stdout()).flatMap((r) => r.Events ?? []);
      assert.deepEqual(
        events.map((e) => ({ type: e.type ?? 0, key: decodeB64(e.kv.key), value: decodeB64(e.kv.value), mod: e.kv.mod_revision, prev: decodeB64(e.prev_kv?.value), prevMod: e.prev_kv?.mod_revision })),
        [
          { type: 0, key: 'hk', value: 'v2', mod: start + 1, prev: 'v1', prevMod: start },
          { type: 1, key: 'hk', value: undefined, mod: start + 2, prev: 'v2', prevMod: start + 1 },
        ],
      );
      const deleteEvent = events[1];
      assert.deepEqual(Object.keys(deleteEvent?.kv ?? {}).sort(), ['key', 'mod_revision'], 'a delete event carries key and mod_revision only, as etcd');
    } finally {
      await w.stop();
    }
  });

  it('interactive mode: watch, then "progress" prints a progress notification at the current revision', async () => {
    const from = (await revision()) + 1;
    const w = startEtcdctlWatch(t4.endpoint, ['watch', '-i']);
    try {
      w.writeLine(`watch iw/ --prefix --rev ${from}`);
      await put('iw/1', 'a');
      await w.waitFor((out) => out.includes('iw/1'));
      w.writeLine('progress');
      const now = await revision();
      await w.waitFor((out) => /progress notify: \d+/.test(out));
      const notified = Number(/progress notify: (\d+)/.exec(w.stdout())?.[1]);
      assert.ok(notified >= now && notified >= from, `progress at ${notified}, current ${now}`);
    } finally {
      await w.stop();
    }
  });

  it('a watch below the compaction revision is cancelled with "required revision has been compacted"', async () => {
    await put('ck', '1');
    await put('ck', '2');
    const current = await revision();
    assert.equal((await etcdctl(t4.endpoint, ['compact', String(current)])).code, 0);
    const atCompaction = startEtcdctlWatch(t4.endpoint, ['watch', 'ck', `--rev=${current}`]);
    const below = startEtcdctlWatch(t4.endpoint, ['watch', 'ck', `--rev=${current - 1}`]);
    try {
      await atCompaction.waitFor((out) => out === 'PUT\nck\n2\n');
      await below.exited();
      assert.match(below.stderr(), /watch was canceled \(etcdserver: mvcc: required revision has been compacted\)/);
    } finally {
      await atCompaction.stop();
      await below.stop();
    }
  });
});
