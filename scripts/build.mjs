#!/usr/bin/env node
// Builds launchguard: `npm run build` (and `npm install`, through `prepare`).
//
// 1. tsc compiles lib/, test/ and bench/ to dist/ (ES modules, with .d.ts for the API).
// 2. esbuild bundles the CLI, dist/lib/cli/main.js, into dist/cli/: one entry file plus a
//    chunk per command (each command is a dynamic import in main.ts, so `--version` or
//    `status` parse only their own code). Node loads ~60 small modules noticeably slower
//    than a few chunks: `npm run bench` shows the saving in its "CLI start" row (about
//    15 ms on `status` and `validate` on the 2-core test machine). bin/launchguard.js runs
//    the bundle when it exists and falls back to dist/lib otherwise; the library API
//    (`import 'launchguard'`) always uses dist/lib.
//
// Left out of the bundle (loaded from node_modules at run time, only when needed):
// - jiti and sucrase: TypeScript config loading; large, and jiti finds its own files at run
//   time (bundling them breaks that). Only a cold TypeScript config loads them.
// - get-port: only for `port: 'auto'`, through a dynamic import.
// - cross-spawn: only on Windows, through createRequire (not visible to a bundler).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
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
  '--splitting',
  '--platform=node',
  '--format=esm',
  '--target=node20',
  '--outdir=dist/cli',
  '--log-level=warning',
  ...EXTERNAL.map((name) => `--external:${name}`),
]);
