#!/usr/bin/env node
// The launchguard CLI. The code lives in dist/ (built by `npm install` through
// the `prepare` script, or by `npm run build`): dist/cli is the CLI bundled
// into a few files, which starts about twice as fast as the module tree in
// dist/lib (used as a fallback, and by the library API).
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/cli/main.js', import.meta.url);
const modules = new URL('../dist/lib/cli/main.js', import.meta.url);
const entry = existsSync(bundle) ? bundle : existsSync(modules) ? modules : null;
if (entry !== null) {
  const { runCli } = await import(entry.href);
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  });
} else {
  process.stderr.write(
    'error: launchguard is not built (dist/ is missing)\nhint: run `npm install` or `npm run build` in the launchguard folder\n',
  );
  process.exitCode = 2;
}
