/**
 * A mocha global fixture: `mocha --require launchguard/mocha` (or
 * `"require": ["launchguard/mocha"]` in `.mocharc`) starts the stack of the
 * nearest `launch.config.*` before all tests and gives it back after them.
 * Tests find `<NAME>_PORT` of every service in `process.env`, and
 * `<NAME>_URL` of those with an http check; a variable already set is kept. `LAUNCHGUARD_SERVICES=api,db` starts only those (and their
 * dependencies).
 * @packageDocumentation
 */
import type { StackHandle } from '../api.js';
import { exportEnv, startForTests } from './fixture.js';

let stack: StackHandle | undefined;

/** Starts the stack and exports its ports and URLs into `process.env`. */
export async function mochaGlobalSetup(): Promise<void> {
  const started = await startForTests();
  stack = started.stack;
  exportEnv(started.info.env);
}

/** Gives the stack back: what no other user holds is stopped. */
export async function mochaGlobalTeardown(): Promise<void> {
  await stack?.stop();
  stack = undefined;
}
