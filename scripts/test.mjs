#!/usr/bin/env node
// The test run behind `npm test` (after the build and the lint):
//
// 1. mocha with .mocharc.json: the whole suite (unit, integration, the reliability subset) on
//    this platform's own process backend (/proc on Linux);
// 2. on Linux, the integration tier again with LAUNCHGUARD_BACKEND=portable: the ps/lsof code
//    that macOS runs, so every CI run proves it. (On macOS the first pass is that code already.)
//
// The two passes run at the same time (they use their own temp folders and free ports); the
// second pass's output is printed after the first. Exit code: non-zero if either failed.
// `npm run test:portable` runs the second pass alone.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mocha = join(
  dirname(createRequire(import.meta.url).resolve('mocha/package.json')),
  'bin',
  'mocha.js',
);

/** The portable pass: mocha on the integration tier with the ps/lsof backend. */
const PORTABLE_ARGS = [
  '--no-config',
  '--require',
  'dist/test/hooks.js',
  '--timeout',
  '20000',
  'dist/test/integration/**/*.test.js',
];

function pass(args, env, buffered) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mocha, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: buffered ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    let output = '';
    if (buffered) {
      child.stdout.on('data', (d) => {
        output += d;
      });
      child.stderr.on('data', (d) => {
        output += d;
      });
    }
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

const portableOnly = process.argv.includes('--portable');
const second =
  process.platform === 'linux'
    ? pass(PORTABLE_ARGS, { LAUNCHGUARD_BACKEND: 'portable' }, !portableOnly)
    : null;
const first = portableOnly ? { code: 0 } : await pass([], {}, false);
let code = first.code;
if (second !== null) {
  const portable = await second;
  if (!portableOnly) {
    process.stdout.write(
      '\n── the integration tier again, on the portable backend (ps, lsof) ──\n',
    );
    process.stdout.write(portable.output);
  }
  code ||= portable.code;
}
process.exitCode = code;
