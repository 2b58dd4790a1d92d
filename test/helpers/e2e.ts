import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { systemInspector } from '../../lib/os/inspector.js';
import { findMarked } from '../../lib/process/sweep.js';
import { stackId } from '../../lib/state/marker.js';
import { BIN } from './paths.js';
import { waitFor } from './procs.js';
import { startProcess } from './run.js';

const inspector = systemInspector();

/** Live processes carrying the stack's marker, by service → distinct instance markers. */
export function instances(config: ResolvedConfig): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const m of findMarked({ stack: stackId(config.name, config.file) }, inspector)) {
    found.set(m.service, (found.get(m.service) ?? new Set()).add(m.marker));
  }
  return found;
}

/** Every live process carrying the stack's marker. */
export function markedPids(config: ResolvedConfig): number[] {
  return findMarked({ stack: stackId(config.name, config.file) }, inspector).map((m) => m.info.pid);
}

/** The record of a service on disk, or null. */
export function recordOf(config: ResolvedConfig, service: string): Record<string, unknown> | null {
  const file = join(config.pidDir, `${service}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    // Absent, or removed since a look (a restart removes the old record before it writes the
    // new one): a poll of the record must not throw for that.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  return JSON.parse(text) as Record<string, unknown>;
}

/** Starts the CLI in the background (foreground `up`, `run`...), tracked, with its output collected. */
export function startCli(
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const started = startProcess([process.execPath, BIN, ...args], { cwd, env, timeout: 120_000 });
  return {
    child: started.child,
    output: started.output,
    exited: started.ended.then((r) => r.code),
  };
}

/** Waits until every named service's record says it is ready. */
export async function waitReady(
  config: ResolvedConfig,
  services: readonly string[],
  timeout = 10_000,
) {
  await waitFor(
    () => services.every((s) => typeof recordOf(config, s)?.readyAt === 'string'),
    timeout,
    `${services.join(', ')} to be ready`,
  );
}
