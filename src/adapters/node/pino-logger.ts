import { pino, type Logger as Pino, type LevelWithSilent } from 'pino';
import type { Logger } from '../../ports/logger.js';

export type LogLevel = LevelWithSilent;
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Structured JSON logs on stdout (pino), one line per event. */
export class PinoLogger implements Logger {
  private constructor(private readonly log: Pino) {}

  static create(level: LogLevel, destination: NodeJS.WritableStream = process.stdout): PinoLogger {
    return new PinoLogger(pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination));
  }

  debug(fields: Record<string, unknown>, message: string): void {
    this.log.debug(fields, message);
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.log.info(fields, message);
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.log.warn(fields, message);
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.log.error(fields, message);
  }
  child(fields: Record<string, unknown>): Logger {
    return new PinoLogger(this.log.child(fields));
  }
  /** Writes buffered lines out (before exiting). */
  flush(): void {
    this.log.flush();
  }
}
