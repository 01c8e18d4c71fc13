import type { AuthState, PermType } from './types.js';

/**
 * The auth state as bytes: UTF-8 JSON with keys in hex, version 1. The same bytes go into the WAL
 * (op AUTH_STATE) and the backends, so a state read back is exactly the state written.
 */
interface Encoded {
  readonly v: 1;
  readonly enabled: boolean;
  readonly revision: number;
  readonly users: { name: string; hash: string | null; roles: string[] }[];
  readonly roles: { name: string; perms: { key: string; end: string; type: PermType }[] }[];
}

const HEX = '0123456789abcdef';

function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += HEX[x >> 4]! + HEX[x & 15]!;
  return s;
}

function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new Error('auth state: bad hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function encodeAuthState(state: AuthState): Uint8Array {
  const e: Encoded = {
    v: 1,
    enabled: state.enabled,
    revision: state.revision,
    users: state.users.map((u) => ({ name: u.name, hash: u.passwordHash ?? null, roles: [...u.roles] })),
    roles: state.roles.map((r) => ({ name: r.name, perms: r.permissions.map((p) => ({ key: toHex(p.key), end: toHex(p.rangeEnd), type: p.permType })) })),
  };
  return new TextEncoder().encode(JSON.stringify(e));
}

export function decodeAuthState(bytes: Uint8Array): AuthState {
  const e = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Encoded;
  if (e.v !== 1) throw new Error(`auth state version ${String(e.v)} is not supported (written by a newer T4?)`);
  return {
    enabled: e.enabled === true,
    revision: Number(e.revision),
    users: e.users.map((u) => ({ name: u.name, passwordHash: u.hash ?? undefined, roles: [...u.roles] })),
    roles: e.roles.map((r) => ({ name: r.name, permissions: r.perms.map((p) => ({ key: fromHex(p.key), rangeEnd: fromHex(p.end), permType: p.type })) })),
  };
}
