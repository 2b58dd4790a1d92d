#!/usr/bin/env node
// Builds launchguard: `npm run build` (and `npm install`, through `prepare`).
//
// 1. tsc compiles lib/, test/ and bench/ to dist/ (ES modules, with .d.ts for the API).
// 2. esbuild bundles the CLI, dist/lib/cli/main.js, into one CommonJS script,
//    dist/cli/launchguard.cjs, with every module in it initialised only when first used
//    (each command is a dynamic import in main.ts, so `--version` or `status` run only their
//    own code).
// 3. bin/launchguard.js, run with LAUNCHGUARD_BUILD_CODE_CACHE=1, compiles that script and
//    writes V8's code cache of it, dist/cli/launchguard.cache (see loadBundle there). The
//    CLI then starts from the cache instead of parsing the bundle: on the 2-core
//    test machine `status` and `down` start 15-20 ms sooner than from the ES module chunks
//    that the bundle used to be (and those had saved ~15 ms over ~60 small modules). A
//    script, not a module: Node 20 can give a vm.Script a code cache, an ES module none.
//    bin/launchguard.js runs the bundle when it exists and falls back to dist/lib
//    otherwise; the library API (`import 'launchguard'`) always uses dist/lib.
//
// The bundle is CommonJS only in form: `import.meta.url` is defined as the script's own file
// URL, and its dynamic imports go through bin/launchguard.js (lib/import-module.ts), because
// an `import()` in code compiled from a cache throws in Node 20. The build fails on any other
// `import(` in the bundle.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const EXTERNAL = ['jiti', 'sucrase', 'get-port', 'cross-spawn'];

/** A file of an installed package (its package folder, found from its package.json). */
function packageFile(name, file) {
  return join(dirname(require.resolve(`${name}/package.json`)), file);
}

function run(script, args) {
  const result = spawnSync(process.execPath, [script, ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run(packageFile('typescript', 'bin/tsc'), ['-p', 'tsconfig.json']);
rmSync(join(root, 'dist/cli'), { recursive: true, force: true });
run(packageFile('esbuild-wasm', 'bin/esbuild'), [
  'dist/lib/cli/main.js',
  '--bundle',
  '--platform=node',
  '--format=cjs',
  '--target=node20',
  '--outfile=dist/cli/launchguard.cjs',
  '--log-level=warning',
  '--banner:js=const __importMetaUrl = require("node:url").pathToFileURL(__filename).href;',
  '--define:import.meta.url=__importMetaUrl',
  ...EXTERNAL.map((name) => `--external:${name}`),
]);
const bundled = readFileSync(join(root, 'dist/cli/launchguard.cjs'), 'utf8');
const imports = bundled.match(/\bimport\(/g)?.length ?? 0;
if (imports !== 1) {
  console.error(
    `build: the CLI bundle has ${imports - 1} dynamic import(s) besides lib/import-module.ts; use importModule() there`,
  );
  process.exit(1);
}
const caches = spawnSync(process.execPath, [join(root, 'bin/launchguard.js')], {
  cwd: root,
  stdio: 'inherit',
  // Made for a plain run: V8 flags from NODE_OPTIONS (a CI's --max-old-space-size) would
  // make V8 reject the cache wherever they are not set.
  env: { ...process.env, NODE_OPTIONS: '', LAUNCHGUARD_BUILD_CODE_CACHE: '1' },
});
if (caches.status !== 0) process.exit(caches.status ?? 1);
