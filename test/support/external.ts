// Locating external binaries (etcd, etcdctl, ...) that integration tests depend on.
//
//   const etcdctl = findExternal('etcdctl');
//   describe('etcdctl against T4', { skip: etcdctl.skip }, () => { ... });
//
// When a binary is missing the suite is skipped with a reason the reporter prints
// ("etcdctl not installed (apt-get install etcd-client)"). With T4_REQUIRE_EXTERNAL=1 (set by CI)
// findExternal throws instead, so the test file fails rather than silently skipping.
import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { runCommand } from './child-process.js';
import { delimiter, join } from 'node:path';

export type External =
  | { readonly name: string; readonly path: string; readonly skip: false }
  | { readonly name: string; readonly path: undefined; readonly skip: string };

const INSTALL_HINTS: Readonly<Record<string, string>> = {
  etcd: 'apt-get install etcd-server',
  etcdctl: 'apt-get install etcd-client',
};

/** True when CI demands that every external dependency is present. */
export function externalsRequired(): boolean {
  return process.env['T4_REQUIRE_EXTERNAL'] === '1';
}

/** Full path of an executable found on PATH, or undefined. */
export function whichSync(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Looks up an external binary. Returns `skip: false` and its path when found; otherwise a skip
 * reason, or throws when T4_REQUIRE_EXTERNAL=1.
 */
export function findExternal(name: string, installHint = INSTALL_HINTS[name]): External {
  const path = whichSync(name);
  if (path !== undefined) return { name, path, skip: false };
  const reason = `${name} not installed${installHint ? ` (${installHint})` : ''}`;
  if (externalsRequired()) {
    throw new Error(`${reason}; T4_REQUIRE_EXTERNAL=1 forbids skipping (PATH=${process.env['PATH'] ?? ''})`);
  }
  return { name, path: undefined, skip: reason };
}

/** Path of a binary that must exist (use inside tests/helpers); throws with the install hint. */
export function requireBinary(name: string): string {
  const found = findExternal(name);
  if (found.path === undefined) throw new Error(found.skip);
  return found.path;
}

/** `name` as `go install` puts it: in $GOPATH/bin (each GOPATH entry, then `go env GOPATH`, then ~/go/bin). */
export async function goBinBinary(name: string): Promise<string | undefined> {
  const dirs: string[] = [];
  for (const p of (process.env['GOPATH'] ?? '').split(':')) if (p !== '') dirs.push(join(p, 'bin'));
  if (whichSync('go') !== undefined) {
    try {
      const result = await runCommand('go', ['env', 'GOPATH'], { timeoutMs: 10_000 });
      const gopath = result.stdout.trim().split(':')[0];
      if (result.code === 0 && gopath) dirs.push(join(gopath, 'bin'));
    } catch {
      // fall through to the default GOPATH
    }
  }
  dirs.push(join(homedir(), 'go', 'bin'));
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
