import type { ResolvedProbe } from '../config/types.js';
import { abortedError, LaunchError } from '../errors.js';
import { describeExit, type ExitInfo } from '../exit.js';
import { faultPoint } from '../fault.js';
import { formatDuration } from '../format.js';
import { verifyIdentity } from '../os/identity.js';
import type { ProcessInspector } from '../os/inspector.js';
import type { StopTarget } from '../process/stop.js';
import { execAttempt } from './exec.js';
import { httpAttempt } from './http.js';
import { watchListen } from './listen-watch.js';
import type { LogSource } from './log-follow.js';
import { listenerOwnership } from './owner.js';
import { onPaceChange, pacePending, SLOT, tcpPause } from './pace.js';
import { type Attempt, LOOPBACK, tcpLoopbackAttempt } from './tcp.js';

/** What {@link waitReady} needs. */
export interface WaitReadyOptions {
  readonly service: string;
  readonly probe: ResolvedProbe | null;
  /** The service's own port, resolved (`'auto'` in the probe means this one). */
  readonly port: number | null;
  /**
   * The instance: its listener must be ours, and it must stay alive. Without
   * one (`launchguard wait` for a service no launcher started), any answer counts.
   */
  readonly target?: StopTarget;
  readonly follower: LogSource;
  /** Settles when the service's main process exits (when this launcher spawned it). */
  readonly exited?: Promise<ExitInfo>;
  /** cwd and env for an `exec` check (the env made only for one: a check of a port needs none). */
  readonly cwd: string;
  readonly env: () => NodeJS.ProcessEnv;
  readonly timeout: number;
  /** Ms of `timeout` already spent before the checks began (`wait` for a launcher to start it). */
  readonly spent?: number;
  readonly inspector: ProcessInspector;
  readonly logFile: string;
  readonly signal?: AbortSignal;
}

/** How readiness was reached. */
export interface ReadyResult {
  readonly ms: number;
  readonly attempts: number;
}

/** First pause between attempts, ms; it doubles up to the probe's `interval`. */
const FIRST_PAUSE = { tcp: 1, http: 2, log: 1, exec: 20 } as const;
/** Wake-ups from log output run an attempt at most this often, ms. */
const MIN_GAP = 2;
/** Longest single connect or request, ms. */
const ATTEMPT_CAP = 5_000;
/**
 * The pause between connects of a TCP check that a listener watch wakes, at
 * least, ms: they only catch a listener the tables cannot show (a port NAT'd
 * into another network namespace), and each costs the CPU that a booting
 * stack needs.
 */
const SAFETY_NET = 500;

/** Throws if the wait is over (aborted, exited, gone, timed out); else the ms left. */
function stillWaiting(
  o: WaitReadyOptions,
  exit: ExitInfo | null | undefined,
  deadline: number,
  last: string,
): number {
  if (o.signal?.aborted)
    throw abortedError(
      `${o.service}: interrupted while waiting for readiness`,
      o.signal,
      o.service,
    );
  if (exit !== undefined) throw exitedError(o, exit);
  if (
    o.exited === undefined &&
    o.target !== undefined &&
    verifyIdentity(o.target, o.inspector).kind !== 'ours'
  )
    throw exitedError(o, null);
  const remaining = deadline - performance.now();
  if (remaining <= 0) throw notReadyError(o, last);
  return remaining;
}

function exitPhrase(exit: ExitInfo | null): string {
  return exit === null ? 'exited' : describeExit(exit);
}

/**
 * Waits until a service is ready, by one runner for every check kind. Attempts
 * start 1 ms apart and back off to the probe's `interval` (default 100 ms),
 * and any output of the service triggers an attempt at once, so an opened port
 * is usually noticed within a few milliseconds at almost no CPU cost. A TCP or
 * HTTP answer counts only if the listener belongs to the instance's own
 * process tree. Fails with E_EXITED the moment the service exits, with
 * E_NOT_READY at the timeout (always a failure), both with the log's tail.
 *
 * Not p-retry: its delays are fixed sleeps that nothing can cut short, and
 * waking on the service's output is what keeps the detection lag at a few ms.
 */
