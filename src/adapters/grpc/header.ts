import { create } from '@bufbuild/protobuf';
import { ResponseHeaderSchema, type ResponseHeader } from './gen/etcd/api/etcdserverpb/rpc_pb.js';

/** Fills etcd's response header: this cluster and member, the raft term, and the given revision. */
export class HeaderFactory {
  constructor(
    readonly clusterId: bigint,
    readonly memberId: bigint,
    private readonly raftTerm: () => bigint,
  ) {}

  make(revision: number): ResponseHeader {
    return create(ResponseHeaderSchema, {
      clusterId: this.clusterId,
      memberId: this.memberId,
      revision: BigInt(revision),
      raftTerm: this.raftTerm(),
    });
  }
}
