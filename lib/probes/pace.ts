/**
 * The pace of TCP checks while a service is silent (its output wakes the
 * check at once, see `runner.ts`). Each attempt wakes the launcher and makes
 * a connect: about 0.85 ms of CPU on a 2-core VM when spread out (0.2 ms of it
 * the wake-up alone), so the pace is a trade between detection lag (half a
 * pause on average) and the launcher's CPU, which on a small machine is taken
 * from the services it is starting. Measured there: a 10 ms pace noticed a
 * silent service after 4-6 ms but cost 170 ms of CPU over a 2 s boot; 20 ms,
 * 11 ms and 80-95 ms; 25 ms, 15 ms and 75 ms.
 *
 * - every pause is at least {@link SLOT} ms, and attempts land on a shared
 *   clock of SLOT-ms slots, so concurrent checks wake the launcher together;
 * - all pending TCP checks of the process together make at most
 *   {@link BUDGET} connects a second: with 20 services booting, each is
 *   probed every 200 ms, and the last ones, which decide "all ready", every
 *   20 ms again;
 * - after a long wait the pause grows with it (1/{@link BACKOFF} of the time
 *   waited, capped by the check's `interval`): a service that takes 20 s is
 *   noticed within 100 ms (50 on average) at a fifth of the cost.
 *
 * Measured in `npm run bench` (detection lag of a silent service, 20 and 50
 * silent services).
 */

/** The shared clock's step, and the shortest pause once the first quick attempts are over, ms. */
export const SLOT = 20;
/** Connects a second that all pending TCP checks of this process may make together. */
const BUDGET = 100;
/** The pause grows to the time waited divided by this. */
const BACKOFF = 200;

let pending = 0;
const changed = new Set<() => void>();

/**
 * Counts a TCP check as pending until the returned function is called. When
 * one ends, the others hear of it ({@link onPaceChange}): their pauses shrink
 * at once, so the last services of a large stack are not left to a pause
 * computed when 20 were pending.
 */
export function pacePending(): () => void {
  pending++;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    pending--;
    for (const listener of [...changed]) listener();
  };
}

/** Calls `listener` when a pending TCP check ends; returns its removal. */
export function onPaceChange(listener: () => void): () => void {
  changed.add(listener);
  return () => changed.delete(listener);
}

/**
 * The pause before the next attempt of a check that has waited `elapsed` ms
 * and whose last attempt began at `attemptStart` (process clock), capped by
 * `interval`: until the next slot of the shared clock that is at least the
 * paced pause after that start.
 */
export function tcpPause(
  elapsed: number,
  interval: number,
  attemptStart: number,
  now: number = performance.now(),
): number {
  const pause = Math.min(interval, Math.max(SLOT, (pending * 1000) / BUDGET, elapsed / BACKOFF));
  if (pause < SLOT) return Math.max(0, attemptStart + pause - now);
  // Rounded, not ceiled: a timer that fired a little late keeps its slot.
  const slot = Math.round((attemptStart + pause) / SLOT) * SLOT;
  return Math.max(1, slot - now);
}
