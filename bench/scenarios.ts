import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import getPort from 'get-port';
import { peerBin } from './peers.js';
import {
  BIN,
  FIXTURES,
  killGroup,
  now,
  type Phase,
  peakRssMb,
  pollUntilClosed,
  pollUntilOpen,
  ROOT,
  runNode,
  spawnDetached,
} from './util.js';

const LISTEN = `${FIXTURES}listen.mjs`;
const STUBBORN = `${FIXTURES}ignore-term.mjs`;

/** A temp folder for one measurement, removed by `done`. */
export function workdir(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lg-bench-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Distinct free ports. */
export async function ports(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) out.push(await getPort({ exclude: out }));
  return out;
}

/** Writes a launchguard config of `n` listen.mjs services on the given ports. */
export function writeStack(
  dir: string,
  portList: readonly number[],
  env: Record<string, string> = {},
  extra = {},
): void {
  const services = Object.fromEntries(
    portList.map((port, i) => [
      `s${i}`,
      { command: [process.execPath, LISTEN], port, env: { NAME: `s${i}`, ...env }, ...extra },
    ]),
  );
  writeFileSync(
    join(dir, 'launch.config.mjs'),
    `export default ${JSON.stringify({ services })};\n`,
  );
}

/** `node -e 0`: the floor of any Node CLI. */
export async function nodeFloor(dir: string): Promise<number> {
  return (await runNode('-e', ['0'], { cwd: dir })).ms;
}

/** Spawn the services directly and poll them at 1 ms: the floor of "all ready". */
export async function spawnFloor(
  dir: string,
  portList: readonly number[],
): Promise<{ ready: number; stop: number }> {
  const t0 = now();
  const kids = portList.map((port) =>
    spawnDetached([LISTEN], { PORT: String(port), QUIET: '1' }, dir),
  );
  const ready = (await pollUntilOpen(portList)) - t0;
  const s0 = now();
  for (const k of kids) killGroup(k.pid as number, 'SIGTERM');
  const stop = (await pollUntilClosed(portList)) - s0;
  return { ready, stop };
}

/** `launchguard up -d` then `down`, both timed, with the launcher's CPU, peak RSS and phases. */
export async function launchguard(dir: string, rusageDir: string, env: NodeJS.ProcessEnv = {}) {
  const up = await runNode(BIN, ['up', '-d'], { cwd: dir, rusageDir, env });
  if (up.code !== 0) throw new Error(`launchguard up -d failed:\n${up.out}`);
  const down = await runNode(BIN, ['down'], { cwd: dir, env });
  if (down.code !== 0) throw new Error(`launchguard down failed:\n${down.out}`);
  return {
    ready: up.ms,
    stop: down.ms,
    cpuMs: up.cpuMs ?? Number.NaN,
    rssMb: up.rssMb ?? Number.NaN,
    endedAt: up.endedAt,
    phases: breakdown(up.startedAt, up.phases ?? [], up.endedAt),
  };
}

/**
 * The phases of `up -d` of one service, in ms each (see `npm run bench`):
 * the CLI's own (`node`, `exit`) and, prefixed `keeper:`, those of the keeper
 * that starts the service (the hook reaches it through NODE_OPTIONS).
 */
export interface UpPhases {
  /** Until the CLI's first line of code. */
  readonly node: number;
  /** Until the keeper's first line: its spawn (the CLI's first act) and its Node start. */
  readonly keeperNode: number;
  readonly modules: number;
  readonly config: number;
  readonly preflight: number;
  readonly spawn: number;
  readonly readiness: number;
  /** readyAt and the pin, the take-over, the leases. */
  readonly finish: number;
  /** The result to the CLI, its summary, until its `exit` event. */
  readonly report: number;
  /** Node's teardown of the CLI, seen by the parent. */
  readonly exit: number;
}

function breakdown(startedAt: number, phases: readonly Phase[], endedAt: number): UpPhases | null {
  const at = (name: string) => phases.find((p) => p.phase === name)?.at ?? Number.NaN;
  const points = [
    startedAt,
    at('node'),
    at('keeper:node'),
    at('keeper:modules'),
    at('keeper:config'),
    at('keeper:preflight'),
    at('keeper:spawned'),
    at('keeper:ready'),
    at('keeper:kept'),
    at('exit'),
    endedAt,
  ];
  if (points.some(Number.isNaN)) return null;
  const d = (i: number) => (points[i + 1] as number) - (points[i] as number);
  return {
    node: d(0),
    keeperNode: d(1),
    modules: d(2),
    config: d(3),
    preflight: d(4),
    spawn: d(5),
    readiness: d(6),
    finish: d(7),
    report: d(8),
    exit: d(9),
  };
}

