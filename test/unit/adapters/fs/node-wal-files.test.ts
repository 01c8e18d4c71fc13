import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NodeWalFiles } from '../../../../src/adapters/fs/node-wal-files.js';
import { Crc32cChecksum } from '../../../../src/adapters/node/crc32c.js';
import type { CommittedBatch } from '../../../../src/domain/mvcc/types.js';
import { recoverWal, WalLog } from '../../../../src/domain/wal/wal-log.js';
import type { Logger } from '../../../../src/ports/logger.js';
import { b } from '../../../support/domain-fixtures.js';

const checksum = new Crc32cChecksum();

function recordingLogger(lines: { level: string; msg: string }[]): Logger {
  const logger: Logger = {
    debug: (_o, msg) => void lines.push({ level: 'debug', msg }),
    info: (_o, msg) => void lines.push({ level: 'info', msg }),
    warn: (_o, msg) => void lines.push({ level: 'warn', msg }),
    error: (_o, msg) => void lines.push({ level: 'error', msg }),
    child: () => logger,
  };
  return logger;
}

function putBatch(revision: number): CommittedBatch {
  const kv = { key: b(`key-${revision}`), createRevision: revision, modRevision: revision, version: 1, value: b('v'.repeat(256)), lease: 0n };
  return { fromRevision: revision - 1, toRevision: revision, changes: [{ kind: 'put', main: revision, sub: 0, kv, prev: undefined }], compactRevision: undefined };
}

async function startLog(dir: string, segmentBytesMax: number, logger: Logger): Promise<{ wal: WalLog; files: NodeWalFiles }> {
  const files = new NodeWalFiles(dir);
  const recovered = await recoverWal(files, checksum, logger);
  const storeRevision = recovered.batches[recovered.batches.length - 1]?.toRevision ?? 1;
  const wal = await WalLog.start(files, checksum, { segmentBytesMax, term: 1n }, logger, recovered, storeRevision, () => Promise.resolve(0));
  return { wal, files };
}

/**
 * The WAL's files are zero-filled ahead of their end, so an fdatasync after an append does not
 * have to commit a new file size; what was appended, and only that, is what recovery and readers see.
 */
describe('NodeWalFiles: zeroed space ahead of the end', () => {
  const root = mkdtempSync(join(tmpdir(), 't4-node-wal-files-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('an open segment is longer on disk than appended; read returns what was appended; close cuts the zeros', async () => {
    const dir = join(root, 'open');
    const lines: { level: string; msg: string }[] = [];
    const { wal, files } = await startLog(dir, 64 * 1024 * 1024, recordingLogger(lines));
    for (let r = 2; r <= 101; r++) await wal.append(putBatch(r));
    const [name] = wal.segmentNames();
    assert.ok(name !== undefined);
    const appended = (await files.read(name)).length;
    assert.ok(appended > 100 * 256 && appended < 100 * 400, `appended ${appended} bytes`);
    assert.ok(statSync(join(dir, name)).size >= appended + 512 * 1024, 'zeros ahead of the end');
    await wal.close();
    assert.equal(statSync(join(dir, name)).size, appended);
  });

  it('after a stop without close, recovery keeps every synced batch and cuts the zeros, logging no damage', async () => {
    const dir = join(root, 'crash');
    const first = await startLog(dir, 64 * 1024 * 1024, recordingLogger([]));
    for (let r = 2; r <= 301; r++) await first.wal.append(putBatch(r));
    const [name] = first.wal.segmentNames();
    assert.ok(name !== undefined);
    const appended = (await first.files.read(name)).length;
    assert.ok(statSync(join(dir, name)).size > appended);
    // No close: the process "stops" here (the kernel keeps what was written and synced).
    const lines: { level: string; msg: string }[] = [];
    const again = await startLog(dir, 64 * 1024 * 1024, recordingLogger(lines));
    const recovered = await recoverWal(again.files, checksum, recordingLogger([]));
    assert.deepEqual(recovered.batches.map((x) => x.toRevision), Array.from({ length: 300 }, (_, i) => i + 2));
    assert.ok(lines.some((l) => l.level === 'info' && l.msg === 'cutting the zeroed space after the end of the WAL'));
    assert.equal(lines.filter((l) => l.level === 'warn' || l.level === 'error').length, 0, JSON.stringify(lines));
    // Appends continue after the last batch, not after the zeros.
    await again.wal.append(putBatch(302));
    await again.wal.close();
    const final = await recoverWal(new NodeWalFiles(dir), checksum, recordingLogger([]));
    assert.equal(final.batches.length, 301);
    assert.equal(final.batches[300]?.toRevision, 302);
  });

  it('sealed segments hold no zeros: rotation cuts them before the next segment exists', async () => {
    const dir = join(root, 'rotate');
    const { wal, files } = await startLog(dir, 16 * 1024, recordingLogger([]));
    for (let r = 2; r <= 201; r++) await wal.append(putBatch(r));
    const names = readdirSync(dir).sort();
    assert.ok(names.length >= 4, `segments: ${names.join(', ')}`);
    for (const name of names.slice(0, -1)) {
      const size = statSync(join(dir, name)).size;
      assert.equal(size, (await files.read(name)).length);
      assert.ok(size >= 16 * 1024 && size < 16 * 1024 + 512, `${name}: ${size} bytes`);
    }
    // A stop without close: every sealed segment scans as sealed (a zero in one would be corruption).
    const recovered = await recoverWal(new NodeWalFiles(dir), checksum, recordingLogger([]));
    assert.equal(recovered.batches.length, 200);
    await wal.close();
  });
});
