/**
 * `npm run bench`: launchguard side by side with the tools users would pick
 * instead (wait-on, start-server-and-test, pm2, concurrently) and with the
 * floor, in one run, interleaved. Prints markdown tables of medians (min-max)
 * and ratios. BENCH_RUNS (default 5) sets the runs per figure.
 */
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { detectionLag } from './detection-lag.js';
import { ensurePeers } from './peers.js';
import { scale as scaleRun } from './scale.js';
import {
  concurrentlyWaitOn,
  foregroundRss,
  keeperCost,
  launchguard,
  moduleTreeCli,
  nodeFloor,
  Pm2,
  ports,
  realStack,
  spawnFloor,
  startServerAndTest,
  stubbornDown,
  type UpPhases,
  waitOn,
  workdir,
  writeStack,
} from './scenarios.js';
import { BIN, cleanup, describe, median, runNode, stampOf } from './util.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const out: string[] = [];
const say = (line = '') => {
  out.push(line);
  console.log(line);
};
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

function table(header: string[], rows: string[][]): void {
  say(`| ${header.join(' | ')} |`);
  say(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) say(`| ${r.join(' | ')} |`);
  say();
}

async function oneService(pm2: Pm2) {
  const s = {
    floorNode: [] as number[],
    floor: [] as number[],
    lg: [] as number[],
    lgCpu: [] as number[],
    lgRss: [] as number[],
    lgDown: [] as number[],
    waitOn: [] as number[],
    waitOnRss: [] as number[],
    sst: [] as number[],
    pm2: [] as number[],
    pm2Stop: [] as number[],
    phases: [] as UpPhases[],
  };
  for (let i = 0; i < RUNS; i++) {
    const w = workdir();
    try {
      const [port] = (await ports(1)) as [number];
      s.floorNode.push(await nodeFloor(w.dir));
      s.floor.push((await spawnFloor(w.dir, [port])).ready);
      writeStack(w.dir, [port]);
      const lg = await launchguard(w.dir, w.dir);
      s.lg.push(lg.ready);
      s.lgCpu.push(lg.cpuMs);
      s.lgRss.push(lg.rssMb);
      s.lgDown.push(lg.stop);
      if (lg.phases !== null) s.phases.push(lg.phases);
      const wo = await waitOn(w.dir, [port], w.dir);
      s.waitOn.push(wo.ready);
      s.waitOnRss.push(wo.rssMb);
      s.sst.push((await startServerAndTest(w.dir, port)).ready);
      const p = await pm2.startMany([port]);
      s.pm2.push(p.ready);
      s.pm2Stop.push(p.stop);
    } finally {
      w.done();
    }
  }
  return s;
}

async function lag(pm2: Pm2) {
  // 1 s plus a random phase per round (the same for every tool), so that the port does not
  // open at the same point of a tool's polling pace every time.
  let delay = '1000';
  const s = {
    lgLog: [] as number[],
    lgQuiet: [] as number[],
    waitOn: [] as number[],
    sst: [] as number[],
    pm2: [] as number[],
  };
  for (let i = 0; i < RUNS; i++) {
    delay = String(1000 + Math.floor(Math.random() * 50));
    for (const quiet of [false, true]) {
      const w = workdir();
      const stamp = join(w.dir, 'stamps');
      const [port] = (await ports(1)) as [number];
      writeStack(w.dir, [port], {
        DELAY: delay,
        STAMP_FILE: stamp,
        ...(quiet ? { QUIET: '1' } : {}),
      });
      const lg = await launchguard(w.dir, w.dir);
      (quiet ? s.lgQuiet : s.lgLog).push(lg.endedAt - stampOf(stamp, 'listening'));
      w.done();
    }
    let w = workdir();
    let stamp = join(w.dir, 'stamps');
    let [port] = (await ports(1)) as [number];
    const wo = await waitOn(w.dir, [port], w.dir, { DELAY: delay, STAMP_FILE: stamp });
    s.waitOn.push(wo.endedAt - stampOf(stamp, 'listening'));
    w.done();
    w = workdir();
    stamp = join(w.dir, 'stamps');
    [port] = (await ports(1)) as [number];
    const sst = await startServerAndTest(w.dir, port, { DELAY: delay, STAMP_FILE: stamp });
    s.sst.push(sst.testAt - stampOf(stamp, 'listening'));
    w.done();
    w = workdir();
    stamp = join(w.dir, 'stamps');
    [port] = (await ports(1)) as [number];
    const p = await pm2.startMany([port], true, { DELAY: delay, STAMP_FILE: stamp });
    s.pm2.push(p.startExit - stampOf(stamp, 'listening'));
    w.done();
  }
  return s;
}

