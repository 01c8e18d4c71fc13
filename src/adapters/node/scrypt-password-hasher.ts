import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { PasswordHasher } from '../../ports/password-hasher.js';

/** scrypt cost: N = 2^logN, r, p. The default (2^15, 8, 1) takes ~50-100 ms and 32 MiB per hash. */
export interface ScryptCost {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT_COST: ScryptCost = { logN: 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.logN;
  const options: ScryptOptions = { N, r: cost.r, p: cost.p, maxmem: 128 * N * cost.r * 2 + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/**
 * Salted scrypt on libuv's thread pool. Encoding: `scrypt$<logN>$<r>$<p>$<salt b64>$<hash b64>`,
 * so a hash keeps verifying after the configured cost changes.
 */
export class ScryptPasswordHasher implements PasswordHasher {
  constructor(private readonly cost: ScryptCost = DEFAULT_SCRYPT_COST) {}

  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await derive(password, salt, this.cost);
    const { logN, r, p } = this.cost;
    return `scrypt$${logN}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    const parts = encoded.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [logN, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
    if (![logN, r, p].every((n) => Number.isInteger(n) && n > 0) || logN > 22) return false;
    const expected = Buffer.from(parts[5]!, 'base64');
    const key = await derive(password, Buffer.from(parts[4]!, 'base64'), { logN, r, p });
    return expected.length === key.length && timingSafeEqual(expected, key);
  }
}
