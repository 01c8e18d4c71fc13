import { create } from '@bufbuild/protobuf';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { AUTH_NOT_ENABLED, GrpcStatusError, unimplemented } from './errors.js';
import type { HeaderFactory } from './header.js';
import type { ServiceHandlers } from './handler.js';

/**
 * Auth until its issue lands. Authenticate answers exactly as etcd with auth
 * off (clients given a user name rely on that text); AuthStatus truthfully reports auth disabled.
 */
const notYet = (what: string) => () => {
  throw unimplemented(`t4: ${what} is not implemented yet in this version of T4`);
};

export function authStubHandlers(backend: MvccBackend, headers: HeaderFactory): ServiceHandlers {
  const handlers: ServiceHandlers = {};
  for (const method of pb.Auth.methods) handlers[method.name] = notYet(method.name);
  handlers['Authenticate'] = () => {
    throw new GrpcStatusError(AUTH_NOT_ENABLED.code, AUTH_NOT_ENABLED.message);
  };
  handlers['AuthStatus'] = (): pb.AuthStatusResponse =>
    create(pb.AuthStatusResponseSchema, { header: headers.make(backend.currentRevision()), enabled: false, authRevision: 0n });
  return handlers;
}
