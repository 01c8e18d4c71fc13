import { create } from '@bufbuild/protobuf';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { status } from '@grpc/grpc-js';
import { T4Error } from '../../domain/errors.js';
import { GrpcStatusError, unimplemented } from './errors.js';
import type { HeaderFactory } from './header.js';
import type { CallContext, ServiceHandlers, StreamCall } from './handler.js';
import type { AuthService } from '../../domain/auth/auth-service.js';
import { callerOf } from './auth-guard.js';

/**
 * The etcd version T4 reports in Status. Kubernetes gates features on it (RequestWatchProgress and
 * consistent reads from cache need 3.4.31+ or 3.5.13+; an unparsable version disables them), so
 * it names the etcd API level T4 implements, not T4's own version.
 */
export const ETCD_COMPAT_VERSION = '3.5.13';

export interface MaintenanceDeps {
  readonly backend: MvccBackend;
  readonly headers: HeaderFactory;
  /**
   * With the auth subsystem on: Defragment, Hash, HashKV, Snapshot, MoveLeader and Downgrade need
   * root; Status and Alarm need nothing (a token given must still be valid), as etcd 3.4.
   */
  readonly auth?: AuthService;
}

export function maintenanceHandlers({ backend, headers, auth }: MaintenanceDeps): ServiceHandlers {
  // etcd 3.4's authMaintenanceServer returns the auth store's errors without converting them to
  // gRPC statuses, so clients see Unknown "auth: permission denied" (etcdctl prints exactly that).
  const admin = (ctx: CallContext): void => {
    if (auth === undefined) return;
    try {
      auth.checkAdmin(callerOf(auth, ctx));
    } catch (error) {
      if (error instanceof T4Error) throw new GrpcStatusError(status.UNKNOWN, `auth: ${error.message}`);
      throw error;
    }
  };
  const user = (ctx: CallContext): void => {
    callerOf(auth, ctx);
  };
  return {
    Status: (_req: pb.StatusRequest, ctx: CallContext): pb.StatusResponse => {
      user(ctx);
      const revision = backend.currentRevision();
      const size = backend.size();
      return create(pb.StatusResponseSchema, {
        header: headers.make(revision),
        version: ETCD_COMPAT_VERSION,
        dbSize: BigInt(size.dbSizeBytes),
        dbSizeInUse: BigInt(size.dbSizeInUseBytes),
        leader: headers.memberId,
        raftIndex: BigInt(revision),
        raftTerm: 1n,
        raftAppliedIndex: BigInt(revision),
        isLearner: false,
        errors: [],
      });
    },
    Defragment: (_req: pb.DefragmentRequest, ctx: CallContext): pb.DefragmentResponse => {
      admin(ctx);
      backend.defragment();
      // etcd answers Defragment without a header.
      return create(pb.DefragmentResponseSchema, {});
    },
    Alarm: (_req: pb.AlarmRequest, ctx: CallContext): pb.AlarmResponse => {
      user(ctx);
      // T4 raises no alarms: space is bounded by the disk, not a quota, and corruption stops start-up.
      return create(pb.AlarmResponseSchema, { header: headers.make(backend.currentRevision()), alarms: [] });
    },
    Hash: (_req: unknown, ctx: CallContext) => {
      admin(ctx);
      throw unimplemented('t4: Hash is not supported; compare keys with `etcdctl get --prefix` or use `etcdctl endpoint status`');
    },
    HashKV: (_req: unknown, ctx: CallContext) => {
      admin(ctx);
      throw unimplemented('t4: HashKV is not supported; compare keys with `etcdctl get --prefix` or use `etcdctl endpoint status`');
    },
    Snapshot: async (call: StreamCall<unknown, unknown>) => {
      admin(call.ctx);
      throw unimplemented(
        't4: Snapshot is not supported; copy the data directory of a stopped node',
      );
    },
    MoveLeader: (_req: unknown, ctx: CallContext) => {
      admin(ctx);
      throw unimplemented('t4: MoveLeader is not supported; a single node is always its own leader');
    },
    Downgrade: (_req: unknown, ctx: CallContext) => {
      admin(ctx);
      throw unimplemented('t4: Downgrade is not supported; T4 has no storage-version downgrade');
    },
  };
}

export interface ClusterDeps {
  readonly backend: MvccBackend;
  readonly headers: HeaderFactory;
  readonly name: string;
  readonly clientUrls: () => readonly string[];
  /** With the auth subsystem on: member changes need root. */
  readonly auth?: AuthService;
}

export function clusterHandlers({ backend, headers, name, clientUrls, auth }: ClusterDeps): ServiceHandlers {
  const membership = (_req: unknown, ctx: CallContext) => {
    if (auth !== undefined) auth.checkAdmin(callerOf(auth, ctx));
    throw unimplemented('t4: member changes are not supported; T4 nodes join through the shared object store, not etcd membership');
  };
  return {
    MemberList: (): pb.MemberListResponse =>
      create(pb.MemberListResponseSchema, {
        // etcd's cluster server fills only the ids and raft term of this header, not a revision.
        header: headers.make(0),
        members: [
          create(pb.MemberSchema, { ID: headers.memberId, name, peerURLs: [], clientURLs: [...clientUrls()], isLearner: false }),
        ],
      }),
    MemberAdd: membership,
    MemberRemove: membership,
    MemberUpdate: membership,
    MemberPromote: membership,
  };
}
