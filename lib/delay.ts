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
