import { create } from '@bufbuild/protobuf';
import type { AuthService } from '../../domain/auth/auth-service.js';
import type { Permission, PermType } from '../../domain/auth/types.js';
import { InvalidArgumentError } from '../../domain/errors.js';
import type { MvccBackend } from '../../ports/mvcc-backend.js';
import * as authpb from './gen/etcd/api/authpb/auth_pb.js';
import * as pb from './gen/etcd/api/etcdserverpb/rpc_pb.js';
import { callerOf } from './auth-guard.js';
import type { HeaderFactory } from './header.js';
import type { CallContext, ServiceHandlers } from './handler.js';

/**
 * etcd's Auth service with `--auth-enabled`: map, check, one domain call, map back. Every request
 * first resolves the caller (an invalid token fails here, as etcd); user and role administration,
 * AuthEnable and AuthDisable need the root role once auth is enabled (etcd's needAdminPermission),
 * except that a user may get themselves and the roles they hold (etcd's UserGet/RoleGet);
 * Authenticate and AuthStatus need nothing. Headers carry the current KV revision (auth changes take none).
 */
const PERM_TYPES: Record<number, PermType> = {
  [authpb.Permission_Type.READ]: 'read',
  [authpb.Permission_Type.WRITE]: 'write',
  [authpb.Permission_Type.READWRITE]: 'readwrite',
};

const PB_PERM_TYPES: Record<PermType, authpb.Permission_Type> = {
  read: authpb.Permission_Type.READ,
  write: authpb.Permission_Type.WRITE,
  readwrite: authpb.Permission_Type.READWRITE,
};

function fromPbPermission(p: authpb.Permission | undefined): Permission | undefined {
  if (p === undefined) return undefined;
  const permType = PERM_TYPES[p.permType];
  if (permType === undefined) throw new InvalidArgumentError(`etcdserver: unknown permission type ${p.permType}`);
  return { key: p.key, rangeEnd: p.rangeEnd, permType };
}

function plainPassword(password: string, hashedPassword: string): string {
  // etcd 3.5 clients may send a bcrypt hash instead of the password; T4 keeps scrypt hashes only.
  if (password === '' && hashedPassword !== '') {
    throw new InvalidArgumentError('t4: pre-hashed passwords (hashed_password) are not supported; send the password');
  }
  return password;
}