export async function waitReady(o: WaitReadyOptions): Promise<ReadyResult> {
  const started = performance.now();
  const probe = o.probe;
  if (probe === null) return { ms: 0, attempts: 0 };
  const deadline = started + o.timeout - (o.spent ?? 0);
  let exit: ExitInfo | null | undefined;
  o.exited?.then((e) => {
    exit = e;
    wake();
  });
  let wake: () => void = () => undefined;
  const removeWatch = o.follower.onChange(() => wake());
  const onAbort = () => wake();
  o.signal?.addEventListener('abort', onAbort);
  let attempts = 0;
  let woken = true;
  let foreign = false;
  let last = 'no attempt yet';
  let pause: number = FIRST_PAUSE[probe.kind];
  const portOf = (p: number | 'auto') => (p === 'auto' ? o.port : p);
  const paced = probe.kind === 'tcp' ? pacePending() : undefined;
  // A new listener seen while an attempt runs is not lost: the next attempt follows at once.
  let listened = false;
  const unwatch = listenWatch(probe, portOf, o.inspector, () => {
    listened = true;
    wake();
  });
  let attemptStart = started;
  let repaced = false;
  /** Sleeps `ms`, cut short by output, the exit, an abort, or (paced) another check ending. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      let gapTimer: NodeJS.Timeout | undefined;
      const unpace =
        paced === undefined || unwatch !== null
          ? () => undefined
          : onPaceChange(() => {
              repaced = true;
              done();
            });
      function done() {
        clearTimeout(timer);
        clearTimeout(gapTimer);
        unpace();
        wake = () => undefined;
        resolve();
      }
      wake = () => {
        const since = performance.now() - attemptStart;
        woken = true;
        if (since >= MIN_GAP || exit !== undefined || o.signal?.aborted) done();
        else if (gapTimer === undefined) gapTimer = setTimeout(done, MIN_GAP - since);
      };
    });
  try {
    for (;;) {
      const remaining = stillWaiting(o, exit, deadline, last);
      if (repaced && !woken) {
        // Fewer checks pending: the pause is shorter now; attempt if it is over.
        repaced = false;
        const left = tcpPause(performance.now() - started, probe.interval, attemptStart);
        if (left > 1) {
          await sleep(Math.min(left, remaining));
          continue;
        }
      }
      repaced = false;
      attemptStart = performance.now();
      attempts++;
      listened = false;
      const result = await bounded(Math.min(remaining, ATTEMPT_CAP), o.signal, (signal, ms) =>
        attempt(probe, o, ms, portOf, woken ? 'both' : attempts, signal),
      );
      woken = false;
      if (result.ok) return { ms: performance.now() - started, attempts };
      faultPoint('during-ready-wait');
      if (attempts === 1 || tellsMore(result, foreign, deadline)) {
        last = result.error;
        foreign = result.foreign === true;
      }
      if (listened) {
        woken = true;
        continue;
      }
      const next = nextPause(probe, pause, performance.now() - started, attemptStart, unwatch);
      pause = Math.min(pause * 2, probe.interval);
      await sleep(Math.min(next, Math.max(0, deadline - performance.now())));
    }
  } finally {
    paced?.();
    unwatch?.();
    removeWatch();
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Where the listener tables are cheap to read, a new listener on a TCP
 * check's port wakes it at once, and connects are only a safety net (see
 * `listen-watch.ts`). Returns the watch's removal, or null.
 */
function listenWatch(
  probe: ResolvedProbe,
  portOf: (p: number | 'auto') => number | null,
  inspector: ProcessInspector,
  wake: () => void,
): (() => void) | null {
  const port = probe.kind === 'tcp' ? portOf(probe.port) : null;
  return port === null ? null : watchListen(port, inspector, wake);
}

/**
 * The pause before the next attempt: quick attempts first (1, 2, 4, 8 ms:
 * `pause`), then TCP checks keep a shared pace (`pace.ts`); a check that a
 * listener watch wakes needs neither, and connects only rarely.
 */
function nextPause(
  probe: ResolvedProbe,
  pause: number,
  elapsed: number,
  attemptStart: number,
  watch: (() => void) | null,
): number {
  if (probe.kind !== 'tcp' || (pause < SLOT && watch === null)) return pause;
  const paced = tcpPause(elapsed, probe.interval, attemptStart);
  return watch === null ? paced : Math.max(paced, SAFETY_NET);
}

/** A log source with nothing in it: liveness checks read no log. */
const NO_LOG: LogSource = { read: () => [], tail: () => [], onChange: () => () => undefined };

/** What one liveness check needs. */
export interface CheckOnceOptions {
  readonly service: string;
  readonly probe: ResolvedProbe;
  /** The service's own port (`'auto'` in the probe means this one). */
  readonly port: number | null;
  /** The instance whose tree must own the answering listener. */
  readonly target: StopTarget;
  readonly cwd: string;
  /** Made only for an `exec` check: a health check of a port every few seconds needs none. */
  readonly env: () => NodeJS.ProcessEnv;
  readonly inspector: ProcessInspector;
  /** Hard deadline of the check, ms. */
  readonly timeout: number;
  readonly signal?: AbortSignal;
}

/**
 * One liveness check (`health`): a single attempt of a tcp, http or exec
 * check with a hard deadline, its answer counted only from the instance's own
 * process tree, as readiness does.
 */
export function checkOnce(o: CheckOnceOptions): Promise<Attempt> {
  const ready: WaitReadyOptions = {
    service: o.service,
    probe: o.probe,
    port: o.port,
    target: o.target,
    follower: NO_LOG,
    cwd: o.cwd,
    env: o.env,
    timeout: o.timeout,
    inspector: o.inspector,
    logFile: '',
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  };
  const portOf = (p: number | 'auto') => (p === 'auto' ? o.port : p);
  return bounded(o.timeout, o.signal, (signal, ms) =>
    attempt(o.probe, ready, ms, portOf, 'both', signal),
  );
}

/**
 * Whether a failed attempt's cause replaces the one before it: an attempt cut
 * short by the deadline says less than the one before it, and a refusal on one
 * loopback family less than a foreign answer on the other.
 */
function tellsMore(
  result: Extract<Attempt, { ok: false }>,
  foreignBefore: boolean,
  deadline: number,
): boolean {
  if (result.cut === true || performance.now() >= deadline) return false;
  return !foreignBefore || result.foreign === true;
}

/**
 * Runs one attempt with a hard deadline: `run` gets a signal that fires at
 * `ms` or when `outer` aborts, and the attempt settles then whatever it was
 * doing (a server trickling one byte every 50 ms, a check command that never
 * ends): every attempt kind also listens to the signal and frees its socket
 * or kills its process group.
 */
async function bounded(
  ms: number,
  outer: AbortSignal | undefined,
  run: (signal: AbortSignal, ms: number) => Promise<Attempt>,
): Promise<Attempt> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const over = new Promise<Attempt>((resolve) => {
    const stop = (error: string) => {
      ac.abort();
      resolve({ ok: false, error, cut: true });
    };
    timer = setTimeout(() => stop(`the check did not finish within ${formatDuration(ms)}`), ms);
    if (outer?.aborted) stop('aborted');
    outer?.addEventListener('abort', () => stop('aborted'), { once: true, signal: ac.signal });
  });
  try {
    return await Promise.race([run(ac.signal, ms), over]);
  } finally {
    clearTimeout(timer);
    ac.abort(); // releases the listener on `outer`
  }
}

