import { fileURLToPath } from 'node:url';

/** The project root (tests run from dist/test/...). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The CLI entry point, as users run it. */
export const BIN = fileURLToPath(new URL('../../../bin/launchguard.js', import.meta.url));
/** A fixture file under test/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
}
