import { describeExit } from '../exit.js';
import { formatDuration } from '../format.js';
import type { StackEvent } from '../orchestrate/events.js';
import type { Colors } from './color.js';

/** How often CI logs say that a service is still booting, by default (ms). */
const HEARTBEAT_MS = 10_000;

/**
 * Start progress. On a TTY, one live status line ("starting api · waiting:
 * web (on api) · 1.2 s") redrawn in place under the service output; elsewhere
 * (CI logs), one plain line per step, and every `heartbeatMs` a line per
 * service that is still starting ("… api: still waiting for readiness
 * (20 s)"), so a slow boot never looks like a hang.
 */
export class Progress {
  readonly #out: NodeJS.WritableStream;
  readonly #colors: Colors;
  readonly #live: boolean;
  readonly #started = Date.now();
  readonly #state = new Map<string, string>();
  /** When each service entered its current state. */
  readonly #since = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #shown = false;

  constructor(
    out: NodeJS.WritableStream,
    colors: Colors,
    live: boolean,
    heartbeatMs: number = HEARTBEAT_MS,
  ) {
    this.#out = out;
    this.#colors = colors;
    this.#live = live;
    this.#timer = live
      ? setInterval(() => this.#draw(), 100)
      : setInterval(() => this.#heartbeat(), heartbeatMs);
    this.#timer.unref();
  }

  #set(service: string, what: string): void {
    this.#state.set(service, what);
    this.#since.set(service, Date.now());
  }

  #heartbeat(): void {
    for (const [name, what] of this.#state) {
      const s = Math.round((Date.now() - (this.#since.get(name) ?? Date.now())) / 1000);
      this.line(`${this.#colors.dim('…')} ${name}: still ${what} (${s} s)`);
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
        this.#set(e.service, `waiting on ${e.on.join(', ')}`);
        if (!this.#live) this.line(`${c.dim('…')} ${e.service}: waiting on ${e.on.join(', ')}`);
        break;
      case 'starting':
        this.#set(e.service, 'starting');
        if (!this.#live) this.line(`${c.dim('…')} ${e.service}: starting`);
        break;
      case 'spawned':
        this.#set(e.service, 'waiting for readiness');
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
        this.#state.delete(e.service);
        this.line(
          e.earlier
            ? `${c.green('✓')} ${e.service}: completed earlier (not run again)`
            : `${c.green('✓')} ${e.service}: completed`,
        );
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
      case 'taken-down':
        this.line(`${c.dim('·')} ${e.service}: stopped by launchguard down (not restarted)`);
        break;
      case 'replaced':
        this.line(
          `${c.dim('·')} ${e.service}: replaced by another launchguard (now pid ${e.record.pid}; its output: launchguard logs ${e.service})`,
        );
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
      case 'unhealthy':
        this.line(`${c.red('✗')} ${e.service}: unhealthy (${e.reason})`);
        break;
      case 'changed':
        this.line(`${c.cyan('↻')} ${e.service}: ${e.file} changed; restarting`);
        break;
      case 'healthy':
        this.line(`${c.green('✓')} ${e.service}: healthy again`);
        break;
      case 'stopping':
      case 'stopped':
        this.#state.delete(e.service);
        break;
    }
  }

  /**
   * The live line, cut to the terminal's width (a wrapped line cannot be
   * cleared with `\r`, and would leave stale rows among the logs).
   */
  #text(): string {
    const c = this.#colors;
    const took = formatDuration(Date.now() - this.#started);
    const columns = (this.#out as { columns?: number }).columns ?? 80;
    const plain = `▸ ${[...this.#state].map(([n, w]) => `${n} ${w}`).join(' · ')} ${took}`;
    if ([...plain].length >= columns) return c.dim(`${[...plain].slice(0, columns - 2).join('')}…`);
    const parts = [...this.#state].map(([name, what]) => `${name} ${c.dim(what)}`);
    return `${c.dim('▸')} ${parts.join(' · ')} ${c.dim(took)}`;
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
