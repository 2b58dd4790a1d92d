import { randomFillSync } from 'node:crypto';

/** Random bytes from the system's CSPRNG, fetched 4 kB at a time. */
const pool = Buffer.alloc(4096);
let used = pool.length;

/**
 * `bytes` random bytes as hex: the nonces of locks, leases, temp files and
 * instance markers. Drawn from a pool that one call to the CSPRNG fills: a
 * call per nonce cost 20-40 us (an OpenSSL call each), 25 ms of a `down` of
 * 500 services, which takes a lock and writes temp files for each.
 */
export function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex;
}
