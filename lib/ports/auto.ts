import { importModule } from '../import-module.js';

/**
 * Picks a free TCP port for `port: 'auto'` (get-port: free on every local
 * address, not handed out twice by this process for a while). It is a hint,
 * not a reservation: another process may bind it before the service does, so
 * the caller retries with a new pick when the service fails with EADDRINUSE.
 */
export async function pickPort(exclude: Iterable<number> = []): Promise<number> {
  const { default: getPort } = await importModule<typeof import('get-port')>('get-port'); // only when needed
  return getPort({ exclude });
}
