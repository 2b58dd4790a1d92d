/**
 * Fault points: a test hook for the reliability suite. When the environment
 * variable `LAUNCHGUARD_FAULT` names a point, the launcher SIGKILLs itself
 * there, the way a crash, an OOM kill or a closed CI runner would. Off unless
 * set; nothing else reads the variable.
 *
 * - `after-lock`: a service's lock is held, nothing spawned yet.
 * - `after-spawn`: the service runs, its record is not written yet.
 * - `before-record-rename`: the record's temp file is written, not renamed.
 * - `during-ready-wait`: the service runs with its record, readiness pending.
 * - `after-stop-signal`: a stop sent its signal, not yet waited for the exit.
 */
export type FaultPoint =
  | 'after-lock'
  | 'after-spawn'
  | 'before-record-rename'
  | 'during-ready-wait'
  | 'after-stop-signal';

/** The fault points, for the reliability suite. */
export const FAULT_POINTS: readonly FaultPoint[] = [
  'after-lock',
  'after-spawn',
  'before-record-rename',
  'during-ready-wait',
  'after-stop-signal',
];

/** SIGKILLs this process if `LAUNCHGUARD_FAULT` names `point` (test hook). */
export function faultPoint(point: FaultPoint): void {
  if (process.env.LAUNCHGUARD_FAULT === point) process.kill(process.pid, 'SIGKILL');
}
