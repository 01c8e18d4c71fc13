import { RemoteStateError } from '../errors.js';
import type { Checksum } from '../../ports/checksum.js';
import type { Clock } from '../../ports/clock.js';
import type { DatabaseSnapshots } from '../../ports/database-snapshots.js';
import type { Logger } from '../../ports/logger.js';
import type { ObjectStore } from '../../ports/object-store.js';
import type { Revision } from '../mvcc/types.js';
import {
  CHECKPOINT_FORMAT_VERSION,
  decodeCheckpointManifest,
  decodeLatestPointer,
  encodeJson,
  type CheckpointManifest,
  type LatestPointer,
} from './checkpoint-manifest.js';
import { checkpointManifestKey, chunkKey, LATEST_MANIFEST_KEY } from './remote-keys.js';

/**
 * Writes checkpoints: a consistent copy of the database (taken while writes continue), cut into
 * fixed-size chunks stored at `chunks/<sha-256>`, then the manifest, then `manifest/latest`. A
 * chunk the previous checkpoint already has is not uploaded again, so an unchanged region of the
 * database costs nothing. Order matters for readers: chunks before the manifest that names them,
 * the manifest before the pointer.
 */
export interface CheckpointWriterOptions {
  readonly term: bigint;
  readonly nodeId: string;
  /** 256 KiB by default: a one-key change touches a handful of pages, so a few chunks. */
  readonly chunkBytes?: number;
  /** Chunk uploads in flight at once. */
  readonly uploadsInFlight?: number;
}

export interface CheckpointResult {
  readonly key: string;
  readonly revision: Revision;
  readonly sizeBytes: number;
  readonly chunks: number;
  readonly uploadedChunks: number;
  readonly uploadedBytes: number;
  readonly longestPauseMs: number;
  readonly durationMs: number;
}

export const DEFAULT_CHUNK_BYTES = 256 * 1024;

export class CheckpointWriter {
  /** Chunks of the newest checkpoint (this node's last, or the one found at start). */
  private known: Set<string> | undefined;
  private lastRevision: Revision | undefined;
  private running: Promise<CheckpointResult | undefined> | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly snapshots: DatabaseSnapshots,
    private readonly checksum: Checksum,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: CheckpointWriterOptions,
  ) {}

  /** The revision of the newest checkpoint this writer knows of. */
  latestRevision(): Revision | undefined {
    return this.lastRevision;
  }

  /** Writes a checkpoint unless one at the same revision exists; one at a time (a second call joins the first). */
  write(): Promise<CheckpointResult | undefined> {
    this.running ??= this.writeNow().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async loadLatest(): Promise<void> {
    if (this.known !== undefined) return;
    const known = new Set<string>();
    const pointerBytes = await this.store.get(LATEST_MANIFEST_KEY);
    if (pointerBytes !== undefined) {
      try {
        const pointer: LatestPointer = decodeLatestPointer(pointerBytes);
        const manifestBytes = await this.store.get(pointer.checkpoint_key);
        if (manifestBytes !== undefined) {
          const manifest = decodeCheckpointManifest(manifestBytes, pointer.checkpoint_key);
          for (const c of manifest.database.chunks) known.add(c);
          this.lastRevision = manifest.revision;
        }
      } catch (error) {
        if (!(error instanceof RemoteStateError)) throw error;
        this.logger.warn({ err: error }, 'the latest checkpoint is unreadable; the next checkpoint uploads every chunk');
      }
    }
    this.known = known;
  }

  private async writeNow(): Promise<CheckpointResult | undefined> {
    const started = this.clock.monotonicMs();
    await this.loadLatest();
    const chunkBytes = this.options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    let lastLogged = started;
    const snapshot = await this.snapshots.take((p) => {
      const now = this.clock.monotonicMs();
      if (now - lastLogged >= 5_000) {
        lastLogged = now;
        this.logger.info({ copiedPages: p.copiedPages, totalPages: p.totalPages }, 'checkpoint: copying the database');
      }
    });
    try {
      if (snapshot.revision === this.lastRevision) return undefined;
      const count = Math.ceil(snapshot.sizeBytes / chunkBytes);
      const digests: string[] = new Array<string>(count);
      const known = this.known as Set<string>;
      let uploadedChunks = 0;
      let uploadedBytes = 0;
      let next = 0;
      const worker = async (): Promise<void> => {
        for (;;) {
          const i = next++;
          if (i >= count) return;
          const bytes = await snapshot.read(i * chunkBytes, chunkBytes);
          const digest = this.checksum.sha256Hex(bytes);
          digests[i] = digest;
          if (known.has(digest)) continue;
          await this.store.put(chunkKey(digest), bytes);
          known.add(digest);
          uploadedChunks++;
          uploadedBytes += bytes.length;
          const now = this.clock.monotonicMs();
          if (now - lastLogged >= 5_000) {
            lastLogged = now;
            this.logger.info({ chunk: i + 1, chunks: count }, 'checkpoint: uploading chunks');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.options.uploadsInFlight ?? 4, Math.max(count, 1)) }, worker));
      const manifest: CheckpointManifest = {
        format_version: CHECKPOINT_FORMAT_VERSION,
        term: Number(this.options.term),
        revision: snapshot.revision,
        compact_revision: snapshot.compactRevision,
        node_id: this.options.nodeId,
        created_at: this.clock.wallIso(),
        database: { format: 'sqlite', size_bytes: snapshot.sizeBytes, page_bytes: snapshot.pageBytes, chunk_bytes: chunkBytes, chunks: digests },
      };
      const key = checkpointManifestKey(this.options.term, snapshot.revision);
      await this.store.put(key, encodeJson(manifest));
      const pointer: LatestPointer = { format_version: CHECKPOINT_FORMAT_VERSION, checkpoint_key: key, revision: snapshot.revision, term: Number(this.options.term) };
      await this.store.put(LATEST_MANIFEST_KEY, encodeJson(pointer));
      // Only the newest checkpoint's chunks count as present: GC may delete older ones.
      this.known = new Set(digests);
      this.lastRevision = snapshot.revision;
      const result: CheckpointResult = {
        key,
        revision: snapshot.revision,
        sizeBytes: snapshot.sizeBytes,
        chunks: count,
        uploadedChunks,
        uploadedBytes,
        longestPauseMs: snapshot.longestPauseMs,
        durationMs: this.clock.monotonicMs() - started,
      };
      this.logger.info({ ...result }, 'checkpoint written');
      return result;
    } finally {
      await snapshot.release();
    }
  }
}
