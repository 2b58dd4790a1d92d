#!/usr/bin/env node
// The launchguard CLI. The code lives in dist/ (built by `npm install` through
// the `prepare` script, or by `npm run build`): dist/cli is the CLI bundled
// into a few files, which starts faster than the module tree in dist/lib (used
// as a fallback, and by the library API).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

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

/**
 * A foreground launcher (`up` without `-d`) runs little JavaScript for a long time: waiting on its
 * services' exits and copying their output. It gives up V8's optimizing
 * compiler (whose code and output cost 3-4 MB of memory and CPU on background
 * threads for functions that are not hot enough to gain from it) and keeps
 * its young generation from growing (another 2 MB). Measured with 20 services
 * on a 2-core VM: peak RSS 60 MB before, 54 MB after, the same start times.
 * Both flags take effect for code compiled and heaps grown after the call,
 * so this runs before the CLI's code is loaded. Other commands are short and
 * keep the defaults (measured: `status` of 50 services is 10-20 ms slower with them).
 */
function settleForSupervision() {
  setFlagsFromString('--no-opt');
  setFlagsFromString('--semi-space-growth-factor=1');
}

const args = process.argv.slice(2);
/** The command word: the first word that is not an option or the value of -c/--config. */
const command = args.find(
  (a, i) => !a.startsWith('-') && !/^(-c|--config)$/.test(args[i - 1] ?? ''),
);
const detach = args.some((a) => /^-(d|-detach)$/.test(a));

/**
 * `up -d` and `restart` are done by the stack's keeper (see
 * lib/session/keeper.ts), which stays to keep the services. It is spawned
 * here, before this CLI loads its own code, so that the keeper's start (a
 * Node start and the bundle) runs beside this one's instead of after it.
 * The CLI hands it the request once it has parsed the command line; if the
 * CLI then finds nothing to ask (a usage error), the keeper ends. Where a
 * keeper cannot run (Windows), none is spawned.
 */
function spawnKeeperEarly() {
  if (process.platform === 'win32' || entry === null) return undefined;
  const globals = [];
  for (let i = 0; i < args.length; i++)
    if (/^(-c|--config)$/.test(args[i])) globals.push(args[i], args[i + 1] ?? '');
    else if (args[i].startsWith('--config=')) globals.push(args[i]);
  const child = spawn(
    process.execPath,
    [
      // Little JavaScript for a long time: no optimizing or baseline compiler, a small young
      // generation (20 services: 61 MB RSS without these flags, 51 MB with them).
      '--no-opt',
      '--no-sparkplug',
      '--max-semi-space-size=1',
      fileURLToPath(import.meta.url),
      ...globals,
      'keeper',
    ],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, LAUNCHGUARD_KEEPER: '1' },
      // Structured clone: the CLI sends the config it loaded, RegExps included.
      serialization: 'advanced',
    },
  );
  // The keeper says hello once it can take the request; that may be before the CLI's code
  // listens (it is still loading): noted here for it.
  child.once('message', (message) => {
    if (message?.type === 'hello') child.helloSeen = true;
  });
  return child;
}

// Before the code loads (its compilation grows the heap): a foreground `up`, by a
// look at the words alone. A wrong guess costs only this tuning, never behaviour.
if (command === 'up' && !detach) settleForSupervision();
const keeper =
  (command === 'up' && detach) || command === 'restart' ? spawnKeeperEarly() : undefined;
if (entry !== null) {
  const { runCli } = await import(entry.href);
  const code = await runCli(args, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    ...(keeper === undefined ? {} : { keeper }),
  });
  // A keeper spawned for nothing (the command failed before it asked): it ends itself.
  if (keeper?.connected) keeper.disconnect();
  exitWhenFlushed(code);
} else {
  process.stderr.write(
    'error: launchguard is not built (dist/ is missing)\nhint: run `npm install` or `npm run build` in the launchguard folder\n',
  );
  process.exitCode = 2;
}
