import { create } from '@bufbuild/protobuf';
import { ResponseHeaderSchema, type ResponseHeader } from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { ProtobufWriter, varintFieldLength, varintTag } from '../../domain/protobuf-wire.js';

/** etcd api/etcdserverpb/rpc.proto ResponseHeader: cluster_id = 1, member_id = 2, revision = 3, raft_term = 4. */
const CLUSTER_ID = varintTag(1);
const MEMBER_ID = varintTag(2);
const REVISION = varintTag(3);
const RAFT_TERM = varintTag(4);

/** Fills etcd's response header: this cluster and member, the raft term, and the given revision. */
export class HeaderFactory {
  private encodedRevision = -1;
  private encodedTerm = -1n;
  private encodedBytes: Uint8Array = new Uint8Array(0);

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

  /**
   * The same header as protobuf bytes (what `toBinary(ResponseHeaderSchema, make(revision))`
   * gives). The last one is kept: consecutive responses mostly share a revision.
   */
  encode(revision: number): Uint8Array {
    const term = this.raftTerm();
    if (revision === this.encodedRevision && term === this.encodedTerm) return this.encodedBytes;
    const size =
      varintFieldLength(this.clusterId) + varintFieldLength(this.memberId) + varintFieldLength(revision) + varintFieldLength(term);
    const w = new ProtobufWriter(new Uint8Array(size));
    w.varintField(CLUSTER_ID, this.clusterId);
    w.varintField(MEMBER_ID, this.memberId);
    w.varintField(REVISION, revision);
    w.varintField(RAFT_TERM, term);
    this.encodedRevision = revision;
    this.encodedTerm = term;
    this.encodedBytes = w.out;
    return w.out;
  }
}
