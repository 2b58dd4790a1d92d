import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { APPEND_NO_FOLLOW, unlinkQuiet } from './files.js';

/**
 * When each line of a log was written, for `logs --timestamps`.
 *
 * A service writes its log itself (its death or the launcher's must not touch
 * the other), so the log has no time per line. Whoever sees the log grow
 * notes it in `.<log>.times` beside it, one line per note: `<size> <epoch ms>`: every
 * byte below `size` was written by then. The foreground launcher sees each
 * output chunk (it copies them to the terminal); the keeper sees each growth
 * through inotify. A line's time is the first note at or past its end, so it
 * is late by at most the noting delay ({@link NOTE_EVERY_MS}), never early.
 * Lines nobody saw written (a stack started by `up -d` while no keeper ran)
 * have no time.
 *
 * Notes start again when the log is truncated or rotated (the rotated file
 * keeps no times), and the file is compacted to its newest half past
 * {@link MAX_TIMES_BYTES}, so it stays small whatever the log does.
 */

/** At most one note per log this often (the trailing change is always noted). */
const NOTE_EVERY_MS = 5;
/** Past this size, the notes file keeps its newest half. */
const MAX_TIMES_BYTES = 64 * 1024;

const APPEND = APPEND_NO_FOLLOW;

/** The notes file of a log. */
function timesPath(logPath: string): string {
  return join(dirname(logPath), `.${basename(logPath)}.times`);
}

/** One note: every byte of the log below `size` was written by `at` (epoch ms). */
export interface TimeNote {
  readonly size: number;
  readonly at: number;
}

/** Reads a log's notes in order (an unreadable or odd file gives none; links are never followed). */
export function readTimeNotes(logPath: string): TimeNote[] {
  let fd: number;
  try {
    fd = openSync(
      timesPath(logPath),
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch {
    return [];
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return [];
    const buffer = Buffer.alloc(Math.min(stat.size, 4 * MAX_TIMES_BYTES));
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const notes: TimeNote[] = [];
    for (const line of buffer.toString('latin1', 0, n).split('\n')) {
      const m = /^(\d+) (\d+)$/.exec(line);
      if (m) notes.push({ size: Number(m[1]), at: Number(m[2]) });
    }
    return notes;
  } finally {
    closeSync(fd);
  }
}

/** Forgets a log's notes (its log was truncated or rotated away). */
export function forgetTimes(logPath: string): void {
  unlinkQuiet(timesPath(logPath));
}

/** Appends one note; compacts the file when it grew too large. Never throws. */
function appendNote(logPath: string, size: number, at: number): void {
  const path = timesPath(logPath);
  let fd: number;
  try {
    fd = openSync(path, APPEND, 0o600);
  } catch {
    return;
  }
  let large = false;
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return;
    writeSync(fd, `${size} ${at}\n`);
    large = stat.size > MAX_TIMES_BYTES;
  } catch {
    // a full disk: that line has no time
  } finally {
    closeSync(fd);
  }
  if (large) compact(logPath);
}

/** Keeps the newest half of the notes (written aside, then renamed over). */
function compact(logPath: string): void {
  const notes = readTimeNotes(logPath);
  const kept = notes.slice(Math.floor(notes.length / 2));
  const aside = `${timesPath(logPath)}.${process.pid}`;
  try {
    const fd = openSync(
      aside,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      writeSync(fd, kept.map((n) => `${n.size} ${n.at}\n`).join(''));
    } finally {
      closeSync(fd);
    }
    renameSync(aside, timesPath(logPath));
  } catch {
    unlinkQuiet(aside);
  }
}

/**
 * Notes a log's growth as it is seen, at most once per {@link NOTE_EVERY_MS}
 * (a change inside that window is noted at its end). `sizeOf` reads the
 * log's current size (null: not readable now).
 */
export class LogClock {
  private last = -1;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logPath: string,
    private readonly sizeOf: () => number | null,
  ) {}

  /** The log may have grown. */
  seen(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.note();
    }, NOTE_EVERY_MS);
    this.timer.unref();
  }

  /** Notes the current size now (if it changed). */
  note(): void {
    const size = this.sizeOf();
    if (size === null || size === this.last) return;
    if (size < this.last) forgetTimes(this.logPath); // truncated: older notes point past the end
    this.last = size;
    appendNote(this.logPath, size, Date.now());
  }

  /** Notes what is pending and stops. */
  close(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.note();
    }
  }
}

/** The time of each line that ends at `ends[i]` (byte offsets), or null where nobody saw it. */
export function timesOfLines(
  ends: readonly number[],
  notes: readonly TimeNote[],
): (number | null)[] {
  // Notes of one log generation grow; after a truncation only the later ones count.
  let from = 0;
  for (let i = 1; i < notes.length; i++)
    if ((notes[i] as TimeNote).size < (notes[i - 1] as TimeNote).size) from = i;
  const valid = notes.slice(from);
  let j = 0;
  return ends.map((end) => {
    while (j < valid.length && (valid[j] as TimeNote).size < end) j++;
    return j < valid.length ? (valid[j] as TimeNote).at : null;
  });
}
