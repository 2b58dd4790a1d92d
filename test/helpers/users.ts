import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { track } from './procs.js';

/** The second user the hostile-state tests act as (created by the tests when running as root). */
const OTHER_USER = 'lg-other';

/** A user's ids. */
export interface UserIds {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/**
 * True in the project's CI (`.ci/run` sets LAUNCHGUARD_CI=1): there a test
 * that needs root or a system tool fails loudly instead of skipping.
 */
export const STRICT = process.env.LAUNCHGUARD_CI === '1';

/**
 * Skips the test when not running as root, or fails it in CI, where root is
 * required (CI runs as root).
 */
export function requireRoot(ctx: Mocha.Context): void {
  if (process.getuid?.() === 0) return;
  if (STRICT) throw new Error('this test needs root (CI runs as root; LAUNCHGUARD_CI=1 is set)');
  ctx.skip();
}

/** Fails in CI (the tool must be there), skips elsewhere, when `tool` cannot run. */
export function requireTool(ctx: Mocha.Context, tool: string, args: string[]): void {
  if (spawnSync(tool, args, { stdio: 'ignore' }).status === 0) return;
  if (STRICT) throw new Error(`${tool} is missing: .ci/run installs it`);
  ctx.skip();
}

function idOf(flag: '-u' | '-g', name: string): number | null {
  try {
    return Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: 'pipe' }).trim());
  } catch {
    return null;
  }
}

/**
 * The second user, created on first use (`useradd --system`, no home, no
 * shell). Needs root: call {@link requireRoot} first.
 */
export function otherUser(): UserIds {
  if (idOf('-u', OTHER_USER) === null) {
    execFileSync(
      'useradd',
      ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', OTHER_USER],
      { stdio: 'pipe' },
    );
  }
  const uid = idOf('-u', OTHER_USER);
  const gid = idOf('-g', OTHER_USER);
  if (uid === null || gid === null) throw new Error(`cannot create the user ${OTHER_USER}`);
  return { name: OTHER_USER, uid, gid };
}

/** Spawns `argv` as another user (detached, its own group), tracked for cleanup by PID. */
export function spawnAs(
  user: UserIds,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  cwd = '/',
): ChildProcess {
  const child = spawn(argv[0] as string, argv.slice(1), {
    uid: user.uid,
    gid: user.gid,
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: 'ignore',
    detached: true,
  });
  if (child.pid !== undefined) track(child.pid);
  child.unref();
  return child;
}
