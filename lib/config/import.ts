import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageRoot } from '../package-root.js';

/**
 * Loading a config module, fast.
 *
 * Plain JavaScript configs are imported natively. A TypeScript config is
 * compiled once (types stripped by sucrase, imports kept as ESM) into
 * `node_modules/.cache/launchguard/<hash>.mjs` beside the config, and that file
 * is imported natively from then on: a warm `status` or `validate` pays for a
 * hash and an import, not for loading a compiler (~5 ms instead of ~65 ms).
 *
 * Anything the fast path cannot take (relative imports, which would break
 * from the cache folder; no node_modules folder; any error) goes through jiti,
 * which handles every case and reports syntax errors with file and line.
 */

/** Where `import ... from 'launchguard'` in a config resolves to: this very package. */
const SELF = pathToFileURL(join(packageRoot(), 'dist/lib/index.js')).href;
const VERSION_SALT = 'launchguard-config-cache-v1';
/** An import of a relative module or a require call: not for the cache folder. */
const RELATIVE_IMPORT = /(?:from\s*|import\s*\(?\s*)['"]\.{1,2}\/|\brequire\s*\(/;
const SELF_IMPORT = /((?:from|import)\s*\(?\s*)(['"])launchguard\2/g;

function nearestNodeModules(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules');
    if (existsSync(candidate)) return candidate;
    if (dirname(d) === d) return undefined;
  }
}

/** The cached ESM file for a TypeScript config, compiling it on a miss; undefined if it cannot be cached. */
async function cachedModule(file: string): Promise<string | undefined> {
  const source = readFileSync(file, 'utf8');
  if (RELATIVE_IMPORT.test(source)) return undefined;
  const modules = nearestNodeModules(dirname(file));
  if (modules === undefined) return undefined;
  const key = createHash('sha256')
    .update(`${VERSION_SALT}\0${SELF}\0${file}\0${source}`)
    .digest('hex');
  const cached = join(modules, '.cache', 'launchguard', `${key.slice(0, 24)}.mjs`);
  if (existsSync(cached)) return cached;
  const { transform } = await import('sucrase');
  const { code } = transform(source, {
    transforms: ['typescript'],
    filePath: file,
    disableESTransforms: true,
    keepUnusedImports: false,
  });
  const out = code.replace(
    SELF_IMPORT,
    (_m, head: string, quote: string) => `${head}${quote}${SELF}${quote}`,
  );
  mkdirSync(dirname(cached), { recursive: true });
  const temp = `${cached}.${process.pid}.tmp`;
  writeFileSync(temp, out);
  renameSync(temp, cached); // atomic: a concurrent reader sees the old state or the whole file
  return cached;
}

async function importWithJiti(file: string): Promise<unknown> {
  const { createJiti } = await import('jiti');
  const jiti = createJiti(import.meta.url, {
    fsCache: true,
    moduleCache: false,
    interopDefault: true,
    alias: { launchguard: fileURLToPath(SELF) },
  });
  return jiti.import(file, { default: true });
}

async function importNative(path: string): Promise<unknown> {
  const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  return mod.default;
}

/**
 * Imports a config file and returns its default export. Errors are those of
 * jiti (with file and line for syntax errors), whatever path failed first.
 */
export async function importConfigModule(file: string): Promise<unknown> {
  const ext = extname(file);
  try {
    if (ext === '.js' || ext === '.mjs') {
      const source = readFileSync(file, 'utf8');
      if (!source.includes('launchguard')) return await importNative(file);
    } else {
      const cached = await cachedModule(file);
      if (cached !== undefined) return await importNative(cached);
    }
  } catch {
    // Fall through: jiti gives the precise error, or succeeds where the fast path could not.
  }
  return importWithJiti(file);
}
