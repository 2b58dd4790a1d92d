/** The signals that ask a foreground launcher to stop. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Signals closer together than this count once (npm and pnpm may forward one Ctrl-C twice). */
const DEBOUNCE_MS = 500;

/**
 * Installs handlers for SIGINT, SIGTERM and SIGHUP: the first one aborts
 * `graceful`, a later one (after the debounce pause) aborts `force`. A closed
 * output (`outputClosed`) counts as a first SIGHUP. Returns the removal of
 * the handlers; the CLI is the only place that calls this.
 */
export function onStopSignals(
  emitter: NodeJS.EventEmitter = process,
  outputClosed?: AbortSignal,
): {
  graceful: AbortSignal;
  force: AbortSignal;
  first: () => StopSignal | undefined;
  dispose: () => void;
} {
  const graceful = new AbortController();
  const force = new AbortController();
  let firstAt = 0;
  let first: StopSignal | undefined;
  const handlers = STOP_SIGNALS.map((sig) => {
    const handler = () => {
      // A closed terminal may also send SIGHUP: that is the same hang-up, not a second Ctrl-C.
      if (sig === 'SIGHUP' && first === 'SIGHUP' && outputClosed?.aborted) return;
      const now = Date.now();
      if (first === undefined) {
        first = sig;
        firstAt = now;
        graceful.abort(sig);
      } else if (now - firstAt >= DEBOUNCE_MS) {
        force.abort(sig);
      }
    };
    emitter.on(sig, handler);
    return [sig, handler] as const;
  });
  // The reader of our output went away: like a hang-up of the terminal.
  const onClosed = () => {
    if (first === undefined) {
      first = 'SIGHUP';
      firstAt = Date.now();
      graceful.abort('SIGHUP');
    }
  };
  outputClosed?.addEventListener('abort', onClosed, { once: true });
  return {
    graceful: graceful.signal,
    force: force.signal,
    first: () => first,
    dispose: () => {
      for (const [sig, handler] of handlers) emitter.removeListener(sig, handler);
      outputClosed?.removeEventListener('abort', onClosed);
    },
  };
}
