import type { Colors } from './color.js';

/** Longest partial line held for a service before it is shown anyway (bounded memory). */
const MAX_PARTIAL = 64 * 1024;

/**
 * Turns output chunks of several services into whole lines with an aligned,
 * coloured name prefix (`backend  | listening on 8001`). Partial lines are
 * held per service until their newline arrives (or `flush`), but never more
 * than {@link MAX_PARTIAL} characters: a longer line is shown in pieces, each
 * ending in a visible `(line cut at 64 KiB)`, so a service that writes
 * megabytes without a newline cannot grow the launcher's memory.
 */
export class LinePrefixer {
  readonly #width: number;
  readonly #colors: Colors;
  readonly #paint: Map<string, (text: string) => string>;
  readonly #partial = new Map<string, string>();
  readonly #write: (line: string) => void;

  constructor(names: readonly string[], colors: Colors, write: (line: string) => void) {
    this.#width = Math.max(0, ...names.map((n) => n.length));
    this.#colors = colors;
    const palette = [colors.cyan, colors.magenta, colors.yellow, colors.green, colors.blue];
    this.#paint = new Map(names.map((n, i) => [n, palette[i % palette.length] ?? colors.cyan]));
    this.#write = write;
  }

  /** The prefix of a service's lines. */
  prefix(name: string): string {
    const paint = this.#paint.get(name) ?? ((t: string) => t);
    return `${paint(name.padEnd(this.#width))} ${this.#colors.dim('|')} `;
  }

  /** Feeds a chunk of a service's output. */
  push(name: string, chunk: Buffer | string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const key = `${name}\0${stream}`;
    const text = (this.#partial.get(key) ?? '') + String(chunk);
    const lines = text.split('\n');
    let rest = lines.pop() ?? '';
    for (const line of lines) this.#write(this.prefix(name) + line.replace(/\r$/, ''));
    while (rest.length > MAX_PARTIAL) {
      this.#write(
        `${this.prefix(name)}${rest.slice(0, MAX_PARTIAL)}${this.#colors.dim(' (line cut at 64 KiB)')}`,
      );
      rest = rest.slice(MAX_PARTIAL);
    }
    this.#partial.set(key, rest);
  }

  /** Writes held partial lines of one service (or all). */
  flush(name?: string): void {
    for (const [key, text] of this.#partial) {
      const owner = key.split('\0')[0] as string;
      if (text === '' || (name !== undefined && owner !== name)) continue;
      this.#write(this.prefix(owner) + text);
      this.#partial.set(key, '');
    }
  }
}
