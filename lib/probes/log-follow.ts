import { closeSync, type FSWatcher, fstatSync, readSync, watch } from 'node:fs';
import { LaunchError } from '../errors.js';
import { openLogForRead } from '../state/logfile.js';

const MAX_LINE = 4_000;
const KEEP = 40;

/** What the readiness runner reads of a service's output (a seam: tests pass a fake). */
export interface LogSource {
  /** New complete lines since the last call. */
  read(): string[];
  /** The last `n` lines, for error messages. */
  tail(n?: number): string[];
  /** Calls `listener` whenever new output may have arrived; returns its removal. */
  onChange(listener: () => void): () => void;
}

/**
 * Follows a service's log file from a byte offset: new complete lines, the
 * last lines for error messages, and a wake-up callback whenever the file
 * grows (inotify on Linux), so a probe can run the moment the service speaks.
 */
export class LogFollower implements LogSource {
  readonly #fd: number;
  #offset: number;
  #partial = '';
  readonly #last: string[] = [];
  readonly #watcher: FSWatcher | null;
  readonly #listeners = new Set<() => void>();

  /** Opens `file` (never through a link, never blocking on a FIFO); throws E_STATE if it is not a log. */
  constructor(file: string, offset: number) {
    const opened = openLogForRead(file);
    if (opened.kind !== 'ok') {
      const why = opened.kind === 'missing' ? 'does not exist' : opened.reason;
      throw new LaunchError('E_STATE', `the log file ${file} ${why}`, {
        hint: 'launchguard never reads through links or FIFOs in its state folder; remove it (the next start creates a new log)',
      });
    }
    this.#fd = opened.fd;
    this.#offset = offset;
    let watcher: FSWatcher | null = null;
    try {
      watcher = watch(file, { persistent: false }, () => {
        for (const listener of this.#listeners) listener();
      });
      watcher.on('error', () => undefined);
    } catch {
      // no file watching here: probes still run on their schedule
    }
    this.#watcher = watcher;
  }

  /** Calls `listener` whenever the log file changes; returns its removal. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads what was appended since the last call and returns the new complete lines. */
  read(): string[] {
    const size = fstatSync(this.#fd).size;
    if (size < this.#offset) this.#offset = size; // truncated by someone: follow from the end
    const lines: string[] = [];
    if (this.#offset === size) return lines; // the usual case of a polled check: nothing new
    const buffer = Buffer.allocUnsafe(64 * 1024);
    while (this.#offset < size) {
      const n = readSync(this.#fd, buffer, 0, buffer.length, this.#offset);
      if (n <= 0) break;
      this.#offset += n;
      const parts = (this.#partial + buffer.toString('utf8', 0, n)).split('\n');
      this.#partial = (parts.pop() ?? '').slice(-MAX_LINE);
      for (const raw of parts) lines.push(raw.replace(/\r$/, '').slice(0, MAX_LINE));
    }
    for (const line of lines) {
      this.#last.push(line);
      if (this.#last.length > KEEP) this.#last.shift();
    }
    return lines;
  }

  /** The last `n` lines (including an unterminated last line). */
  tail(n = 20): string[] {
    this.read();
    const all = this.#partial === '' ? this.#last : [...this.#last, this.#partial];
    return all.slice(-n);
  }

  close(): void {
    this.#watcher?.close();
    this.#listeners.clear();
    try {
      closeSync(this.#fd);
    } catch {
      // already closed
    }
  }
}
