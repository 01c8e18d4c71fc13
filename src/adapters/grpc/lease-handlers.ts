import { create } from '@bufbuild/protobuf';
import type { LeaseService } from '../../domain/lease/lease-service.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import type { HeaderFactory } from './header.js';
import type { CallContext, ServiceHandlers, StreamCall } from './handler.js';
import type { AuthService } from '../../domain/auth/auth-service.js';
import { callerOf } from './auth-guard.js';

/**
 * etcd's Lease service: map, one domain call, map back. As etcd's v3rpc LeaseServer: KeepAlive
 * answers TTL 0 for an unknown lease and TimeToLive TTL -1 (neither is an error); a keepalive
 * stream answers each request in order until the client closes its side.
 */
export function leaseHandlers(leases: LeaseService, headers: HeaderFactory, auth?: AuthService): ServiceHandlers {
  return {
    LeaseGrant: async (req: pb.LeaseGrantRequest, ctx: CallContext): Promise<pb.LeaseGrantResponse> => {
      // No permission needed (etcd), but a token given must be valid.
      callerOf(auth, ctx);
      const granted = await leases.grant(Number(req.TTL), req.ID, ctx.signal);
      return create(pb.LeaseGrantResponseSchema, {
        header: headers.make(granted.revision),
        ID: granted.id,
        TTL: BigInt(granted.ttlSeconds),
      });
    },
    LeaseRevoke: async (req: pb.LeaseRevokeRequest, ctx: CallContext): Promise<pb.LeaseRevokeResponse> => {
      // etcd: revoking deletes the lease's keys, so it needs write on each of them.
      if (auth !== undefined) auth.checkLeaseKeys(callerOf(auth, ctx), req.ID);
      const { revision } = await leases.revoke(req.ID, ctx.signal);
      return create(pb.LeaseRevokeResponseSchema, { header: headers.make(revision) });
    },
    LeaseKeepAlive: async (call: StreamCall<pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse>): Promise<void> => {
      for await (const req of call.requests) {
        if (call.ctx.signal.aborted) return;
        const { ttlSeconds, revision } = await leases.keepAlive(req.ID);
        await call.send(create(pb.LeaseKeepAliveResponseSchema, { header: headers.make(revision), ID: req.ID, TTL: BigInt(ttlSeconds) }));
      }
    },
    LeaseTimeToLive: (req: pb.LeaseTimeToLiveRequest, ctx: CallContext): pb.LeaseTimeToLiveResponse => {
      const user = callerOf(auth, ctx);
      const ttl = leases.timeToLive(req.ID, req.keys);
      // etcd: listing the keys needs read on each of them.
      if (auth !== undefined && req.keys) auth.checkReadKeys(user, ttl.keys);
      return create(pb.LeaseTimeToLiveResponseSchema, {
        header: headers.make(ttl.revision),
        ID: req.ID,
        TTL: BigInt(ttl.ttlSeconds),
        grantedTTL: BigInt(ttl.grantedTtlSeconds),
        keys: [...ttl.keys],
      });
    },
    LeaseLeases: (): pb.LeaseLeasesResponse => {
      const { ids, revision } = leases.leases();
      return create(pb.LeaseLeasesResponseSchema, {
        header: headers.make(revision),
        leases: ids.map((ID) => create(pb.LeaseStatusSchema, { ID })),
      });
    },
  };
}
