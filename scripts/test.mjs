#!/usr/bin/env node
// The test run behind `npm test` (after the build and the lint):
//
// 1. mocha with .mocharc.json: the whole suite (unit, integration, the reliability subset) on
//    this platform's own process backend (/proc on Linux);
// 2. on Linux, the integration tier again with LAUNCHGUARD_BACKEND=portable: the ps/lsof code
//    that macOS runs, so every CI run proves it. (On macOS the first pass is that code already.)
//
// The two passes run at the same time (they use their own temp folders and free ports); the
// second pass's output is printed after the first, and the failures of a pass that failed are
// repeated at the very end, where a CI log is read. Exit code: non-zero if either failed.
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

/**
 * One mocha run. Its output is kept (for the failure summary at the end); a pass that is not
 * buffered also streams it as it comes.
 */
function pass(args, env, buffered) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mocha, ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (stream) => (d) => {
      output += d;
      if (!buffered) stream.write(d);
    };
    child.stdout.on('data', keep(process.stdout));
    child.stderr.on('data', keep(process.stderr));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

/**
 * What a failed pass said about its failures: mocha's "N failing" section, or the end of its
 * output when it died before one. CI logs are often read from the end, and the first pass's
 * failures would otherwise sit above the whole second pass.
 */
function failures(name, result) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes
  const text = result.output.replace(/\u001b\[[0-9;]*m/g, '');
  const at = text.search(/^ {2}\d+ failing$/m);
  const part = at >= 0 ? text.slice(at) : text.split('\n').slice(-40).join('\n');
  const capped = part.length > 20000 ? `${part.slice(0, 20000)}\n[... cut]` : part;
  return `\n── failures of ${name} (exit ${result.code}) ──\n${capped.trimEnd()}\n`;
}

const portableOnly = process.argv.includes('--portable');
const second =
  process.platform === 'linux'
    ? pass(PORTABLE_ARGS, { LAUNCHGUARD_BACKEND: 'portable' }, !portableOnly)
    : null;
const first = portableOnly ? null : await pass([], {}, false);
const results = [];
if (first !== null) results.push(['the first pass', first]);
if (second !== null) {
  const portable = await second;
  if (!portableOnly) {
    process.stdout.write(
      '\n── the integration tier again, on the portable backend (ps, lsof) ──\n',
    );
    process.stdout.write(portable.output);
  }
  results.push(['the portable pass', portable]);
}
const failed = results.filter(([, r]) => r.code !== 0);
// With both passes in one log, repeat what failed at its end.
if (failed.length > 0 && results.length > 1) {
  for (const [name, r] of failed) process.stdout.write(failures(name, r));
}
process.exitCode = failed.length > 0 ? failed[0][1].code : 0;
