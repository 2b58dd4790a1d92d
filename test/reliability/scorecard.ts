import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';

/** `RELIABILITY=full` runs the published counts; otherwise the fast CI subset. */
const FULL = process.env.RELIABILITY === 'full';

/** A count for the CI subset or the full run. */
export function count(ci: number, full: number): number {
  return FULL ? full : ci;
}

/** One row of the scorecard. */
export interface Score {
  readonly scenario: string;
  readonly runs: number;
  readonly figure: string;
  readonly target: string;
  readonly pass: boolean;
}

const scores: Score[] = [];

/** Records a measured figure for the scorecard. */
export function score(row: Score): void {
  scores.push(row);
}

const START = '<!-- scorecard:start -->';
const END = '<!-- scorecard:end -->';

/**
 * Writes the scorecard table into RELIABILITY.md between its markers (only
 * when RELIABILITY_WRITE=1, i.e. `npm run test:reliability`).
 */
export function writeScorecard(): void {
  if (process.env.RELIABILITY_WRITE !== '1' || scores.length === 0) return;
  const file = join(ROOT, 'RELIABILITY.md');
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return;
  const lines = [
    START,
    '',
    `Run: ${new Date().toISOString().slice(0, 10)}, ${FULL ? 'full' : 'CI subset'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}.`,
    '',
    '| scenario | runs | figure | target | result |',
    '| --- | --- | --- | --- | --- |',
    ...scores.map(
      (s) =>
        `| ${s.scenario} | ${s.runs} | ${s.figure} | ${s.target} | ${s.pass ? 'met' : '**missed**'} |`,
    ),
    '',
    END,
  ];
  writeFileSync(file, text.slice(0, a) + lines.join('\n') + text.slice(b + END.length));
  // Aligned as `npm run lint` wants it, so a fresh scorecard keeps `npm test` green.
  execFileSync(join(ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', file], {
    stdio: 'ignore',
  });
}
