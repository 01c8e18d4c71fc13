import { PinoLogger, LOG_LEVELS, type LogLevel } from '../../adapters/node/pino-logger.js';
import { collectGarbage, prefixStatus } from '../../domain/remote/gc.js';
import { ConfigError, resolveObjectStoreSettings, type ObjectStoreSettings } from '../config.js';
import { describeObjectStore, openObjectStore, type OpenedObjectStore } from '../object-store-factory.js';
import { describeRekeyResult, rekeyPrefix } from '../../adapters/encryption/rekey.js';

/** `t4 status` and `t4 gc`: they read the object store directly; no node needs to run. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function settingsOrExit(command: string, flags: Record<string, string | undefined>): ObjectStoreSettings | number {
  try {
    const settings = resolveObjectStoreSettings(flags, process.env);
    if (settings === undefined) throw new ConfigError('an object store is required: --s3-bucket (T4_S3_BUCKET) or --gcs-bucket (T4_GCS_BUCKET)');
    return settings;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`t4 ${command}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

/** Opens the store and checks the prefix against the encryption flags; a ConfigError is a usage error. */
async function openChecked(command: string, settings: ObjectStoreSettings): Promise<OpenedObjectStore | number> {
  try {
    const opened = await openObjectStore(settings);
    await opened.preflight();
    return opened;
  } catch (error) {
    if (error instanceof ConfigError || (error instanceof Error && /ConfigError$/.test(error.name))) {
      process.stderr.write(`t4 ${command}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

function logLevel(flags: Record<string, string | undefined>): LogLevel {
  const level = flags['log-level'] ?? process.env['T4_LOG_LEVEL'] ?? 'warn';
  return LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : 'warn';
}

const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MiB`;

export async function statusCommand(flags: Record<string, string | undefined>, json: boolean): Promise<number> {
  const settings = settingsOrExit('status', flags);
  if (typeof settings === 'number') return settings;
  try {
    const opened = await openChecked('status', settings);
    if (typeof opened === 'number') return opened;
    const status = await prefixStatus(opened.store);
    if (json) {
      process.stdout.write(`${JSON.stringify({ location: describeObjectStore(settings), ...status }, null, 2)}\n`);
      return 0;
    }
    const lines = [`T4 object store status  ${describeObjectStore(settings)}`];
    if (status.latest !== undefined) {
      lines.push(`latest checkpoint:  ${status.latest.key}`);
      lines.push(`  revision ${status.latest.revision}  term ${status.latest.term}  created ${status.latest.createdAt}  ${mib(status.latest.sizeBytes)} in ${status.latest.chunks} chunks`);
    } else if (status.latestError !== undefined) {
      lines.push(`latest checkpoint:  UNREADABLE: ${status.latestError}`);
    } else {
      lines.push('latest checkpoint:  (none; the node has not written a checkpoint yet)');
    }
    const cps = status.checkpoints;
    lines.push(`checkpoints:        ${cps.length}${cps.length > 0 ? ` (revisions ${cps[0]?.revision} .. ${cps[cps.length - 1]?.revision})` : ''}`);
    lines.push(`chunks:             ${status.chunkObjects} objects, ${mib(status.chunkBytes)}`);
    lines.push(
      `wal segments:       ${status.walSegments} objects, ${mib(status.walBytes)}` +
        (status.walSegments > 0 ? ` (first revision ${status.walFirstRevision}, newest segment starts at ${status.walLastSegmentFirstRevision})` : ''),
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`t4 status: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}

export async function gcCommand(flags: Record<string, string | undefined>, keepText: string, dryRun: boolean): Promise<number> {
  const settings = settingsOrExit('gc', flags);
  if (typeof settings === 'number') return settings;
  const keep = Number(keepText);
  if (!/^\d+$/.test(keepText) || keep < 1) {
    process.stderr.write(`t4 gc: --keep: "${keepText}" must be a whole number of at least 1\n`);
    return EXIT_USAGE;
  }
  const logger = PinoLogger.create(logLevel(flags));
  try {
    const opened = await openChecked('gc', settings);
    if (typeof opened === 'number') return opened;
    let lastReport = 0;
    const result = await collectGarbage(opened.store, logger, {
      keep,
      dryRun,
      onProgress: (step, done, total) => {
        const now = Date.now();
        if (done === total || now - lastReport > 2_000) {
          lastReport = now;
          process.stderr.write(`${step}: ${done}/${total}\n`);
        }
      },
    });
    process.stdout.write(
      `${dryRun ? 'GC dry run (nothing deleted)' : 'GC complete'}  ${describeObjectStore(settings)}\n` +
        `  checkpoints kept: ${result.keptCheckpoints.length}, deleted: ${result.deletedCheckpoints}\n` +
        `  chunks deleted: ${result.deletedChunks}\n` +
        `  WAL segments deleted: ${result.deletedWalSegments}${result.walHorizon === undefined ? ' (no checkpoint: WAL kept)' : ` (covered by revision ${result.walHorizon})`}\n`,
    );
    logger.flush();
    return 0;
  } catch (error) {
    process.stderr.write(`t4 gc: ${error instanceof Error ? error.message : String(error)}\n`);
    logger.flush();
    return EXIT_FAILURE;
  }
}

export async function rekeyCommand(flags: Record<string, string | undefined>): Promise<number> {
  const settings = settingsOrExit('rekey', flags);
  if (typeof settings === 'number') return settings;
  try {
    // No preflight: a prefix in the middle of a rotation holds objects on several keys by design.
    const opened = await openObjectStore(settings);
    if (opened.keyring === undefined) {
      process.stderr.write('t4 rekey: an encryption key is required: --object-store-encryption-key-file or --object-store-encryption-key-env\n');
      return EXIT_USAGE;
    }
    let lastReport = 0;
    const result = await rekeyPrefix(opened.raw, opened.keyring, {
      onProgress: (p) => {
        const now = Date.now();
        if (p.objectsDone === p.objectsTotal || now - lastReport > 2_000) {
          lastReport = now;
          process.stderr.write(`rekey: ${p.objectsDone}/${p.objectsTotal} objects (${mib(p.bytesDone)} of ${mib(p.bytesTotal)}), ${p.rewritten} rewritten\n`);
        }
      },
    });
    process.stdout.write(`${describeRekeyResult(result, opened.keyring)}\n`);
    return result.remainingOnOldKeys === 0 ? 0 : EXIT_FAILURE;
  } catch (error) {
    if (error instanceof ConfigError || (error instanceof Error && /ConfigError$/.test(error.name))) {
      process.stderr.write(`t4 rekey: ${error.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`t4 rekey: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}
