/**
 * The host's `import()`, given to the CLI bundle by bin/launchguard.js as a
 * parameter of the function the bundle is wrapped in (see scripts/build.mjs).
 * Undefined in the module tree (dist/lib), where no wrapper declares it.
 */
declare const __launchguardImport: ((specifier: string) => Promise<unknown>) | undefined;

/**
 * `import()` of a module outside launchguard's own code: a user's config,
 * jiti, sucrase, get-port. The CLI bundle runs from V8's code cache, and in
 * Node 20 a script compiled from a code cache has no dynamic-import callback
 * (`import()` there throws "A dynamic import callback was not specified"), so
 * the bundle imports through its host, the bin script, an ES module. The
 * specifiers are bare package names and absolute URLs, which resolve the same
 * from bin/ as from dist/lib/ (one package, one node_modules).
 */
export const importModule: <T>(specifier: string) => Promise<T> =
  typeof __launchguardImport === 'function'
    ? (__launchguardImport as <T>(specifier: string) => Promise<T>)
    : (specifier) => import(specifier);
