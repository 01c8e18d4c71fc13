import type { AuthState } from '../../domain/auth/types.js';
import { decodeAuthState, encodeAuthState } from '../../domain/auth/auth-codec.js';
import Database from 'better-sqlite3';
import { assert } from '../../domain/assert.js';
import { bytesToMapKey } from '../../domain/bytes.js';
import type { KeyRange } from '../../domain/mvcc/key-range.js';
import { INITIAL_REVISION, NEVER_COMPACTED, type Change, type CommittedBatch, type KeyValue, type LeaseId, type Revision } from '../../domain/mvcc/types.js';
import type { MvccBackend, StorageSize, StoredLease } from '../../ports/mvcc-backend.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { compareBytes } from '../../domain/bytes.js';
import {
  decodeKeyValueRecord,
  encodeKeyValueRecord,
  frameKeyValueRecord,
  framedRecordAt,
  keyOfKeyValueRecord,
  unframeKeyValueRecord,
} from '../../domain/mvcc/key-value-record.js';
import type { Logger } from '../../ports/logger.js';

/**
 * The MVCC store in SQLite (DESIGN-NOTES 3).
 *
 *  history(key, main, sub, create_rev, version, lease, value, tombstone)  PK (key, main)
 *      every version of every key since the last compaction, one row per key and main revision:
 *      when a txn changes a key twice (etcd allows a from-key delete and a put of the same key),
 *      the row holds its last change. Index (main, sub) serves compaction and watch replay.
 *      The current version's row has value NULL (and tombstone 0): its value is in live_records,
 *      stored once; the change that supersedes it writes the value into the row. (A tombstone's
 *      value is NULL too; an empty value is a zero-length blob, never NULL.)
 *  live(key, main, lease)  PK key
 *      the current version of each existing key: counts are a covering-index count here, and
 *      the lease index.
 *  live_records(key, record)  PK key
 *      the current version of each existing key as one framed mvccpb.KeyValue record
 *      (domain/mvcc/key-value-record.ts): a current-revision Range is one scan of this table, and
 *      a page of it is the concatenation of its records (currentRecords).
 *  meta(name, value)
 *      current_revision, compact_revision, purged_revision (compaction finished up to),
 *      purge_cursor_main/sub (where an unfinished purge resumes), schema_version.
 *  auth(id = 1, state)
 *      the auth state (domain/auth/auth-codec.ts) as of the last batch that changed it, written in
 *      that batch's transaction; kept decoded in memory (checks read it on every request). The
 *      table is created on open, so databases from before it need no migration.
 *
 * A historical Range at R groups history rows by key and keeps each key's newest row at or below
 * R (SQLite's bare-column MAX rule), dropping tombstones.
 */
export interface SqliteMvccBackendOptions {
  /** Path of the database file; ':memory:' for tests. */
  readonly path: string;
  /**
   * 'full': every applied batch is durable on its own (no WAL in front). 'normal': a WAL in front
   * is the durable record and SQLite may lose its last transactions on power loss.
   */
  readonly synchronous: 'full' | 'normal';
  /** How often a background checkpoint runs when something was applied (default 1000 ms). */
  readonly checkpointIntervalMs?: number;
  /** How much of SQLite's -wal file is kept once checkpointed (default 64 MiB). */
  readonly walFileBytesKept?: number;
  /**
   * A read-only connection to a database another process writes (a serving process, DESIGN-NOTES
   * 7): nothing is cached (revisions are read from `meta`), reads that must agree run inside
   * `snapshot`, and every write method fails.
   */
  readonly readOnly?: boolean;
  /** Where a schema upgrade on open reports its progress. */
  readonly logger?: Logger;
}

/**
 * 1: history, live (key, main, lease), leases, auth. 2: live_records, the current value of each
 * live key as one KeyValue record (domain/mvcc/key-value-record.ts), so reads of current values
 * are one scan of one table instead of a join with history; a version-1 database gets the table
 * filled from that join when the writer opens it.
 */
const SCHEMA_VERSION = 2;
const MAX_SUB = 2 ** 31;
/** Current versions kept in memory for `get` (see `recent`): about 4 MiB with 64-byte keys and 256-byte values. */
const RECENT_KEYS_MAX = 10_000;
const WAL_FILE_BYTES_KEPT = 64 * 1024 * 1024;

