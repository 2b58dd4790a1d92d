import { createHash } from 'node:crypto';
import { randomHex } from './random.js';

/** The environment variable every process of a service instance carries. */
export const MARKER_ENV = 'LAUNCHGUARD_INSTANCE';

/**
 * The id of a stack: its name plus a short hash of its config file path, so two
 * checkouts with the same folder name never mistake each other's processes.
 */
export function stackId(name: string, configFile: string): string {
  const key = `${name}\0${configFile}`;
  let id = stackIds.get(key);
  if (id === undefined) {
    id = `${name}-${createHash('sha256').update(configFile).digest('hex').slice(0, 8)}`;
    stackIds.set(key, id);
  }
  return id;
}

/** Stack ids already hashed: every stop and start asks (500 services: 1,000 hashes, 12 ms). */
const stackIds = new Map<string, string>();

/** The stack id of a resolved config ({@link stackId} of its name and file). */
export function stackOf(config: { readonly name: string; readonly file: string }): string {
  return stackId(config.name, config.file);
}

/** The stack's name in a stack id ({@link stackId}): `my-app-dbfd92ab` → `my-app`. */
export function stackNameOf(id: string): string {
  return id.replace(/-[0-9a-f]{8}$/, '');
}

/** A fresh marker value for one start of a service: `<stack id>/<service>/<nonce>`. */
export function newInstanceMarker(stack: string, service: string): string {
  return `${stack}/${service}/${randomHex(6)}`;
}

/** The parts of a marker, or null if it is not one. */
export function parseMarker(
  value: string,
): { stack: string; service: string; nonce: string } | null {
  const m = /^([^/]+)\/([^/]+)\/([0-9a-f]+)$/.exec(value);
  return m ? { stack: m[1] ?? '', service: m[2] ?? '', nonce: m[3] ?? '' } : null;
}
