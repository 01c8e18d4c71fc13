import type { WalFile, WalFiles } from '../../ports/wal-files.js';

/**
 * WAL files in memory that model a disk losing power. Each file has its current bytes and its
 * durable bytes (as of its last `sync`); each directory entry is durable once `syncDir` ran after
 * its creation or removal. `crash(random)` keeps only what was durable, then tears what was not:
 * a random prefix of the unsynced appended bytes survives, optionally followed by zeros or garbage.
 * A truncation not yet synced may or may not survive. Used by seeded crash tests and the simulator.
 */
export interface CrashRandom {
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

interface FileState {
  current: Uint8Array;
  durable: Uint8Array;
  /** Directory entry durable (created and dir-synced, not removed). */
  entryDurable: boolean;
}

/** Thrown by every operation after the simulated power cut. */
export class PowerCutError extends Error {
  override readonly name = 'PowerCutError';
}

export class FaultInjectingWalFiles implements WalFiles {
  private readonly files = new Map<string, FileState>();
  private opsLeft = Infinity;
  /** Names removed since the last syncDir (their entries may come back on a crash). */
  private readonly removedUnsynced = new Map<string, FileState>();
  /** Counts of operations, for tests. */
  readonly stats = { syncs: 0, appends: 0, dirSyncs: 0 };

  /**
   * Cuts the power after `ops` more mutating operations: from then on every operation throws
   * PowerCutError and changes nothing, until `crash()` turns the state into what the disk holds.
   */
  powerCutAfter(ops: number): void {
    this.opsLeft = ops;
  }

  get powerIsCut(): boolean {
    return this.opsLeft <= 0;
  }

  /** @internal counts a mutating operation, throwing once the power is cut. */
  tick(): void {
    if (this.opsLeft <= 0) throw new PowerCutError('power cut');
    this.opsLeft--;
  }

  async list(): Promise<string[]> {
    if (this.powerIsCut) throw new PowerCutError('power cut');
    return [...this.files.keys()];
  }

  async read(name: string): Promise<Uint8Array> {
    if (this.powerIsCut) throw new PowerCutError('power cut');
    return this.state(name).current.slice();
  }

  async create(name: string): Promise<WalFile> {
    this.tick();
    if (this.files.has(name)) throw new Error(`EEXIST: ${name}`);
    this.files.set(name, { current: new Uint8Array(0), durable: new Uint8Array(0), entryDurable: false });
    return new FaultInjectingWalFile(name, this);
  }

  async openAppend(name: string): Promise<WalFile> {
    if (this.powerIsCut) throw new PowerCutError('power cut');
    this.state(name);
    return new FaultInjectingWalFile(name, this);
  }

  async remove(name: string): Promise<void> {
    this.tick();
    const s = this.state(name);
    this.files.delete(name);
    if (s.entryDurable) this.removedUnsynced.set(name, s);
  }

  async syncDir(): Promise<void> {
    this.tick();
    this.stats.dirSyncs++;
    for (const s of this.files.values()) s.entryDurable = true;
    this.removedUnsynced.clear();
  }

  /** Power loss: returns what the disk holds afterwards (this object is reset to it). */
  crash(random: CrashRandom): void {
    this.opsLeft = Infinity;
    const survivors = new Map<string, FileState>();
    for (const [name, s] of this.files) {
      if (!s.entryDurable && random.int(2) === 0) continue; // an unsynced create may vanish
      survivors.set(name, s);
    }
    for (const [name, s] of this.removedUnsynced) if (random.int(2) === 0) survivors.set(name, s);
    this.files.clear();
    this.removedUnsynced.clear();
    for (const [name, s] of survivors) {
      const bytes = tear(s.durable, s.current, random);
      this.files.set(name, { current: bytes, durable: bytes.slice(), entryDurable: true });
    }
  }

  /** @internal used by the file handles. */
  state(name: string): FileState {
    const s = this.files.get(name);
    if (s === undefined) throw new Error(`ENOENT: ${name}`);
    return s;
  }
}

function startsWith(whole: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > whole.length) return false;
  for (let i = 0; i < prefix.length; i++) if (whole[i] !== prefix[i]) return false;
  return true;
}

function tear(durable: Uint8Array, current: Uint8Array, random: CrashRandom): Uint8Array {
  if (!startsWith(current, durable)) {
    // Truncated (or rewritten) since the last sync: either state may be what the disk shows.
    return (random.int(2) === 0 ? durable : current).slice();
  }
  const unsynced = current.length - durable.length;
  if (unsynced === 0) return durable.slice();
  const kept = random.int(unsynced + 1);
  const tail: number[] = [];
  switch (random.int(3)) {
    case 0: // clean cut
      break;
    case 1: // zeros where the rest was
      for (let i = 0; i < Math.min(random.int(64) + 1, unsynced - kept + 16); i++) tail.push(0);
      break;
    default: // garbage
      for (let i = 0; i < random.int(64) + 1; i++) tail.push(random.int(256));
  }
  const out = new Uint8Array(durable.length + kept + tail.length);
  out.set(current.subarray(0, durable.length + kept), 0);
  out.set(tail, durable.length + kept);
  return out;
}

class FaultInjectingWalFile implements WalFile {
  constructor(
    readonly name: string,
    private readonly owner: FaultInjectingWalFiles,
  ) {}

  size(): number {
    return this.owner.state(this.name).current.length;
  }

  async append(data: Uint8Array): Promise<void> {
    this.owner.tick();
    const s = this.owner.state(this.name);
    const next = new Uint8Array(s.current.length + data.length);
    next.set(s.current, 0);
    next.set(data, s.current.length);
    s.current = next;
    this.owner.stats.appends++;
  }

  async truncate(length: number): Promise<void> {
    this.owner.tick();
    const s = this.owner.state(this.name);
    s.current = s.current.slice(0, length);
  }

  async sync(): Promise<void> {
    this.owner.tick();
    const s = this.owner.state(this.name);
    s.durable = s.current.slice();
    this.owner.stats.syncs++;
  }

  async close(): Promise<void> {}
}
