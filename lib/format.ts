/** Pure formatting used by every layer (messages, reports). */

/** A duration in ms as a short human string: `250 ms`, `30 s`, `1.5 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}