async function scale(pm2: Pm2, n: number, runs: number) {
  const s = {
    floor: [] as number[],
    floorStop: [] as number[],
    lg: [] as number[],
    lgStop: [] as number[],
    lgCpu: [] as number[],
    lgRss: [] as number[],
    lgQuiet: [] as number[],
    lgQuietStop: [] as number[],
    lgQuietCpu: [] as number[],
    conc: [] as number[],
    concStop: [] as number[],
    concRss: [] as number[],
    pm2: [] as number[],
    pm2Stop: [] as number[],
  };
  for (let i = 0; i < runs; i++) {
    const w = workdir();
    try {
      const list = await ports(n);
      const f = await spawnFloor(w.dir, list);
      s.floor.push(f.ready);
      s.floorStop.push(f.stop);
      writeStack(w.dir, list);
      const lg = await launchguard(w.dir, w.dir);
      s.lg.push(lg.ready);
      s.lgStop.push(lg.stop);
      s.lgCpu.push(lg.cpuMs);
      s.lgRss.push(lg.rssMb);
      writeStack(w.dir, list, { QUIET: '1' });
      const quiet = await launchguard(w.dir, w.dir);
      s.lgQuiet.push(quiet.ready);
      s.lgQuietStop.push(quiet.stop);
      s.lgQuietCpu.push(quiet.cpuMs);
      const c = await concurrentlyWaitOn(w.dir, list);
      s.conc.push(c.ready);
      s.concStop.push(c.stop);
      s.concRss.push(c.rssMb);
      const p = await pm2.startMany(list);
      s.pm2.push(p.ready);
      s.pm2Stop.push(p.stop);
    } finally {
      w.done();
    }
  }
  return s;
}

async function control() {
  const w = workdir();
  const list = await ports(50);
  writeStack(w.dir, list, { QUIET: '1' });
  const up = await runNode(BIN, ['up', '-d'], { cwd: w.dir });
  if (up.code !== 0) throw new Error(up.out);
  const node: number[] = [];
  const status: number[] = [];
  const validate: number[] = [];
  const treeStatus: number[] = [];
  const treeValidate: number[] = [];
  const portableStatus: number[] = [];
  const portable = { LAUNCHGUARD_BACKEND: 'portable' };
  await runNode(BIN, ['status'], { cwd: w.dir });
  for (let i = 0; i < RUNS; i++) {
    node.push(await nodeFloor(w.dir));
    status.push((await runNode(BIN, ['status'], { cwd: w.dir })).ms);
    validate.push((await runNode(BIN, ['validate'], { cwd: w.dir })).ms);
    treeStatus.push((await moduleTreeCli(w.dir, ['status'])).ms);
    treeValidate.push((await moduleTreeCli(w.dir, ['validate'])).ms);
    portableStatus.push((await runNode(BIN, ['status'], { cwd: w.dir, env: portable })).ms);
  }
  await runNode(BIN, ['down'], { cwd: w.dir });
  const portableOne = { up: [] as number[], down: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    writeStack(w.dir, list.slice(0, 1));
    const lg = await launchguard(w.dir, w.dir, portable);
    portableOne.up.push(lg.ready);
    portableOne.down.push(lg.stop);
  }
  const rss20 = await (async () => {
    const list20 = list.slice(0, 20);
    writeStack(w.dir, list20, { QUIET: '1' });
    return foregroundRss(w.dir, list20);
  })();
  const stubborn: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 3); i++) stubborn.push(await stubbornDown(w.dir, 1000));
  w.done();
  return {
    node,
    status,
    validate,
    treeStatus,
    treeValidate,
    portableStatus,
    portableOne,
    rss20,
    stubborn,
  };
}