/**
 * One attempt. A TCP check connects to 127.0.0.1 on every attempt (which a
 * listener on 0.0.0.0 or a dual-stack `::` answers too) and to ::1 on every
 * second one (a listener on ::1 alone: `localhost` on many systems), both
 * after the service printed something, when it most likely just started
 * listening (`tick` `'both'`).
 */
async function attempt(
  probe: ResolvedProbe,
  o: WaitReadyOptions,
  timeout: number,
  portOf: (p: number | 'auto') => number | null,
  tick: number | 'both',
  signal: AbortSignal,
): Promise<Attempt> {
  if (probe.kind === 'log') return logAttempt(o.follower, probe.pattern);
  if (tick === 'both') o.follower.read(); // keep the tail current; tail() catches up anyway
  switch (probe.kind) {
    case 'exec':
      return execAttempt(probe.argv, probe.shell, { cwd: o.cwd, env: o.env(), timeout, signal });
    case 'tcp': {
      const port = portOf(probe.port);
      if (port === null) return { ok: false, error: 'no port to probe' };
      const hosts = tick === 'both' || tick % 2 === 0 ? LOOPBACK : LOOPBACK.slice(0, 1);
      const got = await tcpLoopbackAttempt(port, timeout, hosts, signal);
      return got.ok ? owned(port, o, got.family) : got;
    }
    case 'http': {
      const url = o.port === null ? probe.url : probe.url.replace(':auto/', `:${o.port}/`);
      const got = await httpAttempt(url, probe.status, timeout, signal);
      if (!got.ok) return got;
      return owned(Number(new URL(url).port || 80), o);
    }
  }
}

