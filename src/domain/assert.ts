/**
 * Invariant checks that stay on in production. A failed assertion is a bug, never an expected
 * condition: it throws `InvariantViolation`, which nothing catches on purpose.
 */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
