/**
 * Randomness, as the domain sees it (server-chosen lease ids). Tests and the simulator inject a
 * seeded source so runs repeat; production uses the OS's CSPRNG (adapters/node/crypto-random.ts).
 */
export interface Random {
  /** A uniformly random unsigned 64-bit integer. */
  u64(): bigint;
}