interface Row {
  key: Buffer;
  create_rev: bigint;
  main: bigint;
  version: bigint;
  lease: bigint;
  value: Buffer | null;
  /** History queries: the live record of a current version (whose row's value is NULL). */
  current_record?: Buffer | null;
}

type Stmt = Database.Statement<unknown[], unknown>;

interface ChangeRow extends Row {
  sub: bigint;
  tombstone: bigint;
  p_main: bigint | null;
  p_create_rev: bigint | null;
  p_version: bigint | null;
  p_lease: bigint | null;
  p_value: Buffer | null;
  p_tombstone: bigint | null;
}

export class SqliteMvccBackend implements MvccBackend {
  private readonly db: Database.Database;
  private current: Revision;
  private compacted: Revision;
  private readonly stmts: ReturnType<typeof prepare>;
  private readonly applyTxn: (batch: CommittedBatch) => void;
  private closed = false;
  /** The auth state as last applied, decoded once (checks read it on every request). */
  private auth: AuthState | undefined;

  constructor(options: SqliteMvccBackendOptions) {
    this.readOnly = options.readOnly === true;
    if (this.readOnly) {
      this.db = new Database(options.path, { readonly: true, fileMustExist: true });
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('cache_size = -65536');
      checkSchemaVersion(this.db);
      this.stmts = prepare(this.db);
      this.current = INITIAL_REVISION;
      this.compacted = NEVER_COMPACTED;
      this.applyTxn = () => assert(false, 'a read-only backend applies nothing');
      this.recent = undefined;
      this.readTxn = this.db.transaction((read: () => unknown) => read());
      this.checkpointer = undefined;
      this.checkpointTimer = undefined;
      return;
    }
    this.readTxn = (read) => read();
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('temp_store = MEMORY');
    this.db.pragma('cache_size = -65536');
    this.db.pragma('busy_timeout = 5000');
    // Checkpoints copy pages and fsync; run on the event loop they stall every request. File
    // databases checkpoint on a worker thread instead (SqliteCheckpointer), on a timer and when
    // the WAL asks for a durable point.
    this.db.pragma(`wal_autocheckpoint = ${options.path === ':memory:' ? 1000 : 0}`);
    // A burst of writes between checkpoints grows the -wal file; SQLite reuses it from the start
    // after a full checkpoint but never shrinks it unless told to. Keep at most this much of it.
    this.db.pragma(`journal_size_limit = ${options.walFileBytesKept ?? WAL_FILE_BYTES_KEPT}`);
    createSchema(this.db, options.logger);
    this.stmts = prepare(this.db);
    this.current = this.readMeta('current_revision') ?? INITIAL_REVISION;
    this.compacted = this.readMeta('compact_revision') ?? NEVER_COMPACTED;
    this.applyTxn = this.db.transaction((batch: CommittedBatch) => this.applyInTxn(batch));
    this.recent = new Map();
    const authRow = this.stmts.getAuth.get() as { state: Uint8Array } | undefined;
    this.auth = authRow === undefined ? undefined : decodeAuthState(authRow.state);
    if (options.path !== ':memory:') {
      this.checkpointer = new SqliteCheckpointer(options.path);
      this.checkpointTimer = setInterval(() => void this.backgroundCheckpoint(), options.checkpointIntervalMs ?? 1000);
      this.checkpointTimer.unref();
    }
  }

  private readonly checkpointer: SqliteCheckpointer | undefined;
  private readonly checkpointTimer: NodeJS.Timeout | undefined;
  /**
   * The current version of the keys written most recently (at most RECENT_KEYS_MAX, oldest
   * dropped first), kept by `apply`: every put reads its key's current version, and the keys a
   * workload writes are mostly the ones it wrote before. Only on the writer: nothing else changes
   * `live_records` while it is open.
   */
  private readonly recent: Map<string, KeyValue> | undefined;
  private readonly readOnly: boolean;
  private readonly readTxn: (read: () => unknown) => unknown;
  /** Inside `snapshot` of a read-only backend: the revisions of that snapshot. */
  private pinned: { current: Revision; compacted: Revision } | undefined;
  /** Highest revision known to be in the synced database file. */
  private durable: Revision = 0;
  private appliedSinceCheckpoint = true;
  private checkpointing: Promise<Revision> | undefined;

