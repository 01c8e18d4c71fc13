import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteMvccBackend } from '../../../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import { keyRange } from '../../../../src/domain/mvcc/key-range.js';
import type { KeyValue } from '../../../../src/domain/mvcc/types.js';
import { MvccModel } from '../../../contract/mvcc-backend.contract.js';
import { b, FROM_KEY, s } from '../../../support/domain-fixtures.js';

/**
 * A read-only SqliteMvccBackend (a serving process's reader, DESIGN-NOTES 7) on the database a
 * writer backend keeps applying batches to: it caches nothing (revisions come from `meta`), a
 * `snapshot` pins one committed state, and every write fails.
 */
describe('SqliteMvccBackend read-only', () => {
  const root = mkdtempSync(join(tmpdir(), 't4-read-only-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let dirs = 0;

  /** A writer with a, b, c at revisions 2..4, and a reader on the same file. */
  function open(): { writer: SqliteMvccBackend; reader: SqliteMvccBackend; model: MvccModel; path: string; close: () => void } {
    const path = join(mkdtempSync(join(root, `d${++dirs}-`)), 't4.sqlite');
    const writer = new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 });
    const model = new MvccModel();
    for (const k of ['a', 'b', 'c']) writer.apply(model.batch([[{ op: 'put', key: b(k), value: b(`${k}1`) }]]));
    const reader = new SqliteMvccBackend({ path, synchronous: 'normal', readOnly: true });
    return {
      writer,
      reader,
      model,
      path,
      close: () => {
        reader.close();
        writer.close();
      },
    };
  }

  const all = keyRange(b('a'), FROM_KEY);
  const pairs = (kvs: readonly KeyValue[]): string[] => kvs.map((kv) => `${s(kv.key)}=${s(kv.value)}@${kv.modRevision}`);

  it('sees what the writer committed before and after it opened', () => {
    const { writer, reader, model, close } = open();
    try {
      assert.equal(reader.currentRevision(), 4);
      assert.deepEqual(pairs(reader.range(all, reader.currentRevision(), 0)), ['a=a1@2', 'b=b1@3', 'c=c1@4']);
      writer.apply(model.batch([[{ op: 'put', key: b('a'), value: b('a2') }], [{ op: 'delete', key: b('b') }], [{ op: 'put', key: b('d'), value: b('d1') }]]));
      assert.equal(reader.currentRevision(), 7);
      assert.equal(s(reader.get(b('a'))?.value ?? new Uint8Array()), 'a2');
      assert.equal(reader.get(b('a'))?.version, 2);
      assert.equal(reader.get(b('b')), undefined);
      assert.deepEqual(pairs(reader.range(all, 7, 0)), ['a=a2@5', 'c=c1@4', 'd=d1@7']);
      assert.equal(reader.count(all, 7), 3);
      // History below the current revision, from the rows the writer kept.
      assert.deepEqual(pairs(reader.range(all, 4, 0)), ['a=a1@2', 'b=b1@3', 'c=c1@4']);
      assert.equal(reader.count(all, 4), 3);
      assert.deepEqual(pairs(reader.range(all, 7, 2)), ['a=a2@5', 'c=c1@4'], 'limit');
      // Watch catch-up reads the writer's changes too.
      assert.deepEqual(
        reader.changesBetween(4, 7, 0).map((c) => `${c.kind}:${s(c.kv.key)}@${c.main}`),
        ['put:a@5', 'delete:b@6', 'put:d@7'],
      );
    } finally {
      close();
    }
  });

  it('follows the writer revision and compaction revision (nothing cached)', () => {
    const { writer, reader, model, close } = open();
    try {
      assert.equal(reader.compactRevision(), writer.compactRevision());
      assert.equal(reader.compactRevision(), -1, 'never compacted');
      for (let i = 0; i < 5; i++) {
        writer.apply(model.batch([[{ op: 'put', key: b(`k${i}`), value: b('v') }]]));
        assert.equal(reader.currentRevision(), writer.currentRevision());
      }
      writer.apply(model.batch([[{ op: 'put', key: b('a'), value: b('a2') }]], 6));
      assert.equal(writer.compactRevision(), 6);
      assert.equal(reader.compactRevision(), 6);
      assert.equal(reader.currentRevision(), 10);
      // A compaction batch with no changes moves the compaction revision only.
      writer.apply(model.batch([], 9));
      assert.equal(reader.compactRevision(), 9);
      assert.equal(reader.currentRevision(), 10);
    } finally {
      close();
    }
  });

  it('pins one committed state inside snapshot: a write committed meanwhile shows only after it', () => {
    const { writer, reader, model, close } = open();
    try {
      const inside = reader.snapshot(() => {
        const before = { rev: reader.currentRevision(), kvs: pairs(reader.range(all, reader.currentRevision(), 0)), n: reader.count(all, reader.currentRevision()) };
        writer.apply(model.batch([[{ op: 'put', key: b('a'), value: b('a2') }], [{ op: 'delete', key: b('c') }], [{ op: 'put', key: b('e'), value: b('e1') }]], 3));
        assert.equal(writer.currentRevision(), 7, 'the writer committed while the reader is in its snapshot');
        const during = {
          rev: reader.currentRevision(),
          compacted: reader.compactRevision(),
          kvs: pairs(reader.range(all, reader.currentRevision(), 0)),
          n: reader.count(all, reader.currentRevision()),
          a: s(reader.get(b('a'))?.value ?? new Uint8Array()),
          e: reader.get(b('e')),
          changes: reader.changesBetween(4, 100, 0).length,
          nested: reader.snapshot(() => reader.currentRevision()),
        };
        return { before, during };
      });
      assert.deepEqual(inside.before, { rev: 4, kvs: ['a=a1@2', 'b=b1@3', 'c=c1@4'], n: 3 });
      assert.deepEqual(inside.during, { rev: 4, compacted: -1, kvs: ['a=a1@2', 'b=b1@3', 'c=c1@4'], n: 3, a: 'a1', e: undefined, changes: 0, nested: 4 });
      // After the snapshot: the new state.
      assert.equal(reader.currentRevision(), 7);
      assert.equal(reader.compactRevision(), 3);
      assert.deepEqual(pairs(reader.range(all, 7, 0)), ['a=a2@5', 'b=b1@3', 'e=e1@7']);
      assert.equal(reader.snapshot(() => reader.currentRevision()), 7, 'a new snapshot starts at the latest commit');
    } finally {
      close();
    }
  });

  it('releases the pin when the read inside snapshot throws', () => {
    const { writer, reader, model, close } = open();
    try {
      assert.throws(
        () =>
          reader.snapshot(() => {
            reader.currentRevision();
            throw new Error('read failed');
          }),
        /read failed/,
      );
      writer.apply(model.batch([[{ op: 'put', key: b('z'), value: b('z') }]]));
      assert.equal(reader.currentRevision(), 5);
      assert.equal(reader.snapshot(() => reader.get(b('z'))?.modRevision), 5);
    } finally {
      close();
    }
  });

  it('fails every write and leaves the database as the writer left it', async () => {
    const { writer, reader, model, close } = open();
    try {
      const next = model.batch([[{ op: 'put', key: b('x'), value: b('x') }]]);
      assert.throws(() => reader.apply(next));
      // A batch that starts where the reader believes the store is (it keeps no revision of its own).
      assert.throws(() => reader.apply({ fromRevision: 1, toRevision: 2, changes: [], compactRevision: undefined }), /read-only/);
      assert.throws(() => reader.defragment());
      assert.equal(reader.get(b('x')), undefined);
      assert.equal(reader.currentRevision(), 4);
      // The writer is unaffected and goes on.
      writer.apply(next);
      assert.equal(s(reader.get(b('x'))?.value ?? new Uint8Array()), 'x');
      assert.equal(await reader.durableCheckpoint().then(() => reader.currentRevision()), 5);
    } finally {
      close();
    }
  });

  // purgeStep is a write: on a read-only backend it must fail, never answer "no purge pending".
  it('fails purgeStep (a write) instead of reporting "no purge pending"', () => {
    const { writer, reader, model, close } = open();
    try {
      writer.apply(model.batch([[{ op: 'put', key: b('a'), value: b('a2') }]], 4));
      assert.throws(() => reader.purgeStep(100));
    } finally {
      close();
    }
  });

  it('refuses to open a missing file, and names why', () => {
    const path = join(root, 'no-such-dir', 'missing.sqlite');
    assert.throws(
      () => new SqliteMvccBackend({ path, synchronous: 'normal', readOnly: true }),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(error.message, /unable to open database file|does not exist|no such file/i);
        return true;
      },
    );
    const missingInExistingDir = join(mkdtempSync(join(root, 'empty-')), 'missing.sqlite');
    assert.throws(() => new SqliteMvccBackend({ path: missingInExistingDir, synchronous: 'normal', readOnly: true }), /unable to open database file|does not exist|no such file/i);
  });

  it('refuses a database of another schema version', () => {
    const path = join(mkdtempSync(join(root, 'schema-')), 't4.sqlite');
    new SqliteMvccBackend({ path, synchronous: 'normal', checkpointIntervalMs: 3_600_000 }).close();
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = 99 WHERE name = 'schema_version'").run();
    db.close();
    assert.throws(() => new SqliteMvccBackend({ path, synchronous: 'normal', readOnly: true }), /database schema version 99 is not supported/);
  });

  it('reads a database whose writer has closed', () => {
    const { writer, reader, model, path } = open();
    writer.apply(model.batch([[{ op: 'put', key: b('last'), value: b('1') }]]));
    writer.close();
    try {
      assert.equal(reader.currentRevision(), 5);
      assert.equal(s(reader.get(b('last'))?.value ?? new Uint8Array()), '1');
      const late = new SqliteMvccBackend({ path, synchronous: 'normal', readOnly: true });
      try {
        assert.equal(late.currentRevision(), 5);
        assert.deepEqual(pairs(late.range(all, 5, 0)), ['a=a1@2', 'b=b1@3', 'c=c1@4', 'last=1@5']);
      } finally {
        late.close();
      }
    } finally {
      reader.close();
    }
  });
});
