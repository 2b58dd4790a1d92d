import { type Dirent, type FSWatcher, lstatSync, readdirSync, statSync, watch } from 'node:fs';
import { join, relative } from 'node:path';
import type { ResolvedService } from '../config/types.js';
import { watchedFile } from '../config/watch.js';

/**
 * Watch mode of one service (`watch`): calls `onChange` with the first file
 * that changed once no other change came for `debounce` ms (a save of several
 * files restarts once). Node's recursive fs.watch (inotify on Linux, FSEvents
 * on macOS) on each root; a root that does not exist yet is skipped. The
 * timers do not keep the process alive. Returns the end of the watch.
 */
export function watchFiles(svc: ResolvedService, onChange: (file: string) => void): () => void {
  const options = svc.watch;
  if (options === null) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let first: string | null = null;
  const changed = (file: string) => {
    if (!watchedFile(options, svc.cwd, file)) return;
    first ??= file;
    clearTimeout(timer);
    timer = setTimeout(() => {
      const file = first as string;
      first = null;
      onChange(file);
    }, options.debounce);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const root of options.roots) {
    try {
      const folder = statSync(root).isDirectory();
      const w = watch(root, { recursive: folder, persistent: false }, (_event, name) => {
        if (typeof name === 'string') changed(folder ? join(root, name) : root);
      });
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // not there (yet): nothing to watch
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

/**
 * The first file `svc` watches that was modified after `since` (epoch ms),
 * or null: whether a task with `rerun: 'on-change'` must run again. A walk of
 * the watched folders (links are not followed; ignored paths are not
 * entered), which stops at the first such file.
 */
export function changedSince(svc: ResolvedService, since: number): string | null {
  const options = svc.watch;
  if (options === null) return null;
  const newer = (file: string): boolean => {
    try {
      const stat = lstatSync(file);
      return stat.isFile() && stat.mtimeMs > since && watchedFile(options, svc.cwd, file);
    } catch {
      return false; // gone meanwhile
    }
  };
  const walk = (folder: string): string | null => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return null;
    }
    for (const e of entries) {
      const path = join(folder, e.name);
      if (e.isDirectory()) {
        // An ignored folder (node_modules, .git, the state folder) is not entered.
        if (options.ignore.some((r) => r.test(`${relativeTo(svc.cwd, path)}/x`))) continue;
        const found = walk(path);
        if (found !== null) return found;
      } else if (e.isFile() && newer(path)) return path;
    }
    return null;
  };
  for (const root of options.roots) {
    const found = newer(root) ? root : walk(root);
    if (found !== null) return found;
  }
  return null;
}

/** `path` relative to `cwd`, with `/` separators. */
function relativeTo(cwd: string, path: string): string {
  return relative(cwd, path).split('\\').join('/');
}
