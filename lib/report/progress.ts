import { describeExit } from '../exit.js';
import { formatDuration } from '../format.js';
import type { StackEvent } from '../orchestrate/events.js';
import type { Colors } from './color.js';

/**
 * Start progress. On a TTY, one live status line ("starting api · waiting:
 * web (on api) · 1.2 s") redrawn in place under the service output; elsewhere
 * (CI logs), one plain line per step.
 */
export class Progress {
  readonly #out: NodeJS.WritableStream;
  readonly #colors: Colors;
  readonly #live: boolean;
  readonly #started = Date.now();
  readonly #state = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #shown = false;

  constructor(out: NodeJS.WritableStream, colors: Colors, live: boolean) {
    this.#out = out;
    this.#colors = colors;
    this.#live = live;
    if (live) {
      this.#timer = setInterval(() => this.#draw(), 100);
      this.#timer.unref();
    }
  }

  /** Writes a line above the live line. */
  line(text: string): void {
    this.#clear();
    this.#out.write(`${text}\n`);
    this.#draw();
  }

  event(e: StackEvent): void {
    const c = this.#colors;
    switch (e.type) {
      case 'waiting':
        this.#state.set(e.service, `waiting on ${e.on.join(', ')}`);
        if (!this.#live) this.line(`${c.dim('…')} ${e.service}: waiting on ${e.on.join(', ')}`);
        break;
      case 'starting':
        this.#state.set(e.service, 'starting');
        if (!this.#live) this.line(`${c.dim('…')} ${e.service}: starting`);
        break;
      case 'spawned':
        this.#state.set(e.service, 'waiting for readiness');
        break;
      case 'ready':
        this.#state.delete(e.service);
        this.line(
          e.kept
            ? `${c.green('✓')} ${e.service}: already running (kept)`
            : `${c.green('✓')} ${e.service}: ready in ${formatDuration(e.ms)}`,
        );
        break;
      case 'completed':
        this.line(`${c.green('✓')} ${e.service}: completed`);
        break;
      case 'failed':
        this.#state.delete(e.service);
        this.line(`${c.red('✗')} ${e.service}: failed`);
        break;
      case 'skipped':
        this.#state.delete(e.service);
        this.line(`${c.dim('·')} ${e.service}: not started (${e.reason})`);
        break;
      case 'note':
        this.line(`${c.dim('·')} ${e.service}: ${e.text}`);
        break;
      case 'exited':
        this.line(`${c.yellow('!')} ${e.service} ${describeExit(e.exit)}`);
        break;
      case 'restarting':
        this.line(
          `${c.yellow('↻')} ${e.service} ${describeExit(e.exit)}; restart ${e.attempt}/${e.max} in ${e.delayMs} ms`,
        );
        break;
      case 'restarted':
        this.line(`${c.green('✓')} ${e.service}: ready again (pid ${e.record.pid})`);
        break;
      case 'restart-failed':
        this.line(`${c.red('✗')} ${e.service}: restart failed: ${errorText(e.error)}`);
        break;
      case 'crash-loop':
        this.line(
          `${c.red('✗')} ${e.service} ${describeExit(e.exit)}; failed after ${e.restarts} restarts in a row (crash loop), not restarting`,
        );
        break;
      case 'stopping':
      case 'stopped':
        this.#state.delete(e.service);
        break;
    }
  }

  #text(): string {
    const parts = [...this.#state].map(([name, what]) => `${name} ${this.#colors.dim(what)}`);
    return `${this.#colors.dim('▸')} ${parts.join(' · ')} ${this.#colors.dim(formatDuration(Date.now() - this.#started))}`;
  }

  #clear(): void {
    if (this.#live && this.#shown) this.#out.write('\r\u001b[K');
    this.#shown = false;
  }

  #draw(): void {
    if (!this.#live || this.#state.size === 0) return;
    this.#clear();
    this.#out.write(this.#text());
    this.#shown = true;
  }

  /** Removes the live line and stops redrawing. */
  done(): void {
    clearInterval(this.#timer);
    this.#clear();
    this.#state.clear();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
