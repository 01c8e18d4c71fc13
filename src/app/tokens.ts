/** One inversify token per port or service (only the composition root sees these). */
export const TOKENS = {
  Logger: Symbol.for('t4.Logger'),
  Limits: Symbol.for('t4.Limits'),
  MvccBackend: Symbol.for('t4.MvccBackend'),
  Scheduler: Symbol.for('t4.Scheduler'),
  LeaseLookup: Symbol.for('t4.LeaseLookup'),
  LeaseService: Symbol.for('t4.LeaseService'),
  Clock: Symbol.for('t4.Clock'),
  Timers: Symbol.for('t4.Timers'),
  Random: Symbol.for('t4.Random'),
  BatchLogs: Symbol.for('t4.BatchLogs'),
  Checksum: Symbol.for('t4.Checksum'),
  WalFiles: Symbol.for('t4.WalFiles'),
  WritePipeline: Symbol.for('t4.WritePipeline'),
  Compactor: Symbol.for('t4.Compactor'),
  KvService: Symbol.for('t4.KvService'),
} as const;
