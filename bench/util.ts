import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The test fixtures the benchmarks run as services. */
export const FIXTURES = `${ROOT}test/fixtures/`;
/** The launchguard CLI. */
export const BIN = `${ROOT}bin/launchguard.js`;
/** Preloaded into a tool's Node process to report its CPU time and peak RSS. */
export const RUSAGE_HOOK = `${ROOT}bench/rusage-hook.mjs`;

/** Wall-clock milliseconds with sub-ms precision, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** `median (min-max)` of samples, in ms. */
export function describe(values: readonly number[], digits = 0): string {
  const f = (n: number) => n.toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}-${f(Math.max(...values))})`;
}

/** One TCP connect attempt to 127.0.0.1. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(socket.localPort !== port);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Polls every port at `every` ms until all accept a connection; resolves at that moment. */
export async function pollUntilOpen(
  ports: readonly number[],
  every = 1,
  timeout = 60_000,
): Promise<number> {
  const deadline = Date.now() + timeout;
  const open = new Set<number>();
  while (open.size < ports.length) {
    if (Date.now() > deadline) throw new Error(`ports ${ports.join(',')} did not open`);
    await Promise.all(
      ports.filter((p) => !open.has(p)).map(async (p) => (await canConnect(p)) && open.add(p)),
    );
    if (open.size < ports.length) await sleep(every);
  }
  return now();
}

/** Polls until no port accepts connections any more. */
export async function pollUntilClosed(ports: readonly number[], timeout = 60_000): Promise<number> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const open = await Promise.all(ports.map(canConnect));
    if (!open.some(Boolean)) return now();
    if (Date.now() > deadline) throw new Error('ports did not close');
    await sleep(1);
  }
}

/** What a finished command reported. */
export interface Ran {
  readonly ms: number;
  readonly code: number | null;
  readonly out: string;
  readonly endedAt: number;
  /** CPU ms and peak RSS (MB) of the tool's own Node process, when it ran with the hook. */
  readonly cpuMs?: number;
  readonly rssMb?: number;
  /** When it started (epoch ms), and the phases it published (launchguard), with the hook. */
  readonly startedAt: number;
  readonly phases?: readonly Phase[];
}

/** A phase a launchguard command published (`launchguard:phase`), plus `node` and `exit` from the hook. */
export interface Phase {
  readonly phase: string;
  readonly service?: string;
  readonly at: number;
}

/** Processes the bench started, by PID, to stop at the end whatever happens. */
export const started = new Set<number>();

/**
 * Runs a Node CLI (`node --import hook script args`) to completion and times
 * it; the hook reports the tool's own CPU time and peak RSS.
 */
export async function runNode(
  script: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; rusageDir?: string },
): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  if (options.rusageDir) {
    env.LG_BENCH_RUSAGE = `${options.rusageDir}/rusage`;
    // The keeper of `up -d` is a Node process of its own: the hook reaches it this way.
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${RUSAGE_HOOK}`.trim();
  }
  const t0 = now();
  const child = spawn(process.execPath, ['--import', RUSAGE_HOOK, script, ...args], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child.pid as number);
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const endedAt = now();
  started.delete(child.pid as number);
  const usage = options.rusageDir ? readUsage(options.rusageDir, child.pid as number) : undefined;
  return { ms: endedAt - t0, code, out, endedAt, startedAt: t0, ...usage };
}

function readUsage(
  dir: string,
  pid: number,
): { cpuMs: number; rssMb: number; phases: Phase[] } | undefined {
  const file = `${dir}/rusage.${pid}`;
  if (!existsSync(file)) return undefined;
  const u = JSON.parse(readFileSync(file, 'utf8')) as {
    userCPUTime: number;
    systemCPUTime: number;
    maxRSS: number;
    phases?: Phase[];
  };
  // The keeper's phases (`up -d`), prefixed: `keeper:config` is the keeper's config load.
  const keeper = readdirSync(dir)
    .filter((f) => f.startsWith('rusage.keeper.'))
    .flatMap((f) => (JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as { phases: Phase[] }).phases)
    .map((p) => ({ ...p, phase: `keeper:${p.phase}` }));
  return {
    cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000,
    rssMb: u.maxRSS / 1024,
    phases: [...(u.phases ?? []), ...keeper],
  };
}

/** Starts a Node process detached (its own group), tracked for the final cleanup. */
export function spawnDetached(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: 'ignore',
    detached: true,
  });
  started.add(child.pid as number);
  child.unref();
  return child;
}

/** Ends a process group the bench created (its leader's PID), and forgets it. */
export function killGroup(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
  started.delete(pid);
}

/** Ends every process the bench started that is still around (by PID; groups it created). */
export function cleanup(): void {
  for (const pid of started) killGroup(pid);
}

/** Peak RSS (VmHWM) of a live process, in MB, or null. */
export function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Reads a stamp line `<name> <event> <ms>` written by listen.mjs. */
export function stampOf(file: string, event: string): number {
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[1] === event);
  if (!line) throw new Error(`no '${event}' stamp in ${file}`);
  return Number(line.split(' ')[2]);
}

/** Files in a folder (for counting). */
export function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
