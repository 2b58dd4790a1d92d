import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './util.js';

/** The peer tools, pinned to versions that run on Node 20. */
const PEERS = {
  'wait-on': '9.5.1',
  'start-server-and-test': '2.1.5',
  pm2: '7.0.4',
  concurrently: '9.2.1',
} as const;

const DIR = join(ROOT, 'node_modules/.cache/launchguard-bench/peers');

/**
 * Installs the peers (once) into node_modules/.cache, outside the project's
 * dependencies, from the npm registry. Returns the folder.
 */
export function ensurePeers(): string {
  const stamp = join(DIR, `installed-${Object.values(PEERS).join('-')}`);
  if (existsSync(stamp)) return DIR;
  mkdirSync(DIR, { recursive: true });
  writeFileSync(join(DIR, 'package.json'), '{ "private": true }\n');
  const specs = Object.entries(PEERS).map(([name, version]) => `${name}@${version}`);
  process.stderr.write(`installing peers for the comparison: ${specs.join(' ')}\n`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', ...specs], {
    cwd: DIR,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  writeFileSync(stamp, '');
  return DIR;
}

/** The JS entry of a peer's CLI. */
export function peerBin(name: string): string {
  const bins: Record<string, string> = {
    'wait-on': 'wait-on/bin/wait-on',
    'start-server-and-test': 'start-server-and-test/src/bin/start.js',
    pm2: 'pm2/bin/pm2',
    concurrently: 'concurrently/dist/bin/concurrently.js',
  };
  return join(DIR, 'node_modules', bins[name] as string);
}
