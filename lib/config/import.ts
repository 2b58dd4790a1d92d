import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errnoCode } from '../errors.js';
import { importModule } from '../import-module.js';
import { packageRoot } from '../package-root.js';
import { trustedPath } from './trust.js';

/**
 * Loading a config module: one loader, one evaluation, of the bytes that
 * were checked (`trusted-file.ts`); the config's path is never opened again.
 *
 * - An ES module config (TypeScript with its types stripped by sucrase, which
 *   keeps line numbers; `import 'launchguard'` pointed at this package;
 *   `import.meta.url` pinned to the config's own URL) is written once, named
 *   by its hash, into `node_modules/.cache/launchguard/` beside the config
 *   (see {@link cacheDir}), and imported natively from there: a warm `status`
 *   or `validate` pays for a hash and an import, not for loading a compiler
 *   (~5 ms instead of ~65 ms with jiti). Without such a folder it is imported
 *   from a `data:` URL.
 * - Everything else (relative imports, which would break from the cache
 *   folder; CommonJS; `import.meta` beyond `url`, `dirname`, `filename`) is
 *   evaluated by jiti, from the same bytes.
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
/** A `.js` file that reads as an ES module (else it is CommonJS, for jiti). */
const ESM_SYNTAX = /^\s*(?:import\s|import\(|export\s)/m;

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

/** The config's source as an ES module to import natively, or undefined if it needs jiti. */
async function nativeSource(file: string, source: string): Promise<string | undefined> {
  if (RELATIVE_IMPORT.test(source) || OTHER_META.test(source)) return undefined;
  const ext = extname(file);
  let code = source;
  if (ext === '.ts' || ext === '.mts') {
    const { transform } = await importModule<typeof import('sucrase')>('sucrase');
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
  } else if (ext !== '.mjs' && !(ext === '.js' && ESM_SYNTAX.test(source))) {
    return undefined; // CommonJS, or an extension Node would not load as ESM
  }
  const url = JSON.stringify(pathToFileURL(file).href);
  return code
    .replace(SELF_IMPORT, (_m, head: string, quote: string) => `${head}${quote}${SELF}${quote}`)
    .replace(/\bimport\.meta\.url\b/g, url)
    .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(file))
    .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(file)));
}

/**
 * Where to import `code` (the config's own bytes, prepared) from: a file named
 * by its hash in the private cache folder (written on a miss), or, without
 * one, a `data:` URL. Either way the path of the config is never opened again.
 */
function moduleUrl(file: string, code: string, dir: string | undefined): string {
  if (dir === undefined)
    return `data:text/javascript;base64,${Buffer.from(code).toString('base64')}`;
  const key = createHash('sha256')
    .update(`${VERSION_SALT}\0${SELF}\0${file}\0${code}`)
    .digest('hex');
  const cached = join(dir, `${key.slice(0, 24)}.mjs`);
  if (!(existsSync(cached) && trustedPath(cached, true))) {
    const temp = `${cached}.${process.pid}.tmp`;
    writeFileSync(temp, code, { mode: 0o600 });
    renameSync(temp, cached); // atomic: a concurrent reader sees the old state or the whole file
  }
  return pathToFileURL(cached).href;
}

/** Evaluates `source` as the module at `file`, through jiti (relative imports, CommonJS). */
async function evalWithJiti(
  file: string,
  source: string,
  dir: string | undefined,
): Promise<unknown> {
  const { createJiti } = await importModule<typeof import('jiti')>('jiti');
  const jiti = createJiti(import.meta.url, {
    fsCache: dir === undefined ? false : join(dir, 'jiti'),
    moduleCache: false,
    interopDefault: true,
    alias: { launchguard: fileURLToPath(SELF) },
  });
  // forceTranspile: jiti would otherwise import an .mjs file natively, by its path.
  const mod = (await jiti.evalModule(source, {
    filename: file,
    ext: extname(file),
    async: true,
    forceTranspile: true,
  })) as { default?: unknown } | undefined;
  return mod !== null && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
}

/** Errors thrown while a module is resolved, linked or parsed: nothing of it has run. */
const BEFORE_EVALUATION = new Set([
  'ERR_MODULE_NOT_FOUND',
  'ERR_UNSUPPORTED_DIR_IMPORT',
  'ERR_UNSUPPORTED_RESOLVE_REQUEST', // a bare import from a data: URL: jiti resolves it
]);

/** True if `error` came before the module at `url` began to run (no frame of it in the stack). */
function failedBeforeEvaluation(error: unknown, url: string): boolean {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const path = url.startsWith('file:') ? fileURLToPath(url) : url;
  const ran = stack.includes(`${url}:`) || stack.includes(`(${path}:`);
  if (ran) return false;
  return BEFORE_EVALUATION.has(errnoCode(error) ?? '') || error instanceof SyntaxError;
}

/** The error with every mention of the module at `url` replaced by the config file. */
function pointAtConfig(error: unknown, url: string, file: string): unknown {
  if (!(error instanceof Error) || error.stack === undefined) return error;
  const stack = error.stack.replaceAll(url, pathToFileURL(file).href);
  error.stack = url.startsWith('file:') ? stack.replaceAll(fileURLToPath(url), file) : stack;
  return error;
}

/**
 * Evaluates a config's `source` (the bytes read from `file` after its checks)
 * and returns its default export, evaluating it once. Errors before
 * evaluation are those of jiti (with file and line for syntax errors); errors
 * the config throws are its own, pointing at the config file.
 */
export async function importConfigModule(file: string, source: string): Promise<unknown> {
  let dir: string | undefined | null = null; // looked up when something is to be cached
  const cache = () => {
    if (dir === null) dir = cacheDir(file);
    return dir;
  };
  const code = await nativeSource(file, source);
  if (code === undefined) return evalWithJiti(file, source, cache());
  const url = moduleUrl(file, code, cache());
  try {
    const mod = await importModule<{ default?: unknown }>(url);
    return mod.default;
  } catch (error) {
    if (!failedBeforeEvaluation(error, url)) throw pointAtConfig(error, url, file);
    return evalWithJiti(file, source, cache()); // nothing ran: jiti gives the precise error
  }
}
