#!/usr/bin/env node
// The launchguard CLI. The code lives in dist/ (built by `npm install` through
// the `prepare` script, or by `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/lib/cli/main.js', import.meta.url);
if (existsSync(entry)) {
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
