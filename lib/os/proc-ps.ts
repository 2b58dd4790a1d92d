import type { ProcInfo } from './proc.js';

/**
 * Parsers for `ps` output (macOS, the BSDs, and Linux with the portable
 * backend), kept pure so they are unit-tested on recorded output of each OS
 * (`test/unit/portable.test.ts`). The commands are run by `portable.ts`.
 */

/** One process of a `ps` table: what `lookup` returns, plus its argv. */
export interface PsRow {
  readonly info: ProcInfo;
  readonly argv: string[];
  /** CPU (percent of one core) and resident bytes, when the table has `pcpu` and `rss`. */
  readonly usage?: { readonly cpu: number; readonly rss: number };
}

/**
 * The `-o` keywords of the table, in order. `sess` (the session id) exists on
 * Linux's procps only; macOS has no session-id keyword (its `sess` is a
 * kernel pointer), so there `sid` is unknown (0).
 */
export function psColumns(platform: NodeJS.Platform): string {
  const sess = platform === 'linux' ? 'sess=,' : '';
  return `pid=,ppid=,pgid=,${sess}uid=,stat=,pcpu=,rss=,lstart=,command=`;
}

/** `lstart`, five words with one-second resolution: `Thu Nov 26 13:30:18 2026`. */
const LSTART = String.raw`(\w{3}\s+\w{3}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\s+\d{4})`;

/**
 * The start-time scheme of this backend: `lstart:` + ps's start time. A
 * record written by the /proc backend (clock ticks) never matches one, so
 * switching backends makes old records unverifiable, never misread.
 */
export function psStartTime(lstart: string): string {
  return `lstart:${lstart.replace(/\s+/g, ' ')}`;
}

/**
 * Parses `ps -A -ww -o <psColumns>` (run with LC_ALL=C). The command is split
 * on spaces: an argument containing a space is not told apart (only ever used
 * to compare with a service's command, where a mismatch means "not the same").
 */
export function parsePsTable(text: string, withSession: boolean): Map<number, PsRow> {
  const ids = withSession
    ? String.raw`(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`
    : String.raw`(\d+)\s+(\d+)\s+(\d+)`;
  // pcpu and rss are optional: tables recorded before they were asked for have neither.
  const line = new RegExp(
    `^\\s*${ids}\\s+(\\d+)\\s+(\\S+)\\s+(?:([\\d.,]+)\\s+(\\d+)\\s+)?${LSTART}\\s*(.*)$`,
  );
  const rows = new Map<number, PsRow>();
  for (const raw of text.split('\n')) {
    const m = line.exec(raw);
    if (m === null) continue;
    const f = m.slice(1);
    const [pid, ppid, pgid] = f.slice(0, 3).map(Number) as [number, number, number];
    const at = withSession ? 4 : 3;
    const sid = withSession ? Number(f[3]) : 0;
    const command = (f[at + 5] ?? '').trim();
    const pcpu = f[at + 2];
    const rss = f[at + 3];
    const info: ProcInfo = {
      pid,
      ppid,
      pgid,
      sid,
      uid: Number(f[at]),
      state: (f[at + 1] ?? '?').charAt(0),
      startTime: psStartTime(f[at + 4] ?? ''),
      comm: command.split(/\s+/)[0]?.split('/').pop() ?? '',
    };
    const argv = command === '' ? [] : command.split(/\s+/);
    const usage =
      pcpu === undefined || rss === undefined
        ? undefined
        : { cpu: Number(pcpu.replace(',', '.')), rss: Number(rss) * 1024 };
    rows.set(pid, usage === undefined ? { info, argv } : { info, argv, usage });
  }
  return rows;
}

/**
 * One environment variable from a line of `ps eww -o pid=,command=` (the
 * command line, then the environment, space-separated). Reliable for values
 * without spaces, such as launchguard's instance marker; `ps` shows the
 * environment of the user's own processes only on macOS (all, as root).
 */
export function envFromPsLine(line: string, name: string): string | null {
  const at = line.search(new RegExp(`(?:^|\\s)${name}=`));
  if (at < 0) return null;
  const start = line.indexOf('=', at) + 1;
  const end = line.slice(start).search(/\s/);
  return end < 0 ? line.slice(start) : line.slice(start, start + end);
}

/** Parses `ps eww -o pid=,command=` into each process's line (command and environment). */
export function parsePsEnv(text: string): Map<number, string> {
  const lines = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const m = /^\s*(\d+)\s(.*)$/.exec(raw);
    if (m) lines.set(Number(m[1]), m[2] ?? '');
  }
  return lines;
}

/**
 * The boot identity from `sysctl -n kern.boottime` (macOS, the BSDs:
 * `{ sec = 1732610000, usec = 123 } Thu Nov 26 ...`), a kernel value that
 * changes at every boot and never drifts; null if the text is not one.
 */
export function parseBootTime(text: string): string | null {
  const sec = /\bsec\s*=\s*(\d+)/.exec(text);
  return sec ? `boot:${sec[1]}` : null;
}

/** `ps -A -o pid=,cgroup=` output: each PID's cgroups (`;`-separated), by PID. */
export function parsePsCgroups(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), m[2] as string);
  }
  return out;
}
