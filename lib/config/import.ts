import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errnoCode } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { trustedPath } from './trust.js';

/**
 * Loading a config module: one loader, one evaluation.
 *
 * - A plain JavaScript config that does not import `launchguard` is imported
 *   natively.
 * - A TypeScript config is compiled once (types stripped by sucrase, which
 *   keeps line numbers; imports kept as ESM; `import.meta.url` pinned to the
 *   config's own URL) into `node_modules/.cache/launchguard/<hash>.mjs` beside
 *   the config (see {@link cacheDir}), and that file is imported natively from then on: a warm
 *   `status` or `validate` pays for a hash and an import, not for loading a
 *   compiler (~5 ms instead of ~65 ms with jiti).
 * - Everything else (relative imports, which would break from the cache
 *   folder; no node_modules folder; `import.meta` beyond `url`, `dirname`,
 *   `filename`) goes through jiti.
 *
 * The path is chosen before anything runs. A failure before evaluation (a
 * syntax error, a module that cannot be found) falls through to jiti, which
 * reports it with file and line; an error the config throws while it runs is
 * reported as it is, with its frames pointing at the config file: a config
 * with side effects never runs twice.
 */

/** Where `import ... from 'launchguard'` in a config resolves to: this very package. */
const SELF = pathToFileURL(join(packageRoot(), 'dist/lib/index.js')).href;
const VERSION_SALT = 'launchguard-config-cache-v2';
/** An import of a relative module or a require call: not for the cache folder. */
const RELATIVE_IMPORT = /(?:from\s*|import\s*\(?\s*)['"]\.{1,2}\/|\brequire\s*\(/;
const SELF_IMPORT = /((?:from|import)\s*\(?\s*)(['"])launchguard\2/g;
/** `import.meta` other than its url, dirname or filename: not pinned, so not cached. */
const OTHER_META = /\bimport\.meta(?!\.(?:url|dirname|filename)\b)/;

function nearestNodeModules(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules');
    if (existsSync(candidate)) return candidate;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * The folder for compiled configs (ours and jiti's): `.cache/launchguard` in
 * the nearest `node_modules` above the config, private (0700). A cached file
 * is code that will run, so the folder is used only if nobody but the user
 * (or root, or the sudo user) may write it or the folders it is in: a
 * `/tmp/node_modules` another user made is neither read nor written. Without
 * such a folder, nothing is cached (never the shared temp folder, where jiti
 * would cache by default). Undefined then.
 */
function cacheDir(file: string): string | undefined {
  const modules = nearestNodeModules(dirname(file));
  if (modules === undefined || !trustedPath(modules)) return undefined;
  const dot = join(modules, '.cache');
  const dir = join(dot, 'launchguard');
  try {
    mkdirSync(dot, { recursive: true });
    if (!trustedPath(dot)) return undefined;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!trustedPath(dir, true)) return undefined;
    chmodSync(dir, 0o700); // an older launchguard made it 0755
    return dir;
  } catch {
    return undefined; // read-only node_modules: no cache
  }
}

/** The cached ESM file for a TypeScript config, compiling it on a miss; undefined if it cannot be cached. */
async function cachedModule(file: string, dir: string | undefined): Promise<string | undefined> {
  const source = readFileSync(file, 'utf8');
  if (dir === undefined || RELATIVE_IMPORT.test(source) || OTHER_META.test(source))
    return undefined;
  const key = createHash('sha256')
    .update(`${VERSION_SALT}\0${SELF}\0${file}\0${source}`)
    .digest('hex');
  const cached = join(dir, `${key.slice(0, 24)}.mjs`);
  if (existsSync(cached) && trustedPath(cached, true)) return cached;
  const { transform } = await import('sucrase');
  let code: string;
  try {
    ({ code } = transform(source, {
      transforms: ['typescript'],
      filePath: file,
      disableESTransforms: true,
      keepUnusedImports: false,
    }));
  } catch {
    return undefined; // a syntax error: jiti reports it with file and line
  }
  const url = JSON.stringify(pathToFileURL(file).href);
  const out = code
    .replace(SELF_IMPORT, (_m, head: string, quote: string) => `${head}${quote}${SELF}${quote}`)
    .replace(/\bimport\.meta\.url\b/g, url)
    .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(file))
    .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(file)));
  const temp = `${cached}.${process.pid}.tmp`;
  writeFileSync(temp, out, { mode: 0o600 });
  renameSync(temp, cached); // atomic: a concurrent reader sees the old state or the whole file
  return cached;
}

async function importWithJiti(file: string, dir: string | undefined): Promise<unknown> {
  const { createJiti } = await import('jiti');
  const jiti = createJiti(import.meta.url, {
    fsCache: dir === undefined ? false : join(dir, 'jiti'),
    moduleCache: false,
    interopDefault: true,
    alias: { launchguard: fileURLToPath(SELF) },
  });
  return jiti.import(file, { default: true });
}

/** Errors thrown while a module is resolved, linked or parsed: nothing of it has run. */
const BEFORE_EVALUATION = new Set(['ERR_MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT']);

/** True if `error` came before `path` began to run (no frame of it in the stack). */
function failedBeforeEvaluation(error: unknown, path: string): boolean {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const ran = stack.includes(`${pathToFileURL(path).href}:`) || stack.includes(`(${path}:`);
  if (ran) return false;
  return BEFORE_EVALUATION.has(errnoCode(error) ?? '') || error instanceof SyntaxError;
}

/** The error with every mention of the cached file replaced by the config file. */
function pointAtConfig(error: unknown, cached: string, file: string): unknown {
  if (!(error instanceof Error) || error.stack === undefined) return error;
  error.stack = error.stack
    .replaceAll(pathToFileURL(cached).href, pathToFileURL(file).href)
    .replaceAll(cached, file);
  return error;
}

/**
 * Imports a config file and returns its default export, evaluating it once.
 * Errors before evaluation are those of jiti (with file and line for syntax
 * errors); errors the config throws are its own, pointing at the config file.
 */
export async function importConfigModule(file: string): Promise<unknown> {
  const ext = extname(file);
  let dir: string | undefined | null = null; // looked up when something is to be cached
  const cache = () => {
    if (dir === null) dir = cacheDir(file);
    return dir;
  };
  let path: string | undefined;
  if (ext === '.js' || ext === '.mjs') {
    if (!readFileSync(file, 'utf8').includes('launchguard')) path = file;
  } else {
    path = await cachedModule(file, cache());
  }
  if (path === undefined) return importWithJiti(file, cache());
  try {
    const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    return mod.default;
  } catch (error) {
    if (!failedBeforeEvaluation(error, path)) throw pointAtConfig(error, path, file);
    return importWithJiti(file, cache()); // nothing ran: jiti gives the precise error
  }
}
