import { status } from '@grpc/grpc-js';
import { T4Error, type KnownError } from '../../domain/errors.js';

/**
 * The one table from typed domain errors to etcd's gRPC status codes and texts
 * (etcd api/v3rpc/rpctypes/error.go). Clients match on these texts: they are frozen.
 */
export interface GrpcErrorSpec {
  readonly code: status;
  readonly message: string;
}

const TABLE: Record<KnownError['kind'], GrpcErrorSpec | ((e: KnownError) => GrpcErrorSpec)> = {
  EmptyKey: { code: status.INVALID_ARGUMENT, message: 'etcdserver: key is not provided' },
  KeyNotFound: { code: status.INVALID_ARGUMENT, message: 'etcdserver: key not found' },
  ValueProvided: { code: status.INVALID_ARGUMENT, message: 'etcdserver: value is provided' },
  LeaseProvided: { code: status.INVALID_ARGUMENT, message: 'etcdserver: lease is provided' },
  TooManyOps: { code: status.INVALID_ARGUMENT, message: 'etcdserver: too many operations in txn request' },
  DuplicateKey: { code: status.INVALID_ARGUMENT, message: 'etcdserver: duplicate key given in txn request' },
  InvalidSortOption: { code: status.INVALID_ARGUMENT, message: 'etcdserver: invalid sort option' },
  Compacted: { code: status.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision has been compacted' },
  FutureRevision: { code: status.OUT_OF_RANGE, message: 'etcdserver: mvcc: required revision is a future revision' },
  LeaseNotFound: { code: status.NOT_FOUND, message: 'etcdserver: requested lease not found' },
  LeaseExists: { code: status.FAILED_PRECONDITION, message: 'etcdserver: lease already exists' },
  LeaseTtlTooLarge: { code: status.OUT_OF_RANGE, message: 'etcdserver: too large lease TTL' },
  RequestTooLarge: { code: status.INVALID_ARGUMENT, message: 'etcdserver: request is too large' },
  TooManyRequests: { code: status.RESOURCE_EXHAUSTED, message: 'etcdserver: too many requests' },
  Closed: (e) => ({ code: status.UNAVAILABLE, message: e.message }),
  Aborted: { code: status.CANCELLED, message: 'context canceled' },
  InvalidArgument: (e) => ({ code: status.INVALID_ARGUMENT, message: e.message }),
  RequestTimedOut: { code: status.UNAVAILABLE, message: 'etcdserver: request timed out' },
  DurableStoreUnavailable: (e) => ({ code: status.UNAVAILABLE, message: e.message }),
  RemoteState: (e) => ({ code: status.FAILED_PRECONDITION, message: e.message }),
  WalCorrupt: (e) => ({ code: status.DATA_LOSS, message: e.message }),
  AuthNotEnabled: { code: status.FAILED_PRECONDITION, message: 'etcdserver: authentication is not enabled' },
  AuthSubsystemOff: (e) => ({ code: status.FAILED_PRECONDITION, message: e.message }),
  AuthFailed: { code: status.INVALID_ARGUMENT, message: 'etcdserver: authentication failed, invalid user ID or password' },
  InvalidAuthToken: { code: status.UNAUTHENTICATED, message: 'etcdserver: invalid auth token' },
  PermissionDenied: { code: status.PERMISSION_DENIED, message: 'etcdserver: permission denied' },
  UserEmpty: { code: status.INVALID_ARGUMENT, message: 'etcdserver: user name is empty' },
  UserAlreadyExists: { code: status.FAILED_PRECONDITION, message: 'etcdserver: user name already exists' },
  UserNotFound: { code: status.FAILED_PRECONDITION, message: 'etcdserver: user name not found' },
  RoleEmpty: { code: status.INVALID_ARGUMENT, message: 'etcdserver: role name is empty' },
  RoleAlreadyExists: { code: status.FAILED_PRECONDITION, message: 'etcdserver: role name already exists' },
  RoleNotFound: { code: status.FAILED_PRECONDITION, message: 'etcdserver: role name not found' },
  RoleNotGranted: { code: status.FAILED_PRECONDITION, message: 'etcdserver: role is not granted to the user' },
  PermissionNotGranted: { code: status.FAILED_PRECONDITION, message: 'etcdserver: permission is not granted to the role' },
  PermissionNotGiven: { code: status.INVALID_ARGUMENT, message: 'etcdserver: permission not given' },
  RootUserNotExist: { code: status.FAILED_PRECONDITION, message: 'etcdserver: root user does not exist' },
  RootRoleNotExist: { code: status.FAILED_PRECONDITION, message: 'etcdserver: root user does not have root role' },
  InvalidAuthMgmt: { code: status.INVALID_ARGUMENT, message: 'etcdserver: invalid auth management' },
};

export class GrpcStatusError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export const AUTH_NOT_ENABLED: GrpcErrorSpec = {
  code: status.FAILED_PRECONDITION,
  message: 'etcdserver: authentication is not enabled',
};

export function unimplemented(message: string): GrpcStatusError {
  return new GrpcStatusError(status.UNIMPLEMENTED, message);
}

/** Maps a thrown value to a gRPC status; unknown errors are bugs and surface as INTERNAL. */
export function toGrpcStatus(error: unknown): GrpcErrorSpec & { known: boolean } {
  if (error instanceof GrpcStatusError) return { code: error.code, message: error.message, known: true };
  if (error instanceof T4Error) {
    const e = error as KnownError;
    const entry = TABLE[e.kind];
    const spec = typeof entry === 'function' ? entry(e) : entry;
    return { ...spec, known: true };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: status.INTERNAL, message: `t4: internal error: ${message}`, known: false };
}
