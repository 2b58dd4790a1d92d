import { fileURLToPath } from 'node:url';

/** The test fixtures the benchmarks run as services. */
export const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
