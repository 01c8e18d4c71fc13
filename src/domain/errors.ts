/**
 * The closed set of expected failures. Each maps to one etcd status and text at the gRPC edge
 * (adapters/grpc/errors.ts). Anything else thrown is a bug.
 */
export abstract class T4Error extends Error {
  abstract readonly kind: string;
}

const define = <K extends string>(kind: K, defaultMessage: string) =>
  class extends T4Error {
    readonly kind: K = kind;
    constructor(message: string = defaultMessage) {
      super(message);
      this.name = kind;
    }
  };

export class EmptyKeyError extends define('EmptyKey', 'key is not provided') {}
export class KeyNotFoundError extends define('KeyNotFound', 'key not found') {}
export class ValueProvidedError extends define('ValueProvided', 'value is provided') {}
export class LeaseProvidedError extends define('LeaseProvided', 'lease is provided') {}
export class TooManyOpsError extends define('TooManyOps', 'too many operations in txn request') {}
export class DuplicateKeyError extends define('DuplicateKey', 'duplicate key given in txn request') {}
export class InvalidSortOptionError extends define('InvalidSortOption', 'invalid sort option') {}
export class CompactedError extends define('Compacted', 'required revision has been compacted') {}
export class FutureRevisionError extends define('FutureRevision', 'required revision is a future revision') {}
export class LeaseNotFoundError extends define('LeaseNotFound', 'requested lease not found') {}
export class LeaseExistsError extends define('LeaseExists', 'lease already exists') {}
export class LeaseTtlTooLargeError extends define('LeaseTtlTooLarge', 'too large lease TTL') {}
export class RequestTooLargeError extends define('RequestTooLarge', 'request is too large') {}
export class TooManyRequestsError extends define('TooManyRequests', 'too many requests') {}
export class ClosedError extends define('Closed', 't4: node is closed') {}
export class AbortedError extends define('Aborted', 'request was cancelled') {}
export class InvalidArgumentError extends define('InvalidArgument', 'invalid argument') {}
/** The write may or may not be applied later (etcd's indeterminate timeout). */
export class RequestTimedOutError extends define('RequestTimedOut', 'request timed out') {}
/** The durable layer refuses writes for now; nothing of this request was written. Writes resume by themselves. */
export class DurableStoreUnavailableError extends define('DurableStoreUnavailable', 't4: object store unavailable; writes resume when it is back') {}
/** Object-store contents T4 cannot use (a manifest it does not understand, a checkpoint that does not verify). */
export class RemoteStateError extends define('RemoteState', 't4: object store state is not usable') {}

// Auth (etcd server/auth/store.go and api/v3rpc/rpctypes/error.go).
export class AuthNotEnabledError extends define('AuthNotEnabled', 'authentication is not enabled') {}
/** T4's switch for the auth subsystem (--auth-enabled) is off. */
export class AuthSubsystemOffError extends define('AuthSubsystemOff', 't4: the auth API is off; start t4 with --auth-enabled (T4_AUTH_ENABLED=true) to use it') {}
export class AuthFailedError extends define('AuthFailed', 'authentication failed, invalid user ID or password') {}
export class InvalidAuthTokenError extends define('InvalidAuthToken', 'invalid auth token') {}
export class PermissionDeniedError extends define('PermissionDenied', 'permission denied') {}
export class UserEmptyError extends define('UserEmpty', 'user name is empty') {}
export class UserAlreadyExistsError extends define('UserAlreadyExists', 'user name already exists') {}
export class UserNotFoundError extends define('UserNotFound', 'user name not found') {}
export class RoleEmptyError extends define('RoleEmpty', 'role name is empty') {}
export class RoleAlreadyExistsError extends define('RoleAlreadyExists', 'role name already exists') {}
export class RoleNotFoundError extends define('RoleNotFound', 'role name not found') {}
export class RoleNotGrantedError extends define('RoleNotGranted', 'role is not granted to the user') {}
export class PermissionNotGrantedError extends define('PermissionNotGranted', 'permission is not granted to the role') {}
export class PermissionNotGivenError extends define('PermissionNotGiven', 'permission not given') {}
export class RootUserNotExistError extends define('RootUserNotExist', 'root user does not exist') {}
export class RootRoleNotExistError extends define('RootRoleNotExist', 'root user does not have root role') {}
export class InvalidAuthMgmtError extends define('InvalidAuthMgmt', 'invalid auth management') {}

export type AuthError =
  | AuthNotEnabledError
  | AuthSubsystemOffError
  | AuthFailedError
  | InvalidAuthTokenError
  | PermissionDeniedError
  | UserEmptyError
  | UserAlreadyExistsError
  | UserNotFoundError
  | RoleEmptyError
  | RoleAlreadyExistsError
  | RoleNotFoundError
  | RoleNotGrantedError
  | PermissionNotGrantedError
  | PermissionNotGivenError
  | RootUserNotExistError
  | RootRoleNotExistError
  | InvalidAuthMgmtError;

export type KnownError =
  | AuthError
  | EmptyKeyError
  | KeyNotFoundError
  | ValueProvidedError
  | LeaseProvidedError
  | TooManyOpsError
  | DuplicateKeyError
  | InvalidSortOptionError
  | CompactedError
  | FutureRevisionError
  | LeaseNotFoundError
  | LeaseExistsError
  | LeaseTtlTooLargeError
  | RequestTooLargeError
  | TooManyRequestsError
  | ClosedError
  | AbortedError
  | InvalidArgumentError
  | RequestTimedOutError
  | DurableStoreUnavailableError
  | RemoteStateError
  | WalCorruptError;

/** The WAL holds a bad frame where only good ones can be (not a torn tail): start-up stops. */
export class WalCorruptError extends T4Error {
  readonly kind = 'WalCorrupt' as const;
  constructor(
    readonly segment: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`WAL segment ${segment} is corrupt at offset ${offset}: ${detail}`);
    this.name = 'WalCorruptError';
  }
}