/** A log check: a line of the service's output matches. */
function logAttempt(follower: LogSource, pattern: string | RegExp): Attempt {
  const hit = follower
    .read()
    .some((line) => (typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line)));
  return hit ? { ok: true } : { ok: false, error: `no log line matched ${String(pattern)}` };
}

function owned(port: number, o: WaitReadyOptions, family?: 4 | 6): Attempt {
  if (o.target === undefined) return { ok: true };
  const who = listenerOwnership(port, o.target, o.inspector, family);
  if (who.owned) return { ok: true };
  const holder = who.holder === null ? 'another process' : `pid ${who.holder}`;
  return {
    ok: false,
    error: `port ${port} is answered by ${holder}, not by ${o.service}`,
    foreign: true,
  };
}

function tailDetails(o: WaitReadyOptions): string[] {
  const tail = o.follower.tail(20);
  return tail.length === 0
    ? ['(no output)']
    : [`last ${tail.length} line(s) of ${o.logFile}:`, ...tail.map((l) => `  ${l}`)];
}

/** True if a service's output says its port was taken when it tried to listen. */
export function saysPortTaken(lines: readonly string[]): boolean {
  return lines.some((l) => /EADDRINUSE|address already in use/i.test(l));
}

function exitedError(o: WaitReadyOptions, exit: ExitInfo | null): LaunchError {
  const tail = o.follower.tail(20);
  const busy = saysPortTaken(tail);
  return new LaunchError('E_EXITED', `${o.service}: ${exitPhrase(exit)} before it was ready`, {
    service: o.service,
    hint: busy
      ? `its port was taken when it tried to listen; run 'launchguard status' to see who holds it`
      : `fix the error above and start again; the whole log is in ${o.logFile}`,
    details: tailDetails(o),
  });
}

function notReadyError(o: WaitReadyOptions, last: string): LaunchError {
  return new LaunchError(
    'E_NOT_READY',
    `${o.service}: not ready after ${formatDuration(o.timeout)} (last check: ${last})`,
    {
      service: o.service,
      hint: `check services.${o.service}.ready, or raise readyTimeout if it needs longer; the whole log is in ${o.logFile}`,
      details: tailDetails(o),
    },
  );
}