/** The CLI run from the module tree (dist/lib) instead of its bundle: what bundling saves. */
export function moduleTreeCli(dir: string, args: readonly string[]) {
  const main = `${ROOT}dist/lib/cli/main.js`;
  const code = `import(${JSON.stringify(main)}).then(({ runCli }) => runCli(process.argv.slice(1), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() })).then((c) => process.exit(c))`;
  return runNode('-e', [code, ...args], { cwd: dir });
}

/** `node service &` and `wait-on tcp:PORT...` (its default 250 ms interval), started together. */
export async function waitOn(
  dir: string,
  portList: readonly number[],
  rusageDir: string,
  env: Record<string, string> = {},
) {
  const t0 = now();
  const kids = portList.map((port) =>
    spawnDetached([LISTEN], { PORT: String(port), QUIET: '1', ...env }, dir),
  );
  const run = await runNode(
    peerBin('wait-on'),
    portList.map((p) => `tcp:127.0.0.1:${p}`),
    { cwd: dir, rusageDir },
  );
  for (const k of kids) killGroup(k.pid as number, 'SIGTERM');
  await pollUntilClosed(portList);
  return {
    ready: run.endedAt - t0,
    endedAt: run.endedAt,
    cpuMs: run.cpuMs ?? Number.NaN,
    rssMb: run.rssMb ?? Number.NaN,
  };
}

/** start-server-and-test with its defaults: time until the test command starts. */
export async function startServerAndTest(
  dir: string,
  port: number,
  env: Record<string, string> = {},
) {
  const stamp = join(dir, 'sst-stamp');
  const test = `node -e "require('fs').writeFileSync('${stamp}', String(performance.timeOrigin + performance.now()))"`;
  const t0 = now();
  const run = await runNode(
    peerBin('start-server-and-test'),
    [`node ${LISTEN}`, `tcp:127.0.0.1:${port}`, test],
    {
      cwd: dir,
      env: { PORT: String(port), QUIET: '1', ...env },
    },
  );
  if (run.code !== 0) throw new Error(`start-server-and-test failed:\n${run.out}`);
  await pollUntilClosed([port]);
  const testAt = Number(readFileSync(stamp, 'utf8'));
  return { ready: testAt - t0, testAt };
}

