import { readdirSync } from 'node:fs';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { isTempFile } from '../../lib/state/files.js';
import { instances, markedPids } from '../helpers/e2e.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { makeStack, nodeFixture } from '../helpers/stack.js';

/** A two-service stack (api, then web) whose services take `delay` ms to listen (`extra`: more fields of each). */
export async function twoServices(delay = 150, extra = {}): Promise<ResolvedConfig> {
  return makeStack({
    api: {
      command: nodeFixture('listen.mjs'),
      port: await freePort(),
      env: { DELAY: String(delay), QUIET: '1' },
      stopTimeout: 3000,
      ...extra,
    },
    web: {
      command: nodeFixture('listen.mjs'),
      port: await freePort(),
      env: { DELAY: String(delay), QUIET: '1' },
      dependsOn: ['api'],
      stopTimeout: 3000,
      ...extra,
    },
  });
}

/** What is wrong with the state "each service runs exactly once" (empty: nothing). */
export function exactlyOnce(config: ResolvedConfig): string[] {
  const problems: string[] = [];
  const found = instances(config);
  for (const [name, svc] of Object.entries(config.services)) {
    const n = found.get(name)?.size ?? 0;
    if (n !== 1) problems.push(`${name}: ${n} instances`);
    if (typeof svc.port === 'number') {
      const listeners = listenersOn(svc.port).length;
      if (listeners !== 1) problems.push(`${name}: ${listeners} listeners on ${svc.port}`);
    }
  }
  return problems;
}

/** What is left behind after a `down` (empty: nothing). */
export function leftovers(config: ResolvedConfig): string[] {
  const problems: string[] = [];
  const pids = markedPids(config);
  if (pids.length > 0) problems.push(`marked processes alive: ${pids.join(', ')}`);
  for (const f of safeList(config.pidDir)) {
    if (f.endsWith('.json') || f.endsWith('.pid')) problems.push(`record left: ${f}`);
    if (isTempFile(f)) problems.push(`temp file left: ${f}`);
  }
  return problems;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** `part of total` as a figure. */
export function ratio(ok: number, total: number): string {
  return `${ok}/${total}`;
}