async function main() {
  ensurePeers();
  const pmDir = workdir();
  const pm2 = new Pm2(pmDir.dir);
  try {
    await pm2.warm();
    say(`# launchguard benchmarks`);
    say();
    say(
      `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}. Runs per figure: ${RUNS}, interleaved. Times in ms: median (min-max).`,
    );
    say();
    const one = await oneService(pm2);
    const floor = median(one.floor);
    say('## One service, until ready');
    table(
      ['tool', 'time to ready', 'vs spawn-to-listen floor'],
      [
        ['floor: `node -e 0`', describe(one.floorNode), ratio(median(one.floorNode), floor)],
        ['floor: spawn, poll TCP every 1 ms', describe(one.floor), '1.00x'],
        ['**launchguard `up -d`** (whole CLI)', describe(one.lg), ratio(median(one.lg), floor)],
        [
          '`node svc &` + `wait-on tcp:` (default)',
          describe(one.waitOn),
          ratio(median(one.waitOn), floor),
        ],
        ['start-server-and-test (default)', describe(one.sst), ratio(median(one.sst), floor)],
        ['pm2 start (warm daemon) + 1 ms poll', describe(one.pm2), ratio(median(one.pm2), floor)],
      ],
    );
    say(
      `launchguard \`up -d\` minus the spawn-to-listen floor: ${(median(one.lg) - floor).toFixed(0)} ms. Its CPU time: ${describe(one.lgCpu)} ms; peak RSS ${describe(one.lgRss, 1)} MB.`,
    );
    say();
    const phase = (k: keyof UpPhases) => one.phases.map((p) => p[k]);
    if (one.phases.length === 0) say('Phases of `up -d`: none seen (the hook reported none).');
    else
      say(
        'Where the time of `up -d` goes (one service; phases published on `launchguard:phase` by the CLI and by the keeper it spawns):',
      );
    if (one.phases.length > 0)
      table(
        ['phase', 'ms'],
        [
          ["CLI: Node's start, until its first line of code", describe(phase('node'), 1)],
          [
            "keeper: spawned by the CLI's first line, its Node start",
            describe(phase('keeperNode'), 1),
          ],
          ['keeper: module load (the bundle)', describe(phase('modules'), 1)],
          ['keeper: config load', describe(phase('config'), 1)],
          ['keeper: pre-flight (lock, state, leftovers, port)', describe(phase('preflight'), 1)],
          ['keeper: spawn and record', describe(phase('spawn'), 1)],
          ['keeper: readiness (the service boots: the floor)', describe(phase('readiness'), 1)],
          ['keeper: finish (readyAt and pin, take-over, leases)', describe(phase('finish'), 1)],
          ['CLI: the result, the summary, until `exit`', describe(phase('report'), 1)],
          ["CLI: Node's teardown, seen by the parent", describe(phase('exit'), 1)],
        ],
      );
    const l = await lag(pm2);
    say('## Detection lag (service opens its port 1 s after start; ms after the port opened)');
    table(
      ['tool', 'lag'],
      [
        ['**launchguard `up -d`**, service logs when listening (CLI exit)', describe(l.lgLog, 1)],
        ['**launchguard `up -d`**, silent service (polling only)', describe(l.lgQuiet, 1)],
        ['wait-on (default interval)', describe(l.waitOn, 1)],
        ['start-server-and-test (default)', describe(l.sst, 1)],
        ['pm2 `--wait-ready` (process.send)', describe(l.pm2, 1)],
      ],
    );
    const lib = await detectionLag(RUNS);
    say('Inside the library (readiness resolved, no CLI exit), 2 s boot:');
    table(
      ['service', 'lag', 'launcher CPU for the whole start'],
      lib.map((f) => [f.variant, describe(f.lags, 2), describe(f.cpu, 1)]),
    );
    for (const n of [20, 50]) {
      const sc = await scale(pm2, n, Math.min(RUNS, 3));
      const f = median(sc.floor);
      say(`## ${n} services: all ready, all stopped`);
      table(
        ['tool', 'all ready', 'vs floor', 'all stopped', 'tool peak RSS (MB)'],
        [
          [
            'floor: spawn all, poll every 1 ms',
            describe(sc.floor),
            '1.00x',
            describe(sc.floorStop),
            '-',
          ],
          [
            '**launchguard** `up -d` / `down`',
            describe(sc.lg),
            ratio(median(sc.lg), f),
            describe(sc.lgStop),
            describe(sc.lgRss, 1),
          ],
          [
            '**launchguard** `up -d` / `down`, silent services',
            describe(sc.lgQuiet),
            ratio(median(sc.lgQuiet), f),
            describe(sc.lgQuietStop),
            '-',
          ],
          [
            'concurrently + wait-on',
            describe(sc.conc),
            ratio(median(sc.conc), f),
            describe(sc.concStop),
            describe(sc.concRss, 1),
          ],
          [
            'pm2 ecosystem (warm) + 1 ms poll / delete all',
            describe(sc.pm2),
            ratio(median(sc.pm2), f),
            describe(sc.pm2Stop),
            '-',
          ],
        ],
      );
      say(
        `launchguard CPU time for \`up -d\` of ${n}: ${describe(sc.lgCpu)} ms (services that log), ${describe(sc.lgQuietCpu)} ms (silent).`,
      );
      say();
    }
    const c = await control();
    const node = median(c.node);
    const overNode = (v: number[]) => `node + ${(median(v) - node).toFixed(0)}`;
    say('## Control latency and stop');
    say(`\`node -e 0\` in the same run: ${describe(c.node)} ms.`);
    say();
    table(
      ['measure', 'result', 'over `node -e 0`', 'target'],
      [
        [
          '`status`, 50 running services (warm), wall',
          describe(c.status),
          overNode(c.status),
          'node + 80',
        ],
        ['`validate`, 50 services (warm), wall', describe(c.validate), overNode(c.validate), '-'],
        [
          '`down`, one prompt service, wall',
          describe(one.lgDown),
          overNode(one.lgDown),
          'node + 60',
        ],
        ['pm2 delete, one prompt service', describe(one.pm2Stop), '-', '-'],
        [
          '`down`, one service ignoring SIGTERM, stopTimeout 1000',
          describe(c.stubborn),
          '-',
          '< 1150 ms',
        ],
        [
          'foreground `up` holding 20 services: launcher peak RSS (MB)',
          c.rss20.toFixed(1),
          '-',
          '<= 55 MB',
        ],
        [
          'pm2 daemon peak RSS after the runs (MB)',
          String(
            pm2.daemonPid()
              ? (await import('./util.js')).peakRssMb(pm2.daemonPid() as number)?.toFixed(1)
              : '?',
          ),
          '-',
          '-',
        ],
      ],
    );
    say('## The keeper of a detached stack');
    say();
    const kc = await keeperCost(20, 30_000);
    table(
      ['measure', 'result', 'target'],
      [
        ['keeper RSS, 20 services (MB)', kc.rssMb.toFixed(1), '<= 40'],
        [
          'keeper idle CPU, 20 services with a 10 s health check (% of one core, 30 s)',
          kc.idleCpu.toFixed(2),
          '<= 0.5',
        ],
        [
          'kill -9 → ready again (ms)',
          kc.crashToReady.toFixed(0),
          `<= 500 back-off + ${kc.ownStart.toFixed(0)} own start + 30 = ${(530 + kc.ownStart).toFixed(0)}`,
        ],
      ],
    );
    say('## A real stack: a database, two one-shot tasks, an API and a web server');
    say();
    const real = {
      lg: [] as number[],
      lgUp: [] as number[],
      warm: [] as number[],
      warmUp: [] as number[],
      pm2: [] as number[],
      pm2Up: [] as number[],
    };
    for (let i = 0; i < RUNS; i++) {
      const r = await realStack(pm2);
      real.lg.push(r.lgUp + r.lgDown);
      real.lgUp.push(r.lgUp);
      real.warm.push(r.lgWarmUp + r.lgWarmDown);
      real.warmUp.push(r.lgWarmUp);
      real.pm2.push(r.pm2Up + r.pm2Down);
      real.pm2Up.push(r.pm2Up);
    }
    table(
      ['tool', 'up, all ready (ms)', 'up + down (ms)', 'target'],
      [
        [
          'launchguard `up -d` + `down` (in order; every task runs)',
          describe(real.lgUp),
          describe(real.lg),
          '< pm2',
        ],
        [
          "launchguard, tasks with `rerun: 'on-change'`, a start after the first (tasks not run again)",
          describe(real.warmUp),
          describe(real.warm),
          '< pm2',
        ],
        [
          'pm2 start (warm) + 1 ms poll + delete all (no order)',
          describe(real.pm2Up),
          describe(real.pm2),
          '-',
        ],
      ],
    );
    const scaleN = Number(process.env.BENCH_SCALE ?? 500);
    if (scaleN > 0) {
      say(`## Scale: ${scaleN} services, each listening on its own port (one run)`);
      say();
      const sc = await scaleRun(scaleN);
      table(
        ['measure', 'launchguard', 'floor', 'result', 'target'],
        [
          [
            '`up -d`, all ready (ms)',
            sc.up.toFixed(0),
            sc.upFloor.toFixed(0),
            ratio(sc.up, sc.upFloor),
            '<= 1.3x',
          ],
          [
            '`down`, all gone (ms)',
            sc.down.toFixed(0),
            sc.downFloor.toFixed(0),
            `floor + ${(sc.down - sc.downFloor).toFixed(0)}`,
            'floor + 500',
          ],
        ],
      );
    }
    say('The CLI bundle against the module tree it is built from (issue 16), and the portable');
    say('backend (ps, lsof; `LAUNCHGUARD_BACKEND=portable`, as on macOS) against /proc:');
    say();
    table(
      ['measure', 'result', 'over `node -e 0`'],
      [
        [
          '`status`, 50 services, bundle (`bin/launchguard.js`)',
          describe(c.status),
          overNode(c.status),
        ],
        [
          '`status`, 50 services, module tree (`dist/lib`)',
          describe(c.treeStatus),
          overNode(c.treeStatus),
        ],
        ['`validate`, 50 services, bundle', describe(c.validate), overNode(c.validate)],
        [
          '`validate`, 50 services, module tree',
          describe(c.treeValidate),
          overNode(c.treeValidate),
        ],
        [
          '`status`, 50 services, portable backend',
          describe(c.portableStatus),
          overNode(c.portableStatus),
        ],
        [
          '`up -d`, one service, portable backend',
          describe(c.portableOne.up),
          overNode(c.portableOne.up),
        ],
        [
          '`down`, one service, portable backend',
          describe(c.portableOne.down),
          overNode(c.portableOne.down),
        ],
      ],
    );
    say(`Command: \`npm run bench\` (BENCH_RUNS=${RUNS}).`);
  } finally {
    await pm2.kill().catch(() => undefined);
    cleanup();
    pmDir.done();
  }
}

await main();