  private async backgroundCheckpoint(): Promise<void> {
    if (!this.appliedSinceCheckpoint || this.checkpointing !== undefined) return;
    try {
      await this.durableCheckpoint();
    } catch {
      // The next timer tick tries again; durableCheckpoint callers see their own errors.
    }
  }

  currentRevision(): Revision {
    if (!this.readOnly) return this.current;
    return this.pinned?.current ?? this.readMeta('current_revision') ?? INITIAL_REVISION;
  }

  compactRevision(): Revision {
    if (!this.readOnly) return this.compacted;
    return this.pinned?.compacted ?? this.readMeta('compact_revision') ?? NEVER_COMPACTED;
  }

  /**
   * Runs `read` against one consistent state of the database. The writer's own connection is
   * always consistent between its (synchronous) applies; a read-only connection opens a read
   * transaction, so the revisions and rows `read` sees belong to the same committed batch.
   */
  snapshot<T>(read: () => T): T {
    if (!this.readOnly || this.pinned !== undefined) return read();
    return this.readTxn(() => {
      this.pinned = { current: this.readMeta('current_revision') ?? INITIAL_REVISION, compacted: this.readMeta('compact_revision') ?? NEVER_COMPACTED };
      try {
        return read();
      } finally {
        this.pinned = undefined;
      }
    }) as T;
  }

  get(key: Uint8Array): KeyValue | undefined {
    if (this.recent !== undefined) {
      const cached = this.recent.get(bytesToMapKey(key));
      if (cached !== undefined) return cached;
    }
    const record = this.stmts.getCurrent.get(key) as Buffer | undefined;
    return record === undefined ? undefined : decodeKeyValueRecord(unframeKeyValueRecord(toBytes(record)));
  }

  range(range: KeyRange, revision: Revision, limit: number): KeyValue[] {
    const sqlLimit = limit > 0 ? limit : -1;
    const historical = revision < this.currentRevision();
    const s = historical ? this.stmts.history : this.stmts.live;
    if (!historical) {
      const l = this.stmts.live;
      let records: Buffer[];
      switch (range.kind) {
        case 'single':
          records = l.single.all(range.key) as Buffer[];
          break;
        case 'fromKey':
          records = l.fromKey.all(range.key, sqlLimit) as Buffer[];
          break;
        case 'interval':
          records = l.interval.all(range.key, range.end, sqlLimit) as Buffer[];
          break;
      }
      const kvs = new Array<KeyValue>(records.length);
      for (let i = 0; i < records.length; i++) kvs[i] = decodeKeyValueRecord(unframeKeyValueRecord(toBytes(records[i]!)));
      return kvs;
    }
    const h = this.stmts.history;
    let rows: Row[];
    switch (range.kind) {
      case 'single':
        rows = h.single.all(range.key, revision) as Row[];
        break;
      case 'fromKey':
        rows = h.fromKey.all(range.key, revision, sqlLimit) as Row[];
        break;
      case 'interval':
        rows = h.interval.all(range.key, range.end, revision, sqlLimit) as Row[];
        break;
    }
    return rows.map(toKeyValue);
  }

  /**
   * A page of current values as one buffer: SQLite concatenates the framed records of the page
   * (group_concat over the key-ordered scan) and the whole page crosses into JavaScript as one
   * value instead of a row object per key. The order is checked while counting the records; a page
   * that does not come back in key order is refused (undefined: the caller reads it row by row).
   */
  currentRecords(range: KeyRange, limit: number): { records: Uint8Array; n: number } | undefined {
    const c = this.stmts.concat;
    let row: { page: Buffer | null };
    switch (range.kind) {
      case 'single':
        row = c.single.get(range.key) as { page: Buffer | null };
        break;
      case 'fromKey':
        row = c.fromKey.get(range.key, limit > 0 ? limit : -1) as { page: Buffer | null };
        break;
      case 'interval':
        row = c.interval.get(range.key, range.end, limit > 0 ? limit : -1) as { page: Buffer | null };
        break;
    }
    if (row.page === null) return { records: EMPTY, n: 0 };
    const records = toBytes(row.page);
    let n = 0;
    let previous: Uint8Array | undefined;
    for (let at = 0; at < records.byteLength; ) {
      const { start, end } = framedRecordAt(records, at);
      const key = keyOfKeyValueRecord(records, start, end);
      if (previous !== undefined && compareBytes(previous, key) >= 0) return undefined;
      previous = key;
      n++;
      at = end;
    }
    return { records, n };
  }

