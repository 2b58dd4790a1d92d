import { importModule } from '../import-module.js';
import type { Attempt } from './tcp.js';

/** The addresses to try for a loopback URL host: `localhost` and 127.0.0.1 also try ::1. */
export function loopbackHosts(hostname: string): string[] {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare === '127.0.0.1') return ['127.0.0.1', '::1'];
  return [bare];
}

async function getOnce(
  url: URL,
  host: string,
  timeout: number,
  signal?: AbortSignal,
): Promise<number | string> {
  // http and https are loaded only by the checks that use them: either costs every
  // command's start and 2.5 MB of a foreground launcher's memory otherwise.
  const send =
    url.protocol === 'https:'
      ? (await importModule<typeof import('node:https')>('node:https')).request
      : (await importModule<typeof import('node:http')>('node:http')).request;
  if (signal?.aborted) return `GET ${url.href} cut short`;
  return new Promise((resolve) => {
    // A hard deadline for the whole request: the socket's own timeout is an idle
    // timeout, which a server sending one byte every 50 ms never reaches.
    const cut = (why: string) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(`GET ${url.href} ${why}`);
    };
    const timer = setTimeout(() => cut(`did not answer within ${timeout} ms`), timeout);
    const onAbort = () => cut('cut short');
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (value: number | string) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const req = send({
      host,
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      agent: false,
      timeout,
      headers: { host: url.host, connection: 'close', 'user-agent': 'launchguard' },
      // A dev server's self-signed certificate is fine for a loopback probe.
      ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
    });
    req.once('response', (res) => {
      res.resume();
      settle(res.statusCode ?? 0);
      req.destroy();
    });
    req.once('timeout', () => cut('timed out'));
    req.once('error', (error: NodeJS.ErrnoException) =>
      settle(`GET ${url.href}: ${error.code ?? error.message}`),
    );
    req.end();
  });
}

/** True if `status` is accepted: a listed code, or any 2xx/3xx for `'ok'`. */
export function statusAccepted(status: number, accepted: readonly number[] | 'ok'): boolean {
  return accepted === 'ok' ? status >= 200 && status < 400 : accepted.includes(status);
}

/**
 * One HTTP GET (no redirects followed) against each loopback address of the
 * URL until one answers, all within `timeout` ms (a hard deadline, however
 * slowly the server trickles its answer), and cut short by `signal`.
 */
export async function httpAttempt(
  href: string,
  accepted: readonly number[] | 'ok',
  timeout: number,
  signal?: AbortSignal,
): Promise<Attempt & { port?: number }> {
  const url = new URL(href);
  const deadline = performance.now() + timeout;
  let last = `GET ${href}: no answer`;
  for (const host of loopbackHosts(url.hostname)) {
    const left = deadline - performance.now();
    if (left <= 0 || signal?.aborted) break;
    const got = await getOnce(url, host, left, signal);
    if (typeof got === 'string') {
      last = got;
      continue;
    }
    if (statusAccepted(got, accepted)) return { ok: true };
    return { ok: false, error: `GET ${href} answered ${got}` };
  }
  return { ok: false, error: last };
}
