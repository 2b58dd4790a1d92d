import { isAbsolute, relative, resolve as resolvePath } from 'node:path';
import type { ResolvedWatch, WatchOptions } from './types.js';

/** Quiet time after a change before the restart, ms. */
const DEBOUNCE_MS = 200;
/** Never worth a restart: dependencies, version control. The state folder is added per stack. */
const ALWAYS_IGNORED = ['node_modules/**', '**/node_modules/**', '.git/**'];

/** A glob (`**`, `*`, `?`; the rest literal) as a RegExp over `/`-separated relative paths. */
function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob.charAt(i);
    if (ch === '*' && glob.charAt(i + 1) === '*') {
      const slash = glob.charAt(i + 2) === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

const GLOB = /[*?]/;

/** A path or glob: what it matches (the path and anything below it), and the folder to watch. */
function entry(cwd: string, path: string): { pattern: RegExp; root: string } {
  const clean = path.replace(/\/+$/, '');
  if (!GLOB.test(clean)) return { pattern: globToRegExp(clean), root: resolvePath(cwd, clean) };
  const parts = clean.split('/');
  const firstGlob = parts.findIndex((p) => GLOB.test(p));
  return {
    pattern: globToRegExp(clean),
    root: resolvePath(cwd, parts.slice(0, firstGlob).join('/')),
  };
}

/**
 * Resolves a service's `watch`: the folders to watch and the relative paths
 * (from `cwd`) that count or never count. `pidDir` is ignored too.
 */
export function resolveWatch(
  value: readonly string[] | WatchOptions | undefined,
  cwd: string,
  pidDir: string,
): ResolvedWatch | null {
  if (value === undefined) return null;
  const options: WatchOptions = Array.isArray(value)
    ? { paths: value as readonly string[] }
    : (value as WatchOptions);
  // `.` is everything under cwd; `./src` is `src`.
  const paths = options.paths.map((p) => (p === '.' || p === './' ? '**' : p.replace(/^\.\//, '')));
  const entries = paths.map((p) => entry(cwd, p));
  const state = relative(cwd, pidDir);
  const ignored = [...ALWAYS_IGNORED, ...(options.ignore ?? [])];
  if (state !== '' && !state.startsWith('..') && !isAbsolute(state))
    ignored.push(`${state}/**`, state);
  return {
    roots: [...new Set(entries.map((e) => e.root))],
    // A plain path counts for itself and everything below it.
    patterns: entries.flatMap((e, i) => {
      const raw = paths[i] ?? '';
      return GLOB.test(raw)
        ? [e.pattern]
        : [e.pattern, globToRegExp(`${raw.replace(/\/+$/, '')}/**`)];
    }),
    ignore: ignored.map(globToRegExp),
    debounce: options.debounce ?? DEBOUNCE_MS,
  };
}

/** True if `file` (absolute) is one `watch` counts. */
export function watchedFile(watch: ResolvedWatch, cwd: string, file: string): boolean {
  const rel = relative(cwd, file).split('\\').join('/');
  if (watch.ignore.some((r) => r.test(rel))) return false;
  return watch.patterns.some((r) => r.test(rel));
}
