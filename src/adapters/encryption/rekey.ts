/**
 * `t4 rekey`: moves every object under a prefix to the keyring's current key, so an old key can be
 * dropped. Safe while nodes write to the prefix, and resumable:
 *
 *  - each object is read with its version through the *raw* store; if its header already names
 *    the current key it is skipped (so a re-run continues where a stopped one ended);
 *  - otherwise it is decrypted with the old key its header names, encrypted with the current key
 *    and written back with putIfMatch on that version. A node that wrote the object meanwhile wins:
 *    the precondition fails, the object is read again, and it is skipped if it is now on the
 *    current key (a node with the new keyring wrote it) or re-encrypted again. No write is lost.
 *  - objects that vanish meanwhile (GC) are counted and skipped.
 *
 * Objects it cannot move (plaintext objects, a key id the keyring lacks, damaged bodies) are left
 * untouched and reported. `remainingOnOldKeys` 0 means the old keys can be dropped, provided every
 * node already writes with the current key (see the rotation procedure in docs/object-storage.md).
 *
 * Rewriting changes an object's version (ETag / generation): a node holding the old version of a
 * conditionally written object sees its next conditional write fail and re-reads, as after any
 * concurrent write.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { AbortedError } from '../../domain/errors.js';
import { listAll, type ConditionalObjectStore } from '../../ports/object-store.js';
import { ObjectDecryptionError, ObjectStoreUnavailableError, PreconditionFailedError } from '../../ports/object-store-errors.js';
import { decryptObject } from './encrypted-object-store.js';
import type { Keyring } from './encryption-key.js';
import { envelopeKeyId, hasEnvelopeMagic, sealEnvelope } from './envelope.js';

export interface RekeyProgress {
  /** Objects handled so far (rewritten, already current, vanished or left), of `objectsTotal` listed. */
  readonly objectsDone: number;
  readonly objectsTotal: number;
  /** Stored bytes of the handled objects (as listed), of `bytesTotal`. */
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly rewritten: number;
}

export interface RekeyOptions {
  /** Only keys starting with this ('' = the whole store namespace, the default). */
  readonly prefix?: string;
  /** Objects in flight at once (default 4). */
  readonly concurrency?: number;
  /** Reads-then-writes per object before it is reported as still changing (default 20). */
  readonly attemptsMax?: number;
  readonly signal?: AbortSignal;
  /** Called after every object. */
  readonly onProgress?: (progress: RekeyProgress) => void;
}

export interface RekeyLeftObject {
  readonly key: string;
  /** The key id in its header; undefined for a plaintext object. */
  readonly keyId: number | undefined;
  readonly reason: string;
}

export interface RekeyResult {
  readonly objectsListed: number;
  /** Re-encrypted with the current key by this run. */
  readonly rewritten: number;
  /** Already on the current key (written by a node, or by an earlier run). */
  readonly alreadyCurrent: number;
  /** Deleted between the listing and the rewrite. */
  readonly vanished: number;
  /** Rewrites retried because a writer changed the object first. */
  readonly conflicts: number;
  readonly bytesRewritten: number;
  /** Objects still not on the current key, and why (at most 100 listed; see remainingOnOldKeys for the count). */
  readonly left: readonly RekeyLeftObject[];
  /** 0: no object needs an old key any more. */
  readonly remainingOnOldKeys: number;
}

const LEFT_LISTED_MAX = 100;
const UNAVAILABLE_DELAY_MS_MAX = 2_000;

type Outcome = { kind: 'rewritten'; bytes: number } | { kind: 'current' } | { kind: 'vanished' } | { kind: 'left'; left: RekeyLeftObject };