export function authHandlers(auth: AuthService, backend: MvccBackend, headers: HeaderFactory): ServiceHandlers {
  const header = () => headers.make(backend.currentRevision());
  const admin = (ctx: CallContext): void => auth.checkAdmin(callerOf(auth, ctx));
  return {
    AuthEnable: async (_req: pb.AuthEnableRequest, ctx: CallContext): Promise<pb.AuthEnableResponse> => {
      admin(ctx);
      await auth.enable(ctx.signal);
      return create(pb.AuthEnableResponseSchema, { header: header() });
    },
    AuthDisable: async (_req: pb.AuthDisableRequest, ctx: CallContext): Promise<pb.AuthDisableResponse> => {
      admin(ctx);
      await auth.disable(ctx.signal);
      return create(pb.AuthDisableResponseSchema, { header: header() });
    },
    AuthStatus: (_req: pb.AuthStatusRequest, ctx: CallContext): pb.AuthStatusResponse => {
      callerOf(auth, ctx);
      const { enabled, revision } = auth.status();
      return create(pb.AuthStatusResponseSchema, { header: header(), enabled, authRevision: BigInt(revision) });
    },
    Authenticate: async (req: pb.AuthenticateRequest): Promise<pb.AuthenticateResponse> => {
      const token = await auth.authenticate(req.name, req.password);
      return create(pb.AuthenticateResponseSchema, { header: header(), token });
    },
    UserAdd: async (req: pb.AuthUserAddRequest, ctx: CallContext): Promise<pb.AuthUserAddResponse> => {
      admin(ctx);
      await auth.userAdd(req.name, plainPassword(req.password, req.hashedPassword), req.options?.noPassword === true, ctx.signal);
      return create(pb.AuthUserAddResponseSchema, { header: header() });
    },
    UserGet: (req: pb.AuthUserGetRequest, ctx: CallContext): pb.AuthUserGetResponse => {
      // As etcd's authApplierV3.UserGet: a user may read their own roles.
      auth.checkUserGet(callerOf(auth, ctx), req.name);
      return create(pb.AuthUserGetResponseSchema, { header: header(), roles: [...auth.userGet(req.name)] });
    },
    UserList: (_req: pb.AuthUserListRequest, ctx: CallContext): pb.AuthUserListResponse => {
      admin(ctx);
      return create(pb.AuthUserListResponseSchema, { header: header(), users: auth.userList() });
    },
    UserDelete: async (req: pb.AuthUserDeleteRequest, ctx: CallContext): Promise<pb.AuthUserDeleteResponse> => {
      admin(ctx);
      await auth.userDelete(req.name, ctx.signal);
      return create(pb.AuthUserDeleteResponseSchema, { header: header() });
    },
    UserChangePassword: async (req: pb.AuthUserChangePasswordRequest, ctx: CallContext): Promise<pb.AuthUserChangePasswordResponse> => {
      admin(ctx);
      await auth.userChangePassword(req.name, plainPassword(req.password, req.hashedPassword), ctx.signal);
      return create(pb.AuthUserChangePasswordResponseSchema, { header: header() });
    },
    UserGrantRole: async (req: pb.AuthUserGrantRoleRequest, ctx: CallContext): Promise<pb.AuthUserGrantRoleResponse> => {
      admin(ctx);
      await auth.userGrantRole(req.user, req.role, ctx.signal);
      return create(pb.AuthUserGrantRoleResponseSchema, { header: header() });
    },
    UserRevokeRole: async (req: pb.AuthUserRevokeRoleRequest, ctx: CallContext): Promise<pb.AuthUserRevokeRoleResponse> => {
      admin(ctx);
      await auth.userRevokeRole(req.name, req.role, ctx.signal);
      return create(pb.AuthUserRevokeRoleResponseSchema, { header: header() });
    },
    RoleAdd: async (req: pb.AuthRoleAddRequest, ctx: CallContext): Promise<pb.AuthRoleAddResponse> => {
      admin(ctx);
      await auth.roleAdd(req.name, ctx.signal);
      return create(pb.AuthRoleAddResponseSchema, { header: header() });
    },
    RoleGet: (req: pb.AuthRoleGetRequest, ctx: CallContext): pb.AuthRoleGetResponse => {
      // As etcd's authApplierV3.RoleGet: a user may read the roles they hold.
      auth.checkRoleGet(callerOf(auth, ctx), req.role);
      const perm = auth.roleGet(req.role).map((p) => create(authpb.PermissionSchema, { key: p.key, rangeEnd: p.rangeEnd, permType: PB_PERM_TYPES[p.permType] }));
      return create(pb.AuthRoleGetResponseSchema, { header: header(), perm });
    },
    RoleList: (_req: pb.AuthRoleListRequest, ctx: CallContext): pb.AuthRoleListResponse => {
      admin(ctx);
      return create(pb.AuthRoleListResponseSchema, { header: header(), roles: auth.roleList() });
    },
    RoleDelete: async (req: pb.AuthRoleDeleteRequest, ctx: CallContext): Promise<pb.AuthRoleDeleteResponse> => {
      admin(ctx);
      await auth.roleDelete(req.role, ctx.signal);
      return create(pb.AuthRoleDeleteResponseSchema, { header: header() });
    },
    RoleGrantPermission: async (req: pb.AuthRoleGrantPermissionRequest, ctx: CallContext): Promise<pb.AuthRoleGrantPermissionResponse> => {
      admin(ctx);
      await auth.roleGrantPermission(req.name, fromPbPermission(req.perm), ctx.signal);
      return create(pb.AuthRoleGrantPermissionResponseSchema, { header: header() });
    },
    RoleRevokePermission: async (req: pb.AuthRoleRevokePermissionRequest, ctx: CallContext): Promise<pb.AuthRoleRevokePermissionResponse> => {
      admin(ctx);
      await auth.roleRevokePermission(req.role, req.key, req.rangeEnd, ctx.signal);
      return create(pb.AuthRoleRevokePermissionResponseSchema, { header: header() });
    },
  };
}