  count(range: KeyRange, revision: Revision): number {
    const historical = revision < this.currentRevision();
    const s = historical ? this.stmts.historyCount : this.stmts.liveCount;
    let row: { n: bigint };
    switch (range.kind) {
      case 'single':
        row = (historical ? s.single.get(range.key, revision) : s.single.get(range.key)) as { n: bigint };
        break;
      case 'fromKey':
        row = (historical ? s.fromKey.get(range.key, revision) : s.fromKey.get(range.key)) as { n: bigint };
        break;
      case 'interval':
        row = (historical ? s.interval.get(range.key, range.end, revision) : s.interval.get(range.key, range.end)) as {
          n: bigint;
        };
        break;
    }
    return Number(row.n);
  }

  apply(batch: CommittedBatch): void {
    assert(!this.closed, 'apply on a closed backend');
    assert(batch.fromRevision === this.current, `batch starts at ${batch.fromRevision}, store is at ${this.current}`);
    this.applyTxn(batch);
    this.remember(batch);
    this.appliedSinceCheckpoint = true;
    this.current = batch.toRevision;
    if (batch.compactRevision !== undefined) this.compacted = batch.compactRevision;
    if (batch.authState !== undefined) this.auth = batch.authState;
  }

  authState(): AuthState | undefined {
    return this.auth;
  }

  changesBetween(afterRevision: Revision, toRevision: Revision, limit: number): Change[] {
    const rows = this.stmts.changesBetween.all(afterRevision, toRevision, limit > 0 ? limit : -1) as ChangeRow[];
    return rows.map((r) => {
      const main = Number(r.main);
      // A previous version is superseded by this change, so its row has its value.
      assert(r.p_main === null || r.p_tombstone !== 0n || r.p_value !== null, 'a superseded history row has its value');
      const prev: KeyValue | undefined =
        r.p_main === null || r.p_tombstone !== 0n
          ? undefined
          : toKeyValue({ key: r.key, main: r.p_main, create_rev: r.p_create_rev as bigint, version: r.p_version as bigint, lease: r.p_lease as bigint, value: r.p_value });
      if (r.tombstone !== 0n) {
        return { kind: 'delete', main, sub: Number(r.sub), prev, kv: { key: toBytes(r.key), value: EMPTY, lease: 0n, createRevision: 0, modRevision: main, version: 0 } };
      }
      return { kind: 'put', main, sub: Number(r.sub), prev, kv: toKeyValue(r) };
    });
  }

  leases(): StoredLease[] {
    return (this.stmts.allLeases.all() as { id: bigint; ttl_seconds: bigint }[]).map((r) => ({ id: r.id, ttlSeconds: Number(r.ttl_seconds) }));
  }

  keysWithLease(id: LeaseId): Uint8Array[] {
    return (this.stmts.keysWithLease.all(id) as { key: Buffer }[]).map((r) => toBytes(r.key));
  }

