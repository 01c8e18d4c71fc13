import { create } from '@bufbuild/protobuf';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { AuthSubsystemOffError } from '../../domain/errors.js';
import { AUTH_NOT_ENABLED, GrpcStatusError } from './errors.js';
import type { HeaderFactory } from './header.js';
import type { ServiceHandlers } from './handler.js';

/**
 * The Auth service without `--auth-enabled`. Authenticate answers exactly as etcd with auth
 * off (clients given a user name rely on that text); AuthStatus truthfully reports auth disabled;
 * every other call is refused with FailedPrecondition naming the flag.
 */
const off = () => () => {
  throw new AuthSubsystemOffError();
};

export function authStubHandlers(backend: MvccBackend, headers: HeaderFactory): ServiceHandlers {
  const handlers: ServiceHandlers = {};
  for (const method of pb.Auth.methods) handlers[method.name] = off();
  handlers['Authenticate'] = () => {
    throw new GrpcStatusError(AUTH_NOT_ENABLED.code, AUTH_NOT_ENABLED.message);
  };
  handlers['AuthStatus'] = (): pb.AuthStatusResponse =>
    create(pb.AuthStatusResponseSchema, { header: headers.make(backend.currentRevision()), enabled: false, authRevision: 0n });
  return handlers;
}
