import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { InMemoryMvccBackend } from '../../src/adapters/memory/in-memory-mvcc-backend.js';
import { SqliteMvccBackend } from '../../src/adapters/sqlite/sqlite-mvcc-backend.js';
import type { MvccBackend } from '../../src/ports/mvcc-backend.js';
import { describeMvccBackendContract } from './mvcc-backend.contract.js';
import { DeferredApplyBackend } from '../../src/domain/write/deferred-apply-backend.js';
import type { Scheduler } from '../../src/ports/scheduler.js';
import { TestLogger } from '../support/domain-fixtures.js';

describeMvccBackendContract('InMemoryMvccBackend', () => new InMemoryMvccBackend(), {
  historyRows: (backend) => (backend as InMemoryMvccBackend).historyRows(),
});

describeMvccBackendContract('SqliteMvccBackend :memory:', () => new SqliteMvccBackend({ path: ':memory:', synchronous: 'normal' }));

const dir = mkdtempSync(join(tmpdir(), 't4-mvcc-contract-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const paths = new WeakMap<MvccBackend, string>();
let files = 0;

function openFile(path: string): SqliteMvccBackend {
  const backend = new SqliteMvccBackend({ path, synchronous: 'normal' });
  paths.set(backend, path);
  return backend;
}

describeMvccBackendContract('SqliteMvccBackend file', () => openFile(join(dir, `store-${++files}.sqlite`)), {
  reopen: (backend) => {
    const path = paths.get(backend);
    if (path === undefined) throw new Error('not a file backend of this suite');
    backend.close();
    return openFile(path);
  },
  historyRows: (backend) => {
    const path = paths.get(backend);
    if (path === undefined) throw new Error('not a file backend of this suite');
    const db = new Database(path, { readonly: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM history').get() as { n: number }).n;
    } finally {
      db.close();
    }
  },
});

// The decorator every T4 node reads and writes through: applies are queued and run at the next
// read, so the contract (apply, then read) exercises the read-applies-first path on every call.
const neverYields: Scheduler = { yield: () => new Promise<void>(() => undefined) };
describeMvccBackendContract('DeferredApplyBackend over SqliteMvccBackend :memory:', () =>
  new DeferredApplyBackend(new SqliteMvccBackend({ path: ':memory:', synchronous: 'normal' }), neverYields, new TestLogger()),
);
const inners = new WeakMap<MvccBackend, InMemoryMvccBackend>();
describeMvccBackendContract(
  'DeferredApplyBackend over InMemoryMvccBackend',
  () => {
    const inner = new InMemoryMvccBackend();
    const backend = new DeferredApplyBackend(inner, neverYields, new TestLogger());
    inners.set(backend, inner);
    return backend;
  },
  {
    historyRows: (backend) => {
      (backend as DeferredApplyBackend).settle();
      const inner = inners.get(backend);
      if (inner === undefined) throw new Error('not a backend of this suite');
      return inner.historyRows();
    },
  },
);
