/**
 * A vitest `globalSetup` module: `test: { globalSetup: ['launchguard/vitest'] }`
 * starts the stack of the nearest `launch.config.*` before the run and gives
 * it back after it. Tests find `<NAME>_PORT` (and `<NAME>_URL` for services
 * with an http check; a variable already set is kept) in `process.env`, and the same as `inject('launchguard')`
 * (`{ ports, urls, env }`). `LAUNCHGUARD_SERVICES=api,db` starts only those.
 *
 * For typed `inject`, add to a `.d.ts` of the project:
 * ```ts
 * import type { StackInfo } from 'launchguard/vitest';
 * declare module 'vitest' { export interface ProvidedContext { launchguard: StackInfo } }
 * ```
 * @packageDocumentation
 */
import { exportEnv, type StackInfo, startForTests } from './fixture.js';

export type { StackInfo } from './fixture.js';

/** What vitest passes to a global setup (its `TestProject`), as far as this module uses it. */
interface SetupContext {
  provide(key: 'launchguard', value: StackInfo): void;
}

/** Starts the stack; returns the teardown that gives it back. */
export default async function setup(context?: SetupContext): Promise<() => Promise<void>> {
  const { stack, info } = await startForTests();
  exportEnv(info.env);
  context?.provide('launchguard', info);
  return async () => {
    await stack.stop();
  };
}
