import { selectForStart } from '../config/select.js';
import { untilAborted } from '../delay.js';
import { isLaunchError } from '../errors.js';
import { signalExitCode } from '../exit.js';
import { followLogs } from '../query/logs.js';
import { LinePrefixer } from '../report/prefix.js';
import { formatDown, formatSummary } from '../report/views.js';
import { openSession, type Session } from '../session/session.js';
import type { CommandContext } from './context.js';
import { onStopSignals } from './shutdown.js';

/**
 * Foreground `up`: starts the stack with each service's output streamed under
 * an aligned name prefix, prints a summary, then waits. Ctrl-C (or SIGTERM,
 * SIGHUP, or the reader of its output going away) gives the services back,
 * dependents first: each is stopped unless another user (`run`, `launch()`,
 * another foreground `up`) still holds it or `up -d` asked it to stay; a
 * second Ctrl-C after a short pause SIGKILLs what is still stopping. Services with a
 * restart policy are restarted with back-off until `maxRestarts` in a row.
 */
export async function upForeground(ctx: CommandContext): Promise<number> {
  const config = await ctx.load();
  const names = selectForStart(config, ctx.args.positionals);
  const show = lossyWriter(ctx, (line) => progress.line(line));
  const prefixer = new LinePrefixer(names, ctx.out, show);
  const progress = ctx.progress('stdout');
  const stop = onStopSignals(ctx.io.signals, ctx.io.outputClosed);
  const started = Date.now();
  const tee = (name: string, chunk: Buffer) => prefixer.push(name, chunk);
  const following = new AbortController();
  try {
    let session: Session;
    try {
      session = await openSession(config, {
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
        return signalExitCode(sig);
      }
      throw error;
    }
    const { up } = session;
    progress.done();
    ctx.print(formatSummary(config, up, Date.now() - started, ctx.out));
    ctx.print(ctx.out.dim('press Ctrl-C to stop'));
    // Services someone else started: stream their log files too.
    const kept = up.services.filter((x) => x.outcome === 'kept').map((x) => x.name);
    const streaming = followLogs(
      config,
      kept,
      (name, line) => prefixer.push(name, `${line}\n`),
      following.signal,
    );
    const failed = await session.supervise({
      signal: stop.graceful,
      tee,
      onEvent: (e) => {
        if (e.type === 'exited' || e.type === 'restarting' || e.type === 'crash-loop')
          prefixer.flush(e.service); // its last partial line first
        progress.event(e);
      },
    });
    // Only services someone else started are left: keep streaming them until Ctrl-C.
    if (!stop.graceful.aborted && kept.length > 0) await untilAborted(stop.graceful).promise;
    following.abort();
    await streaming;
    prefixer.flush();
    if (stop.graceful.aborted)
      ctx.print(`${ctx.out.dim('·')} stopping (${stop.first()}); press Ctrl-C again to force`);
    // Give every service back: the last user of each stops it (what `down` took is gone).
    const down = await session.release({ hurry: stop.force });
    prefixer.flush();
    const lines = formatDown(down, ctx.out);
    if (lines.length > 0) ctx.print(lines);
    return failed ? 1 : 0;
  } finally {
    following.abort();
    progress.done();
    stop.dispose();
  }
}

/** Output the launcher holds for a reader at most, in bytes; beyond it, lines are dropped. */
const MAX_UNREAD = 1024 * 1024;

/**
 * Service output for a reader that may be slow (`up | less` left unread):
 * while more than {@link MAX_UNREAD} bytes wait to be read, lines are dropped
 * (counted, then reported), never queued in memory, and the services never
 * block on the viewer. Every line stays in the service's log file.
 */
function lossyWriter(ctx: CommandContext, write: (line: string) => void): (line: string) => void {
  let dropped = 0;
  return (line) => {
    const unread = (ctx.io.stdout as { writableLength?: number }).writableLength ?? 0;
    if (unread > MAX_UNREAD) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      write(
        ctx.out.yellow(
          `! ${dropped} line(s) of service output not shown: the output was not read fast enough (every line is in the logs: launchguard logs)`,
        ),
      );
      dropped = 0;
    }
    write(line);
  };
}