  purgeStep(rowsMax: number): boolean {
    // A write: a read-only connection never loads the compaction state it would compare against.
    assert(!this.readOnly, 'a read-only backend purges nothing');
    const purged = this.readMeta('purged_revision') ?? NEVER_COMPACTED;
    if (purged >= this.compacted) return true;
    const cursorMain = this.readMeta('purge_cursor_main') ?? 0;
    const cursorSub = this.readMeta('purge_cursor_sub') ?? MAX_SUB;
    let done = false;
    this.db.transaction(() => {
      const rows = this.stmts.purgeScan.all(cursorMain, cursorMain, cursorSub, this.compacted, rowsMax) as {
        key: Buffer;
        main: bigint;
        sub: bigint;
        tombstone: bigint;
      }[];
      for (const row of rows) {
        this.stmts.purgeOlder.run(row.key, row.main);
        // A deletion at the compaction revision itself stays: a watch from that revision must see
        // it (etcd keeps it since etcd-io/etcd#18274; reads at >= C find the key absent either way).
        if (row.tombstone !== 0n && Number(row.main) < this.compacted) this.stmts.purgeRow.run(row.key, row.main);
      }
      const last = rows[rows.length - 1];
      if (last !== undefined) {
        this.writeMeta('purge_cursor_main', Number(last.main));
        this.writeMeta('purge_cursor_sub', Number(last.sub));
      }
      if (rows.length < rowsMax) {
        this.writeMeta('purged_revision', this.compacted);
        // The next purge starts by revisiting this revision's rows: a tombstone kept at exactly
        // this compaction revision (below) goes once a later compaction passes it.
        this.writeMeta('purge_cursor_main', this.compacted);
        this.writeMeta('purge_cursor_sub', -1);
        done = true;
      }
    })();
    return done;
  }

  /**
   * A checkpoint that starts after every batch applied before this call: its result covers them.
   * A checkpoint already in flight may have started before the latest batches (a compaction or a
   * lease grant takes no revision, so the revision alone cannot tell), so a new one is chained
   * after it rather than its result reused.
   */
  durableCheckpoint(): Promise<Revision> {
    if (this.checkpointer === undefined) return Promise.resolve(this.current);
    const checkpointer = this.checkpointer;
    const previous = this.checkpointing;
    const run: Promise<Revision> = (async () => {
      if (previous !== undefined) await previous.catch(() => undefined);
      // Every transaction committed before the checkpoint starts is in the frames it sees; when it
      // copies all of them it has synced the database file.
      const revision = this.current;
      this.appliedSinceCheckpoint = false;
      const result = await checkpointer.checkpoint('PASSIVE');
      if (!result.busy && result.checkpointedFrames === result.logFrames) this.durable = Math.max(this.durable, revision);
      else this.appliedSinceCheckpoint = true;
      return this.durable;
    })().finally(() => {
      if (this.checkpointing === run) this.checkpointing = undefined;
    });
    this.checkpointing = run;
    return run;
  }

  size(): StorageSize {
    const pageSize = Number(this.db.pragma('page_size', { simple: true }));
    const pages = Number(this.db.pragma('page_count', { simple: true }));
    const free = Number(this.db.pragma('freelist_count', { simple: true }));
    return { dbSizeBytes: pageSize * pages, dbSizeInUseBytes: pageSize * (pages - free) };
  }

