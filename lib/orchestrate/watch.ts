import { type FSWatcher, statSync, watch } from 'node:fs';
import { join } from 'node:path';
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
