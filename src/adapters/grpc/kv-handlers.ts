import { create } from '@bufbuild/protobuf';
import { RequestTooLargeError } from '../../domain/errors.js';
import type { KvService } from '../../domain/mvcc/kv-service.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import type { HeaderFactory } from './header.js';
import type { CallContext, ServiceHandlers } from './handler.js';
import {
  fromPbDeleteRange,
  fromPbPut,
  fromPbRange,
  fromPbTxn,
  toNumber,
  toPbDeleteRangeResponse,
  toPbPutResponse,
  toPbRangeResponse,
  toPbTxnResponse,
} from './kv-mappers.js';
import { encodedSize } from './service-definition.js';
import { isTxnReadOnly } from '../../domain/mvcc/txn.js';

/** etcd's KV service: validate size, map, one domain call, map back with this request's revision. */
export function kvHandlers(kv: KvService, headers: HeaderFactory, requestBytesMax: number): ServiceHandlers {
  const checkSize = (req: object): void => {
    if (encodedSize(req) > requestBytesMax) throw new RequestTooLargeError();
  };
  return {
    Range: (req: pb.RangeRequest): pb.RangeResponse => {
      const { revision, result } = kv.range(fromPbRange(req));
      return toPbRangeResponse(result, headers.make(revision));
    },
    Put: async (req: pb.PutRequest, ctx: CallContext): Promise<pb.PutResponse> => {
      checkSize(req);
      const { revision, result } = await kv.put(fromPbPut(req), ctx.signal);
      return toPbPutResponse(result, headers.make(revision));
    },
    DeleteRange: async (req: pb.DeleteRangeRequest, ctx: CallContext): Promise<pb.DeleteRangeResponse> => {
      checkSize(req);
      const { revision, result } = await kv.deleteRange(fromPbDeleteRange(req), ctx.signal);
      return toPbDeleteRangeResponse(result, headers.make(revision));
    },
    Txn: async (req: pb.TxnRequest, ctx: CallContext): Promise<pb.TxnResponse> => {
      const txn = fromPbTxn(req);
      // As etcd: only requests that go through the log are size-checked; a read-only txn is a read.
      if (!isTxnReadOnly(txn)) checkSize(req);
      const { revision, result } = await kv.txn(txn, ctx.signal);
      return toPbTxnResponse(result, headers.make(revision));
    },
    Compact: async (req: pb.CompactionRequest, ctx: CallContext): Promise<pb.CompactionResponse> => {
      const { revision } = await kv.compact(toNumber(req.revision), req.physical, ctx.signal);
      return create(pb.CompactionResponseSchema, { header: headers.make(revision) });
    },
  };
}
