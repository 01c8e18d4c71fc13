#!/usr/bin/env node
// T4 pins its AWS SDK version; the SDK's notice that future releases need Node 22 is not actionable
// by operators and would break the JSON log stream on stderr.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
import { Command, Option } from 'commander';
import type { ServerTls } from '../../adapters/grpc/grpc-server.js';
import { PinoLogger } from '../../adapters/node/pino-logger.js';
import { DEFAULT_LIMITS } from '../../domain/limits.js';
import { ALL_RUN_OPTIONS, ConfigError, loadClientTls, OBJECT_STORE_OPTIONS, type OptionSpec, REPEATED_SEPARATOR, resolveRunConfig } from '../config.js';
import { T4Node, type NodeObjectStoreOptions } from '../node.js';
import { describeObjectStore, openObjectStore } from '../object-store-factory.js';
import { gcCommand, rekeyCommand, statusCommand } from './maintenance.js';

/** Exit codes: 0 clean stop, 1 failure at run time, 2 bad flags or configuration. */
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

async function run(flags: Record<string, string | undefined>): Promise<void> {
  let config;
  try {
    config = resolveRunConfig(flags, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`t4 run: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
  let objectStore: NodeObjectStoreOptions | undefined;
  let tls: ServerTls | undefined;
  try {
    // Read once: a changed certificate takes effect on restart.
    if (config.clientTls !== undefined) tls = loadClientTls(config.clientTls);
    if (config.objectStore !== undefined) {
      const opened = await openObjectStore(config.objectStore);
      objectStore = { store: opened.store, preflight: opened.preflight, description: describeObjectStore(config.objectStore), durability: config.durability };
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`t4 run: ${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    throw error;
  }
  const logger = PinoLogger.create(config.logLevel);
  logger.info(
    {
      dataDir: config.dataDir,
      listen: config.listen,
      nodeId: config.nodeId,
      mode: 'single-node',
      durability: objectStore === undefined ? 'local-only' : config.durability.walSyncUpload ? 'object-store-sync' : 'object-store-async',
      objectStore: objectStore?.description ?? 'disabled',
    },
    'starting t4',
  );
  let node: T4Node;
  try {
    node = await T4Node.open({
      dataDir: config.dataDir,
      nodeId: config.nodeId,
      limits: { ...DEFAULT_LIMITS, requestBytesMax: config.maxRequestBytes, txnOpsMax: config.maxTxnOps },
      logger,
      watchProgressNotifyIntervalMs: config.watchProgressNotifyIntervalMs,
      auth: { enabled: config.authEnabled, tokenTtlSeconds: config.tokenTtlSeconds },
      ...(objectStore === undefined ? {} : { objectStore }),
    });
    await node.serve({
      listen: config.listen,
      advertiseClientUrl: config.advertiseClientUrl,
      servingProcesses: config.servingProcesses,
      logLevel: config.logLevel,
      ...(tls === undefined ? {} : { tls }),
    });
  } catch (error) {
    logger.error({ err: error }, 'start-up failed');
    logger.flush();
    process.stderr.write(`t4 run: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EXIT_FAILURE);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    node.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        logger.flush();
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

const program = new Command('t4')
  .description('T4: an etcd v3 compatible key-value store on SQLite, with object storage as the durable layer')
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE));

function addOptions(command: Command, specs: readonly OptionSpec[]): void {
  for (const o of specs) {
    // A boolean flag given alone means true (`--auth-enabled`); `--auth-enabled=false` also works.
    const value = o.valueName === 'bool' ? `[${o.valueName}]` : `<${o.valueName}>`;
    const option = new Option(`--${o.flag} ${value}`, `${o.description} (env ${o.env}; default ${o.defaultText})`);
    if (o.repeatable === true) option.argParser((value: string, previous: string | undefined) => (previous === undefined ? value : `${previous}${REPEATED_SEPARATOR}${value}`));
    command.addOption(option);
  }
}

/** commander camel-cases flag names; map back to the flag names config.ts uses. */
function flagsOf(specs: readonly OptionSpec[], opts: Record<string, string | undefined>): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  for (const o of specs) {
    const value: unknown = opts[o.flag.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase())];
    flags[o.flag] = value === true ? 'true' : (value as string | undefined);
  }
  return flags;
}

const runCommand = program.command('run').description('run a T4 node serving the etcd v3 gRPC API');
addOptions(runCommand, ALL_RUN_OPTIONS);
runCommand.action(async (opts: Record<string, string | undefined>) => {
  await run(flagsOf(ALL_RUN_OPTIONS, opts));
});

const LOG_LEVEL_OPTION: OptionSpec = { flag: 'log-level', env: 'T4_LOG_LEVEL', valueName: 'level', defaultText: 'warn', description: 'log level' };

const statusCmd = program.command('status').description("print the object store prefix's state: latest checkpoint, checkpoints, chunks, WAL");
addOptions(statusCmd, [...OBJECT_STORE_OPTIONS, LOG_LEVEL_OPTION]);
statusCmd.option('--json', 'print JSON');
statusCmd.action(async (opts: Record<string, string | undefined>) => {
  process.exitCode = await statusCommand(flagsOf([...OBJECT_STORE_OPTIONS, LOG_LEVEL_OPTION], opts), opts['json'] !== undefined);
});

const rekeyCmd = program
  .command('rekey')
  .description('rewrite every object under the prefix that is not on the current encryption key, while nodes keep running (resumable)');
addOptions(rekeyCmd, [...OBJECT_STORE_OPTIONS, LOG_LEVEL_OPTION]);
rekeyCmd.action(async (opts: Record<string, string | undefined>) => {
  process.exitCode = await rekeyCommand(flagsOf([...OBJECT_STORE_OPTIONS, LOG_LEVEL_OPTION], opts));
});

const gcCmd = program.command('gc').description('delete checkpoints beyond the newest N, the chunks only they used, and WAL segments they cover');
addOptions(gcCmd, [...OBJECT_STORE_OPTIONS, LOG_LEVEL_OPTION]);
gcCmd.option('--keep <n>', 'checkpoints to keep (at least 1)', '3');
gcCmd.option('--dry-run', 'only print what would be deleted');
gcCmd.action(async (opts: Record<string, string | undefined>) => {
  process.exitCode = await gcCommand(flagsOf([...OBJECT_STORE_OPTIONS, LOG_LEVEL_OPTION], opts), String(opts['keep']), opts['dryRun'] !== undefined);
});

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`t4: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(EXIT_FAILURE);
});
