import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { runCli } from './cli.js';
import { isAlive, waitFor } from './procs.js';
import { tempDir } from './tmp.js';
import { spawnAs, type UserIds } from './users.js';

/** A config that appends a line to `mark` each time it is evaluated. */
export function marking(mark: string): string {
  return `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(mark)}, 'ran\\n');\nexport default { services: { svc: { command: ['true'] } } };\n`;
}

/** A config with one service that does nothing. */
export const PLAIN = "export default { services: { svc: { command: ['true'] } } };\n";

/** A folder others may reach (tempDir() is 0700) named `name`, with `mode`, owned by root and `group`. */
export function sharedFolder(name: string, mode: number, group?: number): string {
  const top = tempDir();
  chmodSync(top, 0o755);
  const dir = join(top, name);
  mkdirSync(dir);
  if (group !== undefined) chownSync(dir, 0, group);
  chmodSync(dir, mode);
  return dir;
}

/** What {@link configRace} saw. */
export interface RaceResult {
  /** Swaps the attacker made while the runs went on. */
  readonly swaps: number;
  /** Runs that refused or did not find the config (they met a swap). */
  readonly refused: number;
  /** Times the attacker's config was evaluated (must be 0). */
  readonly foreign: number;
  /** Runs whose output carried a stack trace. */
  readonly traces: number;
}

/**
 * The check-then-import race, as root: `user` may rename files in a folder of
 * its group (no sticky bit) that holds root's config, and swaps its own in and
 * the real one back as fast as it can while root runs `validate` `runs` times
 * from a subfolder. Counts how often the attacker's config ran.
 */
export async function configRace(user: UserIds, runs: number): Promise<RaceResult> {
  const shared = sharedFolder('team', 0o775, user.gid);
  const work = join(shared, 'work');
  mkdirSync(work);
  const config = join(shared, 'launch.config.mjs');
  writeFileSync(config, PLAIN);
  const mark = join(shared, '..', 'ran');
  const evil = join(shared, 'evil.mjs');
  writeFileSync(evil, marking(mark));
  chownSync(evil, user.uid, user.gid);
  const counter = join(shared, 'swaps');
  const swapper = join(shared, '..', 'swap.mjs');
  writeFileSync(
    swapper,
    `import { renameSync, writeFileSync, existsSync } from 'node:fs';
const [cfg, evil, spare, counter, stop] = process.argv.slice(2);
let swaps = 0;
while (!existsSync(stop)) {
  for (let i = 0; i < 50; i++) {
    try { renameSync(cfg, spare); renameSync(evil, cfg); renameSync(cfg, evil); renameSync(spare, cfg); swaps++; } catch {}
  }
  writeFileSync(counter + '.tmp', String(swaps));
  renameSync(counter + '.tmp', counter); // a reader never sees it half written
}
`,
  );
  const stop = join(shared, 'stop');
  const spare = join(shared, 'spare.mjs');
  const child = spawnAs(user, [process.execPath, swapper, config, evil, spare, counter, stop]);
  let refused = 0;
  let traces = 0;
  try {
    await waitFor(() => existsSync(counter));
    let left = runs;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (left-- > 0) {
          const result = await runCli(['validate'], { cwd: work });
          if (/^\s+at .+(\(|:\d+:\d+)/m.test(result.stderr)) traces++;
          if (result.code !== 0) refused++;
        }
      }),
    );
  } finally {
    writeFileSync(stop, '');
    await waitFor(() => !isAlive(child.pid as number));
  }
  const swaps = Number(readFileSync(counter, 'utf8'));
  const foreign = existsSync(mark) ? readFileSync(mark, 'utf8').split('\n').length - 1 : 0;
  return { swaps, refused, foreign, traces };
}

/** Mounts a small tmpfs (512 kB, 0700) at `dir` (created), as root; returns its unmount. */
export function smallDisk(dir: string): () => void {
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', dir]);
  return () => execFileSync('umount', ['-l', dir]);
}

/** Writes into `file` until its filesystem says ENOSPC. */
export function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024, 'x');
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}