export async function rekeyPrefix(inner: ConditionalObjectStore, keyring: Keyring, options: RekeyOptions = {}): Promise<RekeyResult> {
  const signal = options.signal;
  const concurrency = options.concurrency ?? 4;
  const attemptsMax = options.attemptsMax ?? 20;
  const objects: { key: string; sizeBytes: number }[] = [];
  for await (const o of listAll(inner, options.prefix ?? '', signal === undefined ? {} : { signal })) objects.push(o);
  const bytesTotal = objects.reduce((n, o) => n + o.sizeBytes, 0);

  let objectsDone = 0;
  let bytesDone = 0;
  let rewritten = 0;
  let alreadyCurrent = 0;
  let vanished = 0;
  let bytesRewritten = 0;
  let remainingOnOldKeys = 0;
  const conflicts = { n: 0 };
  const left: RekeyLeftObject[] = [];

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < objects.length) {
      const object = objects[next++] as { key: string; sizeBytes: number };
      const outcome = await rekeyObject(inner, keyring, object.key, attemptsMax, conflicts, signal);
      switch (outcome.kind) {
        case 'rewritten':
          rewritten++;
          bytesRewritten += outcome.bytes;
          break;
        case 'current':
          alreadyCurrent++;
          break;
        case 'vanished':
          vanished++;
          break;
        case 'left':
          remainingOnOldKeys++;
          if (left.length < LEFT_LISTED_MAX) left.push(outcome.left);
          break;
      }
      objectsDone++;
      bytesDone += object.sizeBytes;
      options.onProgress?.({ objectsDone, objectsTotal: objects.length, bytesDone, bytesTotal, rewritten });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, objects.length)) }, worker));
  left.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { objectsListed: objects.length, rewritten, alreadyCurrent, vanished, conflicts: conflicts.n, bytesRewritten, left, remainingOnOldKeys };
}

async function rekeyObject(
  inner: ConditionalObjectStore,
  keyring: Keyring,
  key: string,
  attemptsMax: number,
  conflicts: { n: number },
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  const call = signal === undefined ? {} : { signal };
  let unavailableDelayMs = 100;
  for (let attempt = 1; attempt <= attemptsMax; attempt++) {
    if (signal?.aborted) throw new AbortedError();
    try {
      const got = await inner.getWithVersion(key, call);
      if (got === undefined) return { kind: 'vanished' };
      if (!hasEnvelopeMagic(got.body)) return { kind: 'left', left: { key, keyId: undefined, reason: 'not encrypted (a plaintext object)' } };
      const keyId = envelopeKeyId(got.body);
      if (keyId === keyring.current.id) return { kind: 'current' };
      let plain: Uint8Array;
      try {
        plain = decryptObject('getWithVersion', key, got.body, keyring);
      } catch (error) {
        if (error instanceof ObjectDecryptionError) return { kind: 'left', left: { key, keyId, reason: error.message } };
        throw error;
      }
      const sealed = sealEnvelope(key, plain, keyring.current);
      await inner.putIfMatch(key, sealed, got.version, call);
      return { kind: 'rewritten', bytes: sealed.length };
    } catch (error) {
      if (error instanceof PreconditionFailedError) {
        if (error.reason === 'not-found') return { kind: 'vanished' };
        conflicts.n++;
        continue; // a writer got there first: read again
      }
      if (error instanceof ObjectStoreUnavailableError) {
        // Transient; a putIfMatch that may have happened is harmless: the re-read sees it.
        await delay(unavailableDelayMs, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
        unavailableDelayMs = Math.min(unavailableDelayMs * 2, UNAVAILABLE_DELAY_MS_MAX);
        continue;
      }
      throw error;
    }
  }
  const now = await inner.getWithVersion(key, call);
  if (now === undefined) return { kind: 'vanished' };
  if (envelopeKeyId(now.body) === keyring.current.id) return { kind: 'current' };
  return { kind: 'left', left: { key, keyId: envelopeKeyId(now.body), reason: `still changing after ${attemptsMax} attempts; run rekey again` } };
}

/** One line for the CLI: what the result means for the operator. */
export function describeRekeyResult(result: RekeyResult, keyring: Keyring): string {
  const head =
    `rekey: ${result.objectsListed} objects listed, ${result.rewritten} re-encrypted with key id ${keyring.current.id}, ` +
    `${result.alreadyCurrent} already on it, ${result.vanished} deleted meanwhile`;
  if (result.remainingOnOldKeys === 0) {
    const old = keyring.oldIds;
    return `${head}; no object needs ${old.length > 0 ? `key id ${old.join(', ')}` : 'an old key'}: the old key can be dropped once every node writes with key id ${keyring.current.id}`;
  }
  return `${head}; ${result.remainingOnOldKeys} objects are not on key id ${keyring.current.id} (run rekey again; see the list): keep the old keys`;
}
