#!/usr/bin/env node
import { Command, Option } from 'commander';
import { PinoLogger } from '../../adapters/node/pino-logger.js';
import { DEFAULT_LIMITS } from '../../domain/limits.js';
import { ConfigError, RUN_OPTIONS, resolveRunConfig } from '../config.js';
import { T4Node } from '../node.js';

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
  const logger = PinoLogger.create(config.logLevel);
  logger.info(
    { dataDir: config.dataDir, listen: config.listen, nodeId: config.nodeId, mode: 'single-node', durability: 'local-only' },
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
    });
    await node.serve({ listen: config.listen, advertiseClientUrl: config.advertiseClientUrl });
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

const runCommand = program.command('run').description('run a T4 node serving the etcd v3 gRPC API');
for (const o of RUN_OPTIONS) {
  runCommand.addOption(new Option(`--${o.flag} <${o.valueName}>`, `${o.description} (env ${o.env}; default ${o.defaultText})`));
}
runCommand.action(async (opts: Record<string, string | undefined>) => {
  // commander camel-cases flag names; map back to the flag names config.ts uses.
  const flags: Record<string, string | undefined> = {};
  for (const o of RUN_OPTIONS) {
    const camel = o.flag.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
    flags[o.flag] = opts[camel];
  }
  await run(flags);
});

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`t4: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(EXIT_FAILURE);
});
