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
  toPbTxnResponse,
} from './kv-mappers.js';
import { encodedSize } from './service-definition.js';
import { encodePutResponse, encodeRangeRecordsResponse, encodeRangeResponse } from './kv-response-encoder.js';
import { isTxnReadOnly } from '../../domain/mvcc/txn.js';
import type { AuthService } from '../../domain/auth/auth-service.js';
import { callerOf } from './auth-guard.js';
import type { RangeRequest, RangeResult, RecordsRangeResult, WithRevision } from '../../domain/mvcc/requests.js';

/** etcd's Range over `range` (a KvService, or a serving process's read-only snapshot), answered as encoded bytes. */
export function rangeHandler(
  range: (req: RangeRequest) => WithRevision<RangeResult | RecordsRangeResult>,
  headers: HeaderFactory,
  auth?: AuthService,
): (req: pb.RangeRequest, ctx: CallContext) => Uint8Array {
  return (req, ctx) => {
    if (auth !== undefined) auth.check(callerOf(auth, ctx), 'read', req.key, req.rangeEnd);
    const { revision, result } = range(fromPbRange(req));
    const header = headers.encode(revision);
    // Most ranges come as the store's records and are sent as they are; the rest key by key.
    return 'records' in result ? encodeRangeRecordsResponse(result, header) : encodeRangeResponse(result, header);
  };
}

/** etcd's KV service: validate size, map, one domain call, map back with this request's revision. */
/**
 * With `auth` (the auth subsystem is on), each request is checked first as etcd's authApplierV3:
 * Range read over [key, range_end); Put write (and write on the keys already on its lease, read
 * with prev_kv); DeleteRange write (read too with prev_kv); Txn etcd's CheckTxnAuth; Compact
 * nothing (as etcd). Checks pass while auth is disabled; a token given must be valid regardless.
 */
export function kvHandlers(kv: KvService, headers: HeaderFactory, requestBytesMax: number, auth?: AuthService): ServiceHandlers {
  const checkSize = (req: object): void => {
    if (encodedSize(req) > requestBytesMax) throw new RequestTooLargeError();
  };
  return {
    Range: rangeHandler((req) => kv.rangePreferringRecords(req), headers, auth),
    Put: async (req: pb.PutRequest, ctx: CallContext): Promise<Uint8Array> => {
      checkSize(req);
      if (auth !== undefined) {
        const user = callerOf(auth, ctx);
        auth.check(user, 'write', req.key);
        auth.checkLeaseKeys(user, req.lease);
        if (req.prevKv) auth.check(user, 'read', req.key);
      }
      const { revision, result } = await kv.put(fromPbPut(req), ctx);
      return encodePutResponse(result, headers.encode(revision));
    },
    DeleteRange: async (req: pb.DeleteRangeRequest, ctx: CallContext): Promise<pb.DeleteRangeResponse> => {
      checkSize(req);
      if (auth !== undefined) {
        const user = callerOf(auth, ctx);
        if (req.prevKv) auth.check(user, 'read', req.key, req.rangeEnd);
        auth.check(user, 'write', req.key, req.rangeEnd);
      }
      const { revision, result } = await kv.deleteRange(fromPbDeleteRange(req), ctx);
      return toPbDeleteRangeResponse(result, headers.make(revision));
    },
    Txn: async (req: pb.TxnRequest, ctx: CallContext): Promise<pb.TxnResponse> => {
      const txn = fromPbTxn(req);
      // As etcd: only requests that go through the log are size-checked; a read-only txn is a read.
      if (!isTxnReadOnly(txn)) checkSize(req);
      if (auth !== undefined) auth.checkTxn(callerOf(auth, ctx), txn);
      const { revision, result } = await kv.txn(txn, ctx);
      return toPbTxnResponse(result, headers.make(revision));
    },
    Compact: async (req: pb.CompactionRequest, ctx: CallContext): Promise<pb.CompactionResponse> => {
      // etcd checks no permission for Compact; a token given must still be valid.
      callerOf(auth, ctx);
      const { revision } = await kv.compact(toNumber(req.revision), req.physical, ctx);
      return create(pb.CompactionResponseSchema, { header: headers.make(revision) });
    },
  };
}
