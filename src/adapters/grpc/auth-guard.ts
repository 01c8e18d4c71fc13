import type { AuthService } from '../../domain/auth/auth-service.js';
import type { CallContext } from './handler.js';

/**
 * Who is calling, for the auth checks in the handlers: the user of the `token` metadata entry
 * (etcd rpctypes.TokenFieldNameGRPC), else, under mutual TLS, the client certificate's common name
 * (etcd --client-cert-auth: a token takes priority). Undefined when auth is off for this server or
 * the caller gave neither.
 */
export function callerOf(auth: AuthService | undefined, ctx: CallContext): string | undefined {
  if (auth === undefined) return undefined;
  const peer = ctx as { peerCommonName?: () => string | undefined };
  return auth.identify(ctx.metadata('token'), peer.peerCommonName?.());
}
