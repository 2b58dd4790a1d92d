import { spawn as nodeSpawn } from 'node:child_process';
import { createRequire } from 'node:module';

/** The signature of `child_process.spawn` (and of cross-spawn). */
export type SpawnFn = typeof nodeSpawn;

let windows: SpawnFn | undefined;

/**
 * cross-spawn on Windows (PATHEXT lookup, shebangs, cmd.exe quoting); Node's
 * own spawn elsewhere, where cross-spawn would only pass the call through.
 * Loading cross-spawn only where it matters keeps every command's start fast.
 */
export function platformSpawn(platform: NodeJS.Platform = process.platform): SpawnFn {
  if (platform !== 'win32') return nodeSpawn;
  windows ??= createRequire(import.meta.url)('cross-spawn') as SpawnFn;
  return windows;
}