  defragment(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /**
   * Copies the database to a new file at `path` with SQLite's online backup, page by page, on this
   * connection: pages that batches applied between steps change are written to the copy too (SQLite
   * does this for writes through the source connection), so the copy is consistent at its completion.
   * `step` is called after each step and returns how many pages the next one copies. Rejects when
   * the store is closed before the copy completes (the partial file is removed).
   */
  async backupTo(path: string, step: (progress: { totalPages: number; remainingPages: number }) => number): Promise<void> {
    if (this.closed) throw new Error('cannot copy a closed store');
    try {
      await this.db.backup(path, { progress: step });
    } catch (error) {
      if (this.closed) throw new Error('the store was closed before its copy completed', { cause: error });
      throw error;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.readOnly) {
      this.db.close();
      return;
    }
    if (this.checkpointTimer !== undefined) clearInterval(this.checkpointTimer);
    this.checkpointer?.close();
    // Leave a compact database behind: the last connection to close checkpoints the SQLite WAL.
    this.db.close();
  }

  /** Keeps the current versions `batch` made (after its transaction committed). */
  private remember(batch: CommittedBatch): void {
    const recent = this.recent;
    if (recent === undefined) return;
    for (const c of batch.changes) {
      const key = bytesToMapKey(c.kv.key);
      recent.delete(key);
      // Copies: the key and value may be views into a request's network buffer, which a cache
      // entry would otherwise keep alive whole.
      // (new Uint8Array(x) copies; Buffer#slice would not.)
      if (c.kind === 'put') recent.set(key, { ...c.kv, key: new Uint8Array(c.kv.key), value: new Uint8Array(c.kv.value) });
    }
    if (recent.size > RECENT_KEYS_MAX) {
      let excess = recent.size - RECENT_KEYS_MAX;
      for (const key of recent.keys()) {
        if (excess-- <= 0) break;
        recent.delete(key);
      }
    }
  }

  private applyInTxn(batch: CommittedBatch): void {
    const s = this.stmts;
    for (const c of batch.changes) {
      const kv = c.kv;
      // The version this change supersedes gets its value back in its history row. A batch from the
      // write pipeline carries it; one decoded from a WAL (replay, restore) does not: read it from
      // this transaction (not the in-memory cache, which learns this batch only after it commits).
      let prev = c.prev;
      if (prev === undefined) {
        const record = s.getCurrent.get(kv.key) as Buffer | undefined;
        if (record !== undefined) prev = decodeKeyValueRecord(unframeKeyValueRecord(toBytes(record)));
      }
      if (prev !== undefined) {
        const filled = s.fillValue.run(prev.value, prev.key, prev.modRevision);
        assert(filled.changes === 1, 'the version a change supersedes has its history row');
      }
      if (c.kind === 'put') {
        s.insertHistory.run(kv.key, c.main, c.sub, kv.createRevision, kv.version, kv.lease, null, 0);
        s.upsertLive.run(kv.key, c.main, kv.lease);
        assert(kv.modRevision === c.main, 'a put carries its own revision');
        s.upsertRecord.run(kv.key, frameKeyValueRecord(encodeKeyValueRecord(kv)));
      } else {
        s.insertHistory.run(kv.key, c.main, c.sub, 0, 0, 0n, null, 1);
        s.deleteLive.run(kv.key);
        s.deleteRecord.run(kv.key);
      }
    }
    for (const l of batch.leaseChanges ?? []) {
      if (l.kind === 'grant') s.grantLease.run(l.id, l.ttlSeconds);
      else s.revokeLease.run(l.id);
    }
    if (batch.authState !== undefined) s.setAuth.run(encodeAuthState(batch.authState));
    if (batch.toRevision !== batch.fromRevision) this.writeMeta('current_revision', batch.toRevision);
    if (batch.compactRevision !== undefined) {
      assert(batch.compactRevision > this.compacted, 'compaction revision must advance');
      this.writeMeta('compact_revision', batch.compactRevision);
    }
  }

  private readMeta(name: string): number | undefined {
    const row = this.stmts.getMeta.get(name) as { value: bigint } | undefined;
    return row === undefined ? undefined : Number(row.value);
  }

  private writeMeta(name: string, value: number): void {
    this.stmts.setMeta.run(name, value);
  }
}

function createSchema(db: Database.Database, logger: Logger | undefined): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS history (
      key BLOB NOT NULL, main INTEGER NOT NULL, sub INTEGER NOT NULL,
      create_rev INTEGER NOT NULL, version INTEGER NOT NULL, lease INTEGER NOT NULL,
      value BLOB, tombstone INTEGER NOT NULL,
      PRIMARY KEY (key, main)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS history_by_revision ON history (main, sub);
    CREATE TABLE IF NOT EXISTS live (key BLOB PRIMARY KEY, main INTEGER NOT NULL, lease INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS live_by_lease ON live (lease) WHERE lease != 0;
    CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, ttl_seconds INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS auth (id INTEGER PRIMARY KEY CHECK (id = 1), state BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS live_records (key BLOB PRIMARY KEY, record BLOB NOT NULL) WITHOUT ROWID;
  `);
  const version = schemaVersion(db);
  if (version === undefined) {
    db.prepare("INSERT INTO meta (name, value) VALUES ('schema_version', ?)").run(SCHEMA_VERSION);
  } else if (version === 1) {
    migrateFromVersion1(db, logger);
  } else if (version !== SCHEMA_VERSION) {
    throw new Error(`database schema version ${version} is not supported by this T4 (expects ${SCHEMA_VERSION})`);
  }
}

/** Version 1 had no live_records: fill it from the live/history join, a page of keys at a time, in one transaction. */
function migrateFromVersion1(db: Database.Database, logger: Logger | undefined): void {
  const total = Number((db.prepare('SELECT COUNT(*) AS n FROM live').get() as { n: number }).n);
  logger?.info({ keys: total }, 'upgrading the database to schema version 2 (one record per live key)');
  const page = db
    .prepare(
      'SELECT h.key, h.create_rev, h.main, h.version, h.lease, h.value FROM live l CROSS JOIN history h ON h.key = l.key AND h.main = l.main ' +
        'WHERE l.key > ? ORDER BY l.key LIMIT 10000',
    )
    .safeIntegers(true);
  const insert = db.prepare('INSERT INTO live_records (key, record) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET record = excluded.record');
  db.transaction(() => {
    let after: Buffer = Buffer.alloc(0);
    let done = 0;
    for (;;) {
      const rows = page.all(after) as Row[];
      for (const row of rows) insert.run(row.key, frameKeyValueRecord(encodeKeyValueRecord(toKeyValue(row))));
      done += rows.length;
      if (rows.length > 0) logger?.info({ keys: done, of: total }, 'schema upgrade progress');
      const last = rows[rows.length - 1];
      if (last === undefined) break;
      after = last.key;
    }
    db.prepare("UPDATE meta SET value = ? WHERE name = 'schema_version'").run(SCHEMA_VERSION);
  })();
}

function schemaVersion(db: Database.Database): number | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").get() as { value: number } | undefined;
  return row?.value;
}

/** A read-only connection reads only the current schema (the writer upgrades a database on open). */
function checkSchemaVersion(db: Database.Database): void {
  const version = schemaVersion(db);
  if (version !== SCHEMA_VERSION) {
    throw new Error(`database schema version ${version ?? 'none'} is not supported by this T4 (expects ${SCHEMA_VERSION})`);
  }
}

/** The framed records of a key-ordered subquery, concatenated into one blob (X'' keeps it binary). */
const CONCAT = "CAST(group_concat(record, X'') AS BLOB)";

/** The newest row per key; a current row (value NULL) brings its record from live_records. */
const HIST_COLUMNS =
  'key, create_rev, MAX(main) AS main, version, lease, value, tombstone, ' +
  'CASE WHEN value IS NULL AND tombstone = 0 THEN (SELECT record FROM live_records r WHERE r.key = history.key) END AS current_record';

function prepare(db: Database.Database) {
  const p = (sql: string): Stmt => db.prepare(sql).safeIntegers(true);
  /** One column per row, returned as the value itself (a Buffer) rather than a row object. */
  const record = (sql: string): Stmt => db.prepare(sql).pluck(true);
  const histCount = (where: string): Stmt =>
    p(`SELECT COUNT(*) AS n FROM (SELECT MAX(main), tombstone FROM history WHERE ${where} GROUP BY key HAVING tombstone = 0)`);
  return {
    getMeta: p('SELECT value FROM meta WHERE name = ?'),
    getAuth: p('SELECT state FROM auth WHERE id = 1'),
    setAuth: p('INSERT INTO auth (id, state) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state'),
    setMeta: p('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value'),
    getCurrent: record('SELECT record FROM live_records WHERE key = ?'),
    concat: {
      single: p(`SELECT ${CONCAT} AS page FROM (SELECT record FROM live_records WHERE key = ?)`),
      fromKey: p(`SELECT ${CONCAT} AS page FROM (SELECT record FROM live_records WHERE key >= ? ORDER BY key LIMIT ?)`),
      interval: p(`SELECT ${CONCAT} AS page FROM (SELECT record FROM live_records WHERE key >= ? AND key < ? ORDER BY key LIMIT ?)`),
    },
    live: {
      single: record('SELECT record FROM live_records WHERE key = ?'),
      fromKey: record('SELECT record FROM live_records WHERE key >= ? ORDER BY key LIMIT ?'),
      interval: record('SELECT record FROM live_records WHERE key >= ? AND key < ? ORDER BY key LIMIT ?'),
    },
    history: {
      single: p(`SELECT ${HIST_COLUMNS} FROM history WHERE key = ? AND main <= ? GROUP BY key HAVING tombstone = 0`),
      fromKey: p(
        `SELECT ${HIST_COLUMNS} FROM history WHERE key >= ? AND main <= ? GROUP BY key HAVING tombstone = 0 ORDER BY key LIMIT ?`,
      ),
      interval: p(
        `SELECT ${HIST_COLUMNS} FROM history WHERE key >= ? AND key < ? AND main <= ? GROUP BY key HAVING tombstone = 0 ORDER BY key LIMIT ?`,
      ),
    },
    liveCount: {
      single: p('SELECT COUNT(*) AS n FROM live WHERE key = ?'),
      fromKey: p('SELECT COUNT(*) AS n FROM live WHERE key >= ?'),
      interval: p('SELECT COUNT(*) AS n FROM live WHERE key >= ? AND key < ?'),
    },
    historyCount: {
      single: histCount('key = ? AND main <= ?'),
      fromKey: histCount('key >= ? AND main <= ?'),
      interval: histCount('key >= ? AND key < ? AND main <= ?'),
    },
    insertHistory: p(
      'INSERT INTO history (key, main, sub, create_rev, version, lease, value, tombstone) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT(key, main) DO UPDATE SET sub = excluded.sub, create_rev = excluded.create_rev, version = excluded.version, ' +
        'lease = excluded.lease, value = excluded.value, tombstone = excluded.tombstone',
    ),
    /** Writes a superseded version's value into its row (it was NULL while current). */
    fillValue: p('UPDATE history SET value = ? WHERE key = ? AND main = ?'),
    upsertLive: p('INSERT INTO live (key, main, lease) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET main = excluded.main, lease = excluded.lease'),
    grantLease: p('INSERT INTO leases (id, ttl_seconds) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET ttl_seconds = excluded.ttl_seconds'),
    revokeLease: p('DELETE FROM leases WHERE id = ?'),
    allLeases: p('SELECT id, ttl_seconds FROM leases ORDER BY id'),
    keysWithLease: p('SELECT key FROM live WHERE lease = ? AND lease != 0 ORDER BY key'),
    changesBetween: p(
      `SELECT h.key, h.main, h.sub, h.create_rev, h.version, h.lease, h.value, h.tombstone,
              CASE WHEN h.value IS NULL AND h.tombstone = 0 THEN (SELECT record FROM live_records r WHERE r.key = h.key) END AS current_record,
              p.main AS p_main, p.create_rev AS p_create_rev, p.version AS p_version, p.lease AS p_lease, p.value AS p_value, p.tombstone AS p_tombstone
         FROM history h
         LEFT JOIN history p ON p.key = h.key AND p.main = (SELECT MAX(main) FROM history WHERE key = h.key AND main < h.main)
        WHERE h.main > ? AND h.main <= ? ORDER BY h.main, h.sub LIMIT ?`,
    ),
    deleteLive: p('DELETE FROM live WHERE key = ?'),
    upsertRecord: p('INSERT INTO live_records (key, record) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET record = excluded.record'),
    deleteRecord: p('DELETE FROM live_records WHERE key = ?'),
    purgeScan: p(
      'SELECT key, main, sub, tombstone FROM history WHERE (main > ? OR (main = ? AND sub > ?)) AND main <= ? ORDER BY main, sub LIMIT ?',
    ),
    purgeOlder: p('DELETE FROM history WHERE key = ? AND main < ?'),
    purgeRow: p('DELETE FROM history WHERE key = ? AND main = ?'),
  };
}

const EMPTY = new Uint8Array(0);

function toBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function toKeyValue(row: Row): KeyValue {
  if (row.current_record !== undefined && row.current_record !== null) {
    const current = decodeKeyValueRecord(unframeKeyValueRecord(toBytes(row.current_record)));
    assert(current.modRevision === Number(row.main), 'a history row with no value is the current version in live_records');
    return current;
  }
  assert(row.value !== null || row.current_record === undefined, 'a history row with no value has a current record');
  return {
    key: toBytes(row.key),
    createRevision: Number(row.create_rev),
    modRevision: Number(row.main),
    version: Number(row.version),
    lease: row.lease,
    value: row.value === null ? EMPTY : new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength),
  };
}
