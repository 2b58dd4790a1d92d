#!/usr/bin/env node
// The launchguard CLI. The code lives in dist/ (built by `npm install` through
// the `prepare` script, or by `npm run build`): dist/cli/launchguard.cjs is the
// CLI bundled into one script, run from V8's code cache (see loadBundle); the
// module tree in dist/lib is the fallback, and what the library API uses.
//
// CommonJS (bin/package.json says so): Node starts a CommonJS entry 3-4 ms
// sooner than an ES module, whose loader it must first load itself. Every
// command pays that, and `up -d` twice (the CLI and its keeper).
'use strict';
const { spawn } = require('node:child_process');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { setFlagsFromString } = require('node:v8');
const { Script } = require('node:vm');

const bundle = join(__dirname, '../dist/cli/launchguard.cjs');
const modules = join(__dirname, '../dist/lib/cli/main.js');
const hasBundle = existsSync(bundle);
const entry = hasBundle ? bundle : existsSync(modules) ? modules : null;

/** The code cache of the bundle, written by `npm run build` (see loadBundle). */
const codeCache = join(__dirname, '../dist/cli/launchguard.cache');

/**
 * Loads the CLI bundle, a CommonJS script, compiled from its code cache. Without
 * the cache, V8 parses the whole 380 kB bundle before it runs; with it, V8
 * deserializes what the build compiled. Measured on a 2-core VM: `status` and
 * `down` start 15-20 ms sooner than from the ES module chunks this replaced.
 *
 * V8 rejects a cache made under other V8 flags or another V8, and the script
 * then compiles as usual: slower, never wrong. So the CLI starts with no V8
 * flags of its own (see settleForSupervision). A user's V8 flags
 * (`node --max-old-space-size=...`, also through NODE_OPTIONS) make V8 reject
 * it; Node's own options (`--import`, `--cpu-prof`) do not.
 *
 * Dynamic imports go through this file (lib/import-module.ts): Node 20 gives
 * code compiled from a cache no dynamic-import callback of its own.
 *
 * With LAUNCHGUARD_BUILD_CODE_CACHE=1 (scripts/build.mjs) it writes the cache
 * instead and returns nothing: every function compiled eagerly (`--no-lazy` for
 * that compile only, so that the cache's flag hash is the plain one), which
 * measured 5 ms faster for `status` than a cache of the top level alone.
 */
function loadBundle() {
  const path = bundle;
  const building = process.env.LAUNCHGUARD_BUILD_CODE_CACHE === '1';
  let cachedData;
  if (!building) {
    try {
      cachedData = readFileSync(codeCache);
    } catch {
      // not built: compiled from source
    }
  }
  if (building) setFlagsFromString('--no-lazy');
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname, __launchguardImport) {${readFileSync(path, 'utf8')}\n})`,
    { filename: path, cachedData },
  );
  if (building) {
    setFlagsFromString('--lazy');
    writeFileSync(codeCache, script.createCachedData());
    return undefined;
  }
  // How the bundle was compiled, for a preload to read (test/integration/cli.test.ts does).
  globalThis[Symbol.for('launchguard.codeCache')] =
    cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted';
  const module = { exports: {} };
  script.runInThisContext()(
    module.exports,
    createRequire(path),
    module,
    path,
    dirname(path),
    (specifier) => import(specifier),
  );
  return module.exports;
}

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
 * A process that supervises (a foreground `up`, the keeper of `up -d`) runs
 * little JavaScript for a long time: waiting on its services' exits, copying
 * their output, a check now and then. It gives up V8's optimizing and baseline
 * compilers (whose code and output cost 3-4 MB of memory and CPU on background
 * threads for functions that are not hot enough to gain from them) and keeps its
 * young generation from growing (another 2-10 MB). Measured with 20 services on
 * a 2-core VM: foreground peak RSS 60 MB without, 54 MB with; keeper 61 MB
 * without, 51 MB with.
 *
 * They are set once the bundle is loaded, not on the command line: any V8 flag
 * given at start makes V8 reject both Node's own code cache (each built-in
 * module the CLI loads is then compiled: +10 ms) and the bundle's. The keeper
 * measured 11-17 ms sooner at its first service this way, at the same RSS.
 * Other commands are short and keep the defaults (measured: `status` of 50
 * services is 10-20 ms slower with them).
 */
function settleForSupervision() {
  setFlagsFromString('--no-opt');
  setFlagsFromString('--no-sparkplug');
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
  const child = spawn(process.execPath, [__filename, ...globals, 'keeper'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, LAUNCHGUARD_KEEPER: '1' },
    // Structured clone: the CLI sends the config it loaded, RegExps included.
    serialization: 'advanced',
  });
  // The keeper says hello once it can take the request; that may be before the CLI's code
  // listens (it is still loading): noted here for it.
  child.once('message', (message) => {
    if (message?.type === 'hello') child.helloSeen = true;
  });
  return child;
}

/**
 * The keeper `up -d` spawned says hello (it can take the request) before it
 * loads its code, and keeps what comes meanwhile in an inbox that
 * lib/session/keeper.ts (keeperRequest) empties: the CLI, which has its
 * config loaded by then, sends the request while the keeper loads the bundle
 * (one IPC round trip, 1.6 ms, off the path to the first spawn). Listening
 * before the hello is what makes this safe: the CLI sends only after it.
 */
function openKeeperInbox() {
  const inbox = { messages: [], disconnected: false, waiting: undefined };
  const wake = () => {
    const waiting = inbox.waiting;
    inbox.waiting = undefined;
    waiting?.();
  };
  inbox.onMessage = (message) => {
    inbox.messages.push(message);
    wake();
  };
  inbox.onDisconnect = () => {
    inbox.disconnected = true;
    wake();
  };
  process.on('message', inbox.onMessage);
  process.once('disconnect', inbox.onDisconnect);
  globalThis[Symbol.for('launchguard.keeperInbox')] = inbox;
  process.send({ type: 'hello' });
}

/** Runs the command, from the bundle or the module tree, and exits with its code. */
async function main() {
  if (command === 'keeper' && typeof process.send === 'function') openKeeperInbox();
  const keeper =
    (command === 'up' && detach) || command === 'restart' ? spawnKeeperEarly() : undefined;
  const { runCli } = hasBundle ? loadBundle() : await import(pathToFileURL(entry).href);
  // By a look at the words alone: a wrong guess costs only this tuning, never behaviour.
  if ((command === 'up' && !detach) || command === 'keeper') settleForSupervision();
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
}

if (process.env.LAUNCHGUARD_BUILD_CODE_CACHE === '1') {
  if (hasBundle) loadBundle();
} else if (entry !== null) {
  main();
} else {
  process.stderr.write(
    'error: launchguard is not built (dist/ is missing)\nhint: run `npm install` or `npm run build` in the launchguard folder\n',
  );
  process.exitCode = 2;
}
