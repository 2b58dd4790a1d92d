import { closeSync, fstatSync, readSync } from 'node:fs';
import type { ResolvedConfig } from '../config/types.js';
import { untilAborted } from '../delay.js';
import { LaunchError } from '../errors.js';
import { LogFollower } from '../probes/log-follow.js';
import { openLogForRead } from '../state/logfile.js';
import { readTimeNotes, timesOfLines } from '../state/logtimes.js';
import { servicePaths } from '../state/paths.js';
import { assertStateDir } from '../state/trust.js';

/** The end of one service's log, as `logs` shows it. */
export type LogTail =
  | {
      readonly service: string;
      readonly kind: 'ok';
      readonly lines: readonly string[];
      /** When each line was written (epoch ms), null where nobody saw it; see `state/logtimes.ts`. */
      readonly times: readonly (number | null)[];
    }
  | { readonly service: string; readonly kind: 'missing' }
  /** Not a log launchguard will read (a link, a FIFO, another user's file). */
  | {
      readonly service: string;
      readonly kind: 'invalid';
      readonly file: string;
      readonly reason: string;
    };

/** The last `n` lines of an open file (reads at most its last 1 MiB) and where each ends; closes it. */
function lastLines(fd: number, n: number): { lines: string[]; ends: number[] } {
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 1024 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines: string[] = [];
    const ends: number[] = [];
    for (let from = 0; from < length; ) {
      const nl = buffer.indexOf(10, from);
      const end = nl < 0 ? length : nl + 1;
      lines.push(buffer.toString('utf8', from, nl < 0 ? length : nl));
      ends.push(size - length + end);
      from = end;
    }
    return { lines: lines.slice(lines.length - n), ends: ends.slice(ends.length - n) };
  } finally {
    closeSync(fd);
  }
}

/** The last `n` lines of each named service's log, read safely (see `state/logfile.ts`). */
export function logTails(config: ResolvedConfig, names: readonly string[], n: number): LogTail[] {
  if (!assertStateDir(config.pidDir)) return names.map((service) => ({ service, kind: 'missing' }));
  return names.map((service): LogTail => {
    const file = servicePaths(config.pidDir, service).log;
    const opened = openLogForRead(file);
    if (opened.kind === 'ok') {
      const { lines, ends } = lastLines(opened.fd, n);
      return { service, kind: 'ok', lines, times: timesOfLines(ends, readTimeNotes(file)) };
    }
    if (opened.kind === 'missing') return { service, kind: 'missing' };
    return { service, kind: 'invalid', file, reason: opened.reason };
  });
}

/** The error `logs` ends with when a log could not be shown. */
export function invalidLogError(tails: readonly LogTail[]): LaunchError | null {
  const bad = tails.filter((t) => t.kind === 'invalid');
  const [first, ...rest] = bad;
  if (first === undefined) return null;
  return new LaunchError(
    'E_STATE',
    `${first.service}: the log file ${first.file} ${first.reason}; not shown`,
    {
      service: first.service,
      details: rest.map((t) => `${t.service}: the log file ${t.file} ${t.reason}; not shown`),
      hint: 'launchguard never reads through links or FIFOs in its state folder; remove it (the next start creates a new log)',
    },
  );
}

/**
 * Follows the named services' logs from their current ends until `signal`
 * aborts, calling `onLine` for each new line. A log that does not exist yet
 * (or is not a regular file) is tried again every 200 ms.
 */
export async function followLogs(
  config: ResolvedConfig,
  names: readonly string[],
  onLine: (service: string, line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const followers = new Map<string, LogFollower>();
  const open = (name: string) => {
    if (!followers.has(name)) {
      const file = servicePaths(config.pidDir, name).log;
      const opened = openLogForRead(file);
      if (opened.kind !== 'ok') return undefined;
      const size = fstatSync(opened.fd).size;
      closeSync(opened.fd);
      try {
        const follower = new LogFollower(file, size);
        follower.onChange(tick);
        followers.set(name, follower);
      } catch {
        return undefined; // replaced meanwhile: try again on the next tick
      }
    }
    return followers.get(name);
  };
  function tick() {
    for (const name of names) for (const line of open(name)?.read() ?? []) onLine(name, line);
  }
  for (const name of names) open(name);
  const timer = setInterval(tick, 200);
  try {
    await untilAborted(signal).promise;
  } finally {
    clearInterval(timer);
    for (const f of followers.values()) f.close();
  }
}