/** pm2 with a warm daemon: `pm2 start` (or an ecosystem file) and a 1 ms poll; `pm2 delete`. */
export class Pm2 {
  readonly home: string;
  readonly #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
    this.home = join(dir, 'pm2-home');
  }
  #run(args: string[]) {
    return runNode(peerBin('pm2'), args, { cwd: this.#dir, env: { PM2_HOME: this.home } });
  }
  async warm(): Promise<void> {
    await this.#run(['ping']);
  }
  daemonPid(): number | null {
    try {
      return Number(readFileSync(join(this.home, 'pm2.pid'), 'utf8'));
    } catch {
      return null;
    }
  }
  async startMany(
    portList: readonly number[],
    waitReady = false,
    env: Record<string, string> = {},
  ) {
    const apps = portList.map((port, i) => ({
      name: `s${i}`,
      script: LISTEN,
      env: { PORT: String(port), ...env },
      autorestart: false,
      ...(waitReady ? { wait_ready: true, listen_timeout: 20_000 } : {}),
    }));
    const eco = join(this.#dir, 'ecosystem.config.cjs');
    writeFileSync(eco, `module.exports = ${JSON.stringify({ apps })};\n`);
    const t0 = now();
    const start = await this.#run(['start', eco]);
    if (start.code !== 0) throw new Error(`pm2 start failed:\n${start.out}`);
    const readyAt = waitReady ? start.endedAt : await pollUntilOpen(portList);
    const s0 = now();
    await this.#run(['delete', 'all']);
    await pollUntilClosed(portList);
    return { ready: readyAt - t0, startExit: start.endedAt, stop: now() - s0 };
  }
  /** `pm2 start` of an ecosystem's apps, a 1 ms poll of `ports`, then `pm2 delete all`. */
  async cycle(apps: readonly Record<string, unknown>[], portList: readonly number[]) {
    const eco = join(this.#dir, 'ecosystem.config.cjs');
    writeFileSync(eco, `module.exports = ${JSON.stringify({ apps })};\n`);
    const t0 = now();
    const start = await this.#run(['start', eco]);
    if (start.code !== 0) throw new Error(`pm2 start failed:\n${start.out}`);
    const readyAt = await pollUntilOpen(portList);
    const s0 = now();
    await this.#run(['delete', 'all']);
    await pollUntilClosed(portList);
    return { up: readyAt - t0, down: now() - s0 };
  }
  async kill(): Promise<void> {
    await this.#run(['kill']);
  }
}

/**
 * The shape of a real stack (issue 26's trial: postgres with initdb, two
 * one-shot tasks, an API and a front end), from fixtures: a database-like
 * service that takes 300 ms to listen, `migrate` and `seed` (150 ms each, in
 * order, after the database), an API after both tasks, a web server after the
 * API. launchguard honours the order; pm2 starts all five at once (it has no
 * order) and a 1 ms poll waits for the three ports, as the trial did with wait-on.
 */
export async function realStack(pm2: Pm2) {
  const w = workdir();
  try {
    const [db, api, web] = (await ports(3)) as [number, number, number];
    const taskFile = join(w.dir, 'task.cjs');
    writeFileSync(taskFile, 'setTimeout(() => {}, 150);\n');
    const task = [process.execPath, taskFile];
    const services = {
      db: { command: [process.execPath, LISTEN], port: db, env: { DELAY: '300' } },
      migrate: { command: task, dependsOn: ['db'] },
      seed: { command: task, dependsOn: { migrate: 'completed' } },
      api: {
        command: [process.execPath, LISTEN],
        port: api,
        dependsOn: { db: 'ready', seed: 'completed' },
      },
      web: { command: [process.execPath, LISTEN], port: web, dependsOn: ['api'] },
    };
    writeFileSync(
      join(w.dir, 'launch.config.mjs'),
      `export default ${JSON.stringify({ services })};\n`,
    );
    const cycle = async () => {
      const up = await runNode(BIN, ['up', '-d'], { cwd: w.dir });
      if (up.code !== 0) throw new Error(`launchguard up -d failed:\n${up.out}`);
      const down = await runNode(BIN, ['down'], { cwd: w.dir });
      if (down.code !== 0) throw new Error(`launchguard down failed:\n${down.out}`);
      return { up: up.ms, down: down.ms };
    };
    const cold = await cycle();
    // The same stack with rerun: 'on-change' on both tasks, after a first start: the start
    // a developer makes again and again (the tasks completed with this config; not run again).
    writeFileSync(
      join(w.dir, 'launch.config.mjs'),
      `export default ${JSON.stringify({
        services: {
          ...services,
          migrate: { ...services.migrate, rerun: 'on-change' },
          seed: { ...services.seed, rerun: 'on-change' },
        },
      })};\n`,
    );
    await cycle();
    const warm = await cycle();
    const app = (name: string, port: number | null, extra: Record<string, unknown> = {}) => ({
      name,
      script: port === null ? taskFile : LISTEN,
      env: port === null ? {} : { PORT: String(port), ...extra },
      autorestart: false,
    });
    const p = await pm2.cycle(
      [
        app('db', db, { DELAY: '300' }),
        app('migrate', null),
        app('seed', null),
        app('api', api),
        app('web', web),
      ],
      [db, api, web],
    );
    return {
      lgUp: cold.up,
      lgDown: cold.down,
      lgWarmUp: warm.up,
      lgWarmDown: warm.down,
      pm2Up: p.up,
      pm2Down: p.down,
    };
  } finally {
    w.done();
  }
}

/** concurrently running every service, plus wait-on for all ports; then SIGTERM to concurrently. */
export async function concurrentlyWaitOn(dir: string, portList: readonly number[]) {
  const cmds = portList.map((port) => `PORT=${port} ${process.execPath} ${LISTEN}`);
  const t0 = now();
  const conc = spawnDetached([peerBin('concurrently'), '--raw', ...cmds], {}, dir);
  const wait = await runNode(
    peerBin('wait-on'),
    portList.map((p) => `tcp:127.0.0.1:${p}`),
    { cwd: dir },
  );
  const ready = wait.endedAt - t0;
  await sleep(50);
  const rss = peakRssMb(conc.pid as number);
  const s0 = now();
  killGroup(conc.pid as number, 'SIGTERM');
  const stop = (await pollUntilClosed(portList)) - s0;
  return { ready, stop, rssMb: rss ?? Number.NaN };
}

/** Foreground `launchguard up` holding n services: the launcher's peak RSS once all are ready. */
export async function foregroundRss(dir: string, portList: readonly number[]): Promise<number> {
  const child = spawnDetached([BIN, 'up'], { NO_COLOR: '1' }, dir);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  // Ready when launchguard says so (each record has readyAt), not when the ports accept a
  // connection: the launcher's pre-flight binds each port for an instant before the spawn,
  // and a 1 ms poll saw that as "open". The RSS was then read mid-start, and the SIGINT came
  // while the services booted; the group was SIGKILLed 200 ms after the ports looked closed,
  // before the launcher had stopped them (20 services left running in one run of three).
  await waitRecordsReady(dir, portList.length);
  await sleep(300);
  const rss = peakRssMb(child.pid as number) ?? Number.NaN;
  process.kill(child.pid as number, 'SIGINT');
  // The launcher stops its services and exits; only then is its group ended (a leftover).
  await Promise.race([exited, sleep(30_000)]);
  await pollUntilClosed(portList);
  killGroup(child.pid as number);
  return rss;
}

/** Waits until the records of services s0..s(n-1) in `dir` say they are ready. */
async function waitRecordsReady(dir: string, n: number, timeout = 60_000): Promise<void> {
  const deadline = Date.now() + timeout;
  const ready = (i: number) => {
    try {
      const record = JSON.parse(readFileSync(join(dir, '.pids', `s${i}.json`), 'utf8'));
      return typeof record.readyAt === 'string';
    } catch {
      return false; // not written yet, or being replaced
    }
  };
  while (!Array.from({ length: n }, (_, i) => i).every(ready)) {
    if (Date.now() > deadline) throw new Error(`${n} services were not ready in ${dir}`);
    await sleep(5);
  }
}

/** `down` of a service that ignores SIGTERM: stopTimeout plus the overhead. */
export async function stubbornDown(dir: string, stopTimeout: number) {
  writeFileSync(
    join(dir, 'launch.config.mjs'),
    `export default ${JSON.stringify({ services: { stubborn: { command: [process.execPath, STUBBORN], ready: { log: 'up' }, stopTimeout } } })};\n`,
  );
  const up = await runNode(BIN, ['up', '-d'], { cwd: dir });
  if (up.code !== 0) throw new Error(up.out);
  return (await runNode(BIN, ['down'], { cwd: dir })).ms;
}

/** What the keeper of a detached stack costs (issue 23, 26). */
export interface KeeperCost {
  /** Resident memory of the keeper, MB. */
  readonly rssMb: number;
  /** CPU of the keeper while idle (checks every 10 s), percent of one core. */
  readonly idleCpu: number;
  /** kill -9 of a service → ready again, ms. */
  readonly crashToReady: number;
  /** The service's own start: spawn → listening, ms (the floor of crashToReady). */
  readonly ownStart: number;
}

function procTicks(pid: number): number {
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(rest[11]) + Number(rest[12]);
}

function vmRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) / 1024;
}

