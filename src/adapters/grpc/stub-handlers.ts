import { create } from '@bufbuild/protobuf';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { AUTH_NOT_ENABLED, GrpcStatusError, unimplemented } from './errors.js';
import type { HeaderFactory } from './header.js';
import type { ServiceHandlers } from './handler.js';

/**
 * Watch, Lease and Auth until their issues land. Authenticate answers exactly as etcd with auth
 * off (clients given a user name rely on that text); AuthStatus truthfully reports auth disabled.
 */
const notYet = (what: string) => () => {
  throw unimplemented(`t4: ${what} is not implemented yet in this version of T4`);
};
const notYetStream = (what: string) => async () => {
  throw unimplemented(`t4: ${what} is not implemented yet in this version of T4`);
};

export function watchStubHandlers(): ServiceHandlers {
  return { Watch: notYetStream('Watch') };
}

export function leaseStubHandlers(): ServiceHandlers {
  return {
    LeaseGrant: notYet('LeaseGrant'),
    LeaseRevoke: notYet('LeaseRevoke'),
    LeaseKeepAlive: notYetStream('LeaseKeepAlive'),
    LeaseTimeToLive: notYet('LeaseTimeToLive'),
    LeaseLeases: notYet('LeaseLeases'),
  };
}

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
