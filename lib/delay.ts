/**
 * Resolves after `ms`, or at once when `signal` aborts (it never rejects).
 * Built on the global `setTimeout`, so every wait of the engine (lock
 * retries, stop polling, restart back-off) follows fake timers in tests.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A promise that settles (to null) when `signal` aborts, and the removal of
 * its one listener: the one way the engine waits for an abort (a supervisor
 * races every watched service's exit against one such promise).
 */
export function untilAborted(signal: AbortSignal): { promise: Promise<null>; dispose: () => void } {
  if (signal.aborted) return { promise: Promise.resolve(null), dispose: () => undefined };
  let onAbort: () => void = () => undefined;
  const promise = new Promise<null>((resolve) => {
    onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
