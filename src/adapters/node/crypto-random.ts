import { randomBytes } from 'node:crypto';
import type { Random } from '../../ports/random.js';

/** Random 64-bit values from the OS's CSPRNG. */
export class CryptoRandom implements Random {
  u64(): bigint {
    return randomBytes(8).readBigUInt64BE(0);
  }
}