/**
 * The keeper of `n` services, each with a 10 s tcp `health` check and
 * restart on failure: its RSS, its CPU over `idleMs` of idling, and how long
 * a service killed with SIGKILL takes to be ready again (back-off 500 ms +
 * the service's own start + the keeper's own overhead).
 */
export async function keeperCost(n: number, idleMs: number): Promise<KeeperCost> {
  const w = workdir();
  try {
    const list = await ports(n);
    writeStack(
      w.dir,
      list,
      { QUIET: '1' },
      { restart: 'on-failure', health: { tcp: true, interval: 10_000 } },
    );
    const up = await runNode(BIN, ['up', '-d'], { cwd: w.dir });
    if (up.code !== 0) throw new Error(up.out);
    const state = join(w.dir, '.pids');
    const keeper = (
      JSON.parse(readFileSync(join(state, '.keeper.json'), 'utf8')) as { pid: number }
    ).pid;
    await sleep(1000);
    const rssMb = vmRssMb(keeper);
    const t0 = procTicks(keeper);
    await sleep(idleMs);
    const idleCpu = ((procTicks(keeper) - t0) / 100 / (idleMs / 1000)) * 100;
    const record = () =>
      JSON.parse(readFileSync(join(state, 's0.json'), 'utf8')) as { pid: number; readyAt?: string };
    const before = record().pid;
    process.kill(before, 'SIGKILL');
    const killed = now();
    for (;;) {
      try {
        const r = record();
        if (r.pid !== before && r.readyAt !== undefined) break;
      } catch {
        // being rewritten
      }
      await sleep(1);
    }
    const crashToReady = now() - killed;
    await runNode(BIN, ['down'], { cwd: w.dir });
    const own = await spawnFloor(w.dir, list.slice(0, 1));
    return { rssMb, idleCpu, crashToReady, ownStart: own.ready };
  } finally {
    w.done();
  }
}
