import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedConfig, ResolvedService } from '../config/types.js';
import { isLaunchError } from '../errors.js';
import { bringUp } from '../orchestrate/bring-up.js';
import { downStack } from '../orchestrate/down.js';
import { followLogs } from '../orchestrate/logs.js';
import { selectForStart } from '../orchestrate/select.js';
import { markReady } from '../orchestrate/start-service.js';
import { type ServiceUp, upStack } from '../orchestrate/up.js';
import { systemInspector } from '../os/inspector.js';
import type { ExitInfo } from '../probes/runner.js';
import { LinePrefixer } from '../report/prefix.js';
import { Progress } from '../report/progress.js';
import { formatDown, formatSummary } from '../report/views.js';
import type { CommandContext } from './context.js';
import { onStopSignals, SIGNAL_EXIT } from './shutdown.js';

/** Restart back-off: 500 ms, doubling, at most 15 s. */
export function restartDelay(attempt: number): number {
  return Math.min(500 * 2 ** attempt, 15_000);
}

function describeExit(exit: ExitInfo): string {
  return exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** Whether a service's restart policy asks for another start after this exit. */
export function wantsRestart(svc: ResolvedService, exit: ExitInfo): boolean {
  if (svc.restart === 'always') return true;
  return svc.restart === 'on-failure' && (exit.code !== 0 || exit.signal !== null);
}

/**
 * Foreground `up`: starts the stack with each service's output streamed under
 * an aligned name prefix, prints a summary, then waits. Ctrl-C (or SIGTERM,
 * SIGHUP) stops everything this call started, dependents first; a second one
 * after a short pause SIGKILLs what is still stopping. Services with a
 * restart policy are restarted with back-off until `maxRestarts` in a row.
 */
export async function upForeground(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  const names = selectForStart(config, ctx.args.positionals);
  const prefixer = new LinePrefixer(names, ctx.out, (line) => progress.line(line));
  const progress = new Progress(ctx.io.stdout, ctx.out, ctx.io.stdout.isTTY === true);
  const stop = onStopSignals(ctx.io.signals);
  const inspector = systemInspector();
  const started = Date.now();
  const tee = (name: string, chunk: Buffer) => prefixer.push(name, chunk);
  const following = new AbortController();
  let mine: string[] = [];
  try {
    let result: Awaited<ReturnType<typeof upStack>>;
    try {
      result = await upStack(config, {
        services: ctx.args.positionals,
        force: ctx.args.values.force === true,
        replace: ctx.args.values.replace === true,
        tee,
        signal: stop.graceful,
        onEvent: (e) => progress.event(e),
      });
    } catch (error) {
      progress.done();
      prefixer.flush();
      const sig = stop.first();
      if (sig !== undefined && isLaunchError(error) && error.code === 'E_ABORTED') {
        ctx.print(
          `${ctx.out.yellow('!')} interrupted (${sig}): everything this start began was stopped again`,
        );
        return SIGNAL_EXIT[sig];
      }
      throw error;
    }
    progress.done();
    ctx.print(formatSummary(result, Date.now() - started, ctx.out));
    ctx.print(ctx.out.dim('press Ctrl-C to stop'));
    mine = result.services.filter((s) => s.outcome === 'started').map((s) => s.name);
    // Services someone else started: stream their log files too.
    const kept = result.services.filter((x) => x.outcome === 'kept').map((x) => x.name);
    const streaming = followLogs(
      config,
      kept,
      (name, line) => prefixer.push(name, `${line}\n`),
      following.signal,
    );
    const failed = await supervise(ctx, config, result.services, tee, stop.graceful, prefixer);
    // Only services someone else started are left: keep streaming them until Ctrl-C.
    if (!stop.graceful.aborted && kept.length > 0) await abortPromise(stop.graceful);
    following.abort();
    await streaming;
    prefixer.flush();
    if (stop.graceful.aborted)
      ctx.print(`${ctx.out.dim('·')} stopping (${stop.first()}); press Ctrl-C again to force`);
    const down = await downStack(config, {
      services: mine,
      exact: true,
      hurry: stop.force,
      inspector,
    });
    prefixer.flush();
    ctx.print(formatDown(down, ctx.out));
    return failed ? 1 : 0;
  } finally {
    following.abort();
    progress.done();
    stop.dispose();
  }
}

/**
 * Watches the services this call spawned until a stop signal arrives or none
 * is left running; restarts by policy. Returns true if a service failed for good.
 */
async function supervise(
  ctx: CommandContext,
  config: ResolvedConfig,
  services: readonly ServiceUp[],
  tee: (name: string, chunk: Buffer) => void,
  stopping: AbortSignal,
  prefixer: LinePrefixer,
): Promise<boolean> {
  let failed = false;
  const watch = async (first: ServiceUp): Promise<void> => {
    const svc = config.services[first.name] as ResolvedService;
    let spawned = first.spawned;
    let restarts = 0;
    while (spawned !== undefined && !stopping.aborted) {
      const exit = await Promise.race([spawned.exit, abortPromise(stopping)]);
      if (exit === null) return;
      prefixer.flush(first.name);
      if (!wantsRestart(svc, exit)) {
        if (exit.code !== 0 || exit.signal !== null) failed = true;
        ctx.print(`${ctx.out.yellow('!')} ${first.name} ${describeExit(exit)}`);
        return;
      }
      if (restarts >= svc.maxRestarts) {
        failed = true;
        ctx.print(
          `${ctx.out.red('✗')} ${first.name} ${describeExit(exit)}; failed after ${restarts} restarts in a row (crash loop), not restarting`,
        );
        return;
      }
      const delay = restartDelay(restarts);
      restarts++;
      ctx.print(
        `${ctx.out.yellow('↻')} ${first.name} ${describeExit(exit)}; restart ${restarts}/${svc.maxRestarts} in ${delay} ms`,
      );
      try {
        await sleep(delay, undefined, { signal: stopping });
        const up = await bringUp(config, first.name, {
          tee: (chunk) => tee(first.name, chunk),
          replace: 'never',
          restarts,
          signal: stopping,
        });
        await markReady(config, up.record, systemInspector());
        spawned = up.outcome.kind === 'started' ? up.outcome.spawned : undefined;
        ctx.print(`${ctx.out.green('✓')} ${first.name}: ready again (pid ${up.record.pid})`);
      } catch (error) {
        if (stopping.aborted) return;
        ctx.print(`${ctx.out.red('✗')} ${first.name}: restart failed: ${(error as Error).message}`);
        // the next loop turn counts it as another failure in a row
        spawned = undefined;
        failed = true;
      }
    }
  };
  await Promise.all(
    services.filter((s) => s.spawned !== undefined && s.outcome === 'started').map(watch),
  );
  // Nothing of ours is running any more: stay only while kept services run and no signal came.
  return failed;
}

function abortPromise(signal: AbortSignal): Promise<null> {
  if (signal.aborted) return Promise.resolve(null);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(null), { once: true }),
  );
}
