import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const made: string[] = [];

/** A fresh temp folder, removed after the test run. */
export function tempDir(prefix = 'lg-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Writes files (path → content) under `dir`, creating folders. Returns `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return dir;
}

/** A temp folder holding the given files. */
export function project(files: Record<string, string>): string {
  return writeFiles(tempDir(), files);
}

/** True if `path` is in a temp folder this run made. */
export function inTempDir(path: string): boolean {
  return made.some((dir) => path === dir || path.startsWith(`${dir}/`));
}

/** Removes every temp folder made by this run. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * `rm -rf dir` while a keeper may still write there (its log, a log's line times): removed
 * again until it stays removed for 100 ms, as a user would run rm again. rmSync's own retries
 * do not list the folder again, so one file written after its listing fails every retry
 * (ENOTEMPTY, seen in CI).
 */
export async function removeWhileKept(dir: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      rmSync(dir, { recursive: true, force: true });
      await sleep(100);
      if (!existsSync(dir)) return;
    } catch (error) {
      // ENOTEMPTY: a file came in meanwhile; anything else is the test's failure
      if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${dir} stays`);
  }
}
