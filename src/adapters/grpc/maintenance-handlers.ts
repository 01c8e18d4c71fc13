import { create } from '@bufbuild/protobuf';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { unimplemented } from './errors.js';
import type { HeaderFactory } from './header.js';
import type { ServiceHandlers } from './handler.js';

/**
 * The etcd version T4 reports in Status. Kubernetes gates features on it (RequestWatchProgress and
 * consistent reads from cache need 3.4.31+ or 3.5.13+; an unparsable version disables them), so
 * it names the etcd API level T4 implements, not T4's own version.
 */
export const ETCD_COMPAT_VERSION = '3.5.13';

export interface MaintenanceDeps {
  readonly backend: MvccBackend;
  readonly headers: HeaderFactory;
}

export function maintenanceHandlers({ backend, headers }: MaintenanceDeps): ServiceHandlers {
  return {
    Status: (): pb.StatusResponse => {
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
    Defragment: (): pb.DefragmentResponse => {
      backend.defragment();
      // etcd answers Defragment without a header.
      return create(pb.DefragmentResponseSchema, {});
    },
    Alarm: (): pb.AlarmResponse =>
      // T4 raises no alarms: space is bounded by the disk, not a quota, and corruption stops start-up.
      create(pb.AlarmResponseSchema, { header: headers.make(backend.currentRevision()), alarms: [] }),
    Hash: () => {
      throw unimplemented('t4: Hash is not supported; compare keys with `etcdctl get --prefix` or use `etcdctl endpoint status`');
    },
    HashKV: () => {
      throw unimplemented('t4: HashKV is not supported; compare keys with `etcdctl get --prefix` or use `etcdctl endpoint status`');
    },
    Snapshot: async () => {
      throw unimplemented(
        't4: Snapshot is not supported; copy the data directory of a stopped node',
      );
    },
    MoveLeader: () => {
      throw unimplemented('t4: MoveLeader is not supported; a single node is always its own leader');
    },
    Downgrade: () => {
      throw unimplemented('t4: Downgrade is not supported; T4 has no storage-version downgrade');
    },
  };
}

export interface ClusterDeps {
  readonly backend: MvccBackend;
  readonly headers: HeaderFactory;
  readonly name: string;
  readonly clientUrls: () => readonly string[];
}

export function clusterHandlers({ backend, headers, name, clientUrls }: ClusterDeps): ServiceHandlers {
  const membership = () => {
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
