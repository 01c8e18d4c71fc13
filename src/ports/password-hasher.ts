/**
 * Password hashing, as the domain sees it. Hashes are salted and slow (scrypt in production,
 * adapters/node/scrypt-password-hasher.ts), so both calls are asynchronous and run off the event
 * loop. The encoded hash carries its own parameters and salt.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Whether `password` matches `encoded`; false (never an error) for an encoding it does not know. */
  verify(password: string, encoded: string): Promise<boolean>;
}
