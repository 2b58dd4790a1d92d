#!/usr/bin/env node
// The launchguard CLI. The code lives in dist/ (built by `npm install` through
// the `prepare` script, or by `npm run build`): dist/cli is the CLI bundled
// into a few files, which starts faster than the module tree in dist/lib (used
// as a fallback, and by the library API).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli/main.js', import.meta.url);
const modules = new URL('../dist/lib/cli/main.js', import.meta.url);
const entry = existsSync(bundle) ? bundle : existsSync(modules) ? modules : null;

/**
 * Exits with `code` once stdout and stderr are flushed, whatever a config left
 * open (a timer, a database client): a command ends when its work ends.
 */
function exitWhenFlushed(code) {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.destroyed || !stream.writable) done();
    else stream.write('', done);
  }
  setTimeout(() => process.exit(code), 2000).unref(); // a reader that never drains
}

if (entry !== null) {
  const { runCli } = await import(entry.href);
  const code = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  });
  exitWhenFlushed(code);
} else {
  process.stderr.write(
    'error: launchguard is not built (dist/ is missing)\nhint: run `npm install` or `npm run build` in the launchguard folder\n',
  );
  process.exitCode = 2;
}
