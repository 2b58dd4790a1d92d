/**
 * Detection lag: the time between a service opening its port and the launcher
 * noticing, as a median over runs, plus the launcher's CPU time for the whole
 * start of a service that boots in 2 s. Run: `node dist/bench/detection-lag.js [runs]`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../lib/config/load.js';
import { bringUp } from '../lib/orchestrate/bring-up.js';
import { systemInspector } from '../lib/os/inspector.js';
import { stopInstance } from '../lib/process/stop.js';
import { removeRecord } from '../lib/state/record.js';
import { FIXTURES, median } from './util.js';

export interface LagFigures {
  readonly variant: string;
  readonly lags: number[];
  readonly cpu: number[];
}

/** One measured start of `listen.mjs` that opens its port after `delay` ms. */
async function once(delay: number, quiet: boolean): Promise<{ lag: number; cpu: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'lg-bench-'));
  const stamps = join(dir, 'stamps');
  try {
    // A random phase, so that the port does not open at the same point of the probe's pace every run.
    const jitter = Math.floor(Math.random() * 50);
    const env = {
      DELAY: String(delay + jitter),
      STAMP_FILE: stamps,
      ...(quiet ? { QUIET: '1' } : {}),
    };
    const services = {
      svc: { command: [process.execPath, join(FIXTURES, 'listen.mjs')], port: 'auto', env },
    };
    writeFileSync(
      join(dir, 'launch.config.mjs'),
      `export default ${JSON.stringify({ services })};`,
    );
    const config = await loadConfig({ cwd: dir });
    const cpu0 = process.cpuUsage();
    const up = await bringUp(config, 'svc');
    const readyAt = performance.timeOrigin + performance.now();
    const cpu = process.cpuUsage(cpu0);
    const listening = readFileSync(stamps, 'utf8')
      .split('\n')
      .find((l) => l.includes(' listening '));
    const openedAt = Number(listening?.split(' ')[2]);
    const inspector = systemInspector();
    await stopInstance(up.record, { inspector, timeout: 2000 });
    removeRecord(config.pidDir, up.record, 'svc');
    return { lag: readyAt - openedAt, cpu: (cpu.user + cpu.system) / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs both variants: a service that logs when it listens, and a silent one. */
export async function detectionLag(runs: number, delay = 2000): Promise<LagFigures[]> {
  const out: LagFigures[] = [
    { variant: 'logs a line when listening', lags: [], cpu: [] },
    { variant: 'silent (polling only)', lags: [], cpu: [] },
  ];
  for (let i = 0; i < runs; i++) {
    for (const [k, quiet] of [false, true].entries()) {
      const r = await once(delay, quiet);
      out[k]?.lags.push(r.lag);
      out[k]?.cpu.push(r.cpu);
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runs = Number(process.argv[2] ?? 7);
  const figures = await detectionLag(runs);
  console.log(`detection lag, service opens its port 2 s after spawn, ${runs} runs each`);
  console.log('| service | lag median | lag min | lag max | launcher CPU median (whole start) |');
  console.log('|---|---|---|---|---|');
  for (const f of figures) {
    const ms = (n: number) => `${n.toFixed(2)} ms`;
    console.log(
      `| ${f.variant} | ${ms(median(f.lags))} | ${ms(Math.min(...f.lags))} | ${ms(Math.max(...f.lags))} | ${ms(median(f.cpu))} |`,
    );
  }
}
