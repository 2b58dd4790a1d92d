import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../helpers/paths.js';
import { project } from '../helpers/tmp.js';

/**
 * The architecture, written once: the layers of `lib/` from the bottom up,
 * and which layers each one may import (besides itself). The README's
 * "Architecture" section draws the same picture.
 *
 * - base: `lib/*.ts` (errors, exit, fault, format, package-root, phase)
 * - os: process and socket inspection, one implementation per backend
 * - config (with selection), state, process (with systemd detection), ports
 *   (with the pre-flight and reservations), probes: the engine's parts
 * - orchestrate: the lifecycle under locks (up, start, stop, release, down,
 *   supervise, events)
 * - query: read-only answers (status, wait, logs, reach): they change nothing
 * - session: one run's life (start, lease, supervise or run a command,
 *   release, the host's exit and interrupts), for every caller
 * - report: text and tables for the CLI; api: `launch()` and the package's exports;
 *   runners: the mocha and vitest fixtures (`launchguard/mocha`, `launchguard/vitest`);
 * - export: systemd units and Compose files from a stack
 * - cli: argv, signals, exit codes
 */
const ENGINE = ['base', 'os', 'config', 'state', 'process', 'ports', 'probes'];
const LAYERS: Readonly<Record<string, readonly string[]>> = {
  base: [],
  os: ['base'],
  config: ['base', 'os'], // who owns the config file (os/users)
  state: ['base', 'os'],
  process: ['base', 'os', 'config', 'state'],
  ports: ['base', 'os', 'config', 'state', 'process'],
  probes: ['base', 'os', 'config', 'state', 'process', 'ports'],
  orchestrate: ENGINE,
  query: ENGINE,
  session: [...ENGINE, 'orchestrate'],
  report: ['base', 'config', 'orchestrate', 'query'],
  export: ['base', 'os', 'config', 'state', 'process', 'ports'], // os/users: who may write the output folder
  api: ['base', 'config', 'orchestrate', 'query', 'session'],
  runners: ['base', 'config', 'api'],
  cli: ['base', 'config', 'orchestrate', 'query', 'session', 'report', 'api', 'export'],
};

/** Files of `os/` that other layers may import: the inspector boundary. */
const OS_PUBLIC = new Set([
  'os/inspector.ts',
  'os/identity.ts',
  'os/proc.ts',
  'os/users.ts',
  'os/systemd.ts',
]);

const LIB = join(ROOT, 'lib');

function layerOf(lib: string, file: string): string {
  const rel = relative(lib, file);
  if (!rel.includes('/')) return rel === 'api.ts' || rel === 'index.ts' ? 'api' : 'base';
  return rel.split('/')[0] as string;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** Relative imports of a file (static, dynamic and re-exports), as absolute .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/\bfrom\s+'(\.[^']+)'/g),
    ...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g),
  ].map((m) => m[1] as string);
  return specs.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'));
}

/** Every import in `lib` that breaks the layering, as `from → to` lines. */
function violations(lib: string): string[] {
  const wrong: string[] = [];
  for (const file of sources(lib)) {
    const from = layerOf(lib, file);
    if (!(from in LAYERS)) wrong.push(`${relative(lib, file)}: unknown layer '${from}'`);
    for (const target of importsOf(file)) {
      const to = layerOf(lib, target);
      const rel = relative(lib, target);
      if (to !== from && !LAYERS[from]?.includes(to))
        wrong.push(`${relative(lib, file)} (${from}) → ${rel} (${to})`);
      else if (to === 'os' && from !== 'os' && !OS_PUBLIC.has(rel))
        wrong.push(`${relative(lib, file)} → ${rel} (past the inspector)`);
    }
  }
  return wrong;
}

describe('architecture: each layer imports only the layers below it', () => {
  it('lib/ has no import against the grain, and reaches os/ only through the inspector', () => {
    expect(violations(LIB)).to.deep.equal([]);
  });

  it('reports an upward import, an import past the inspector and an unknown folder', () => {
    const lib = project({
      'state/record.ts': "import { upStack } from '../orchestrate/up.js';\n",
      'orchestrate/up.ts': "import { lookupLinux } from '../os/proc-linux.js';\n",
      'os/proc-linux.ts': "import { errnoCode } from '../errors.js';\n",
      'errors.ts': '',
      'misc/x.ts': '',
    });
    expect(violations(lib)).to.have.members([
      'state/record.ts (state) → orchestrate/up.ts (orchestrate)',
      'orchestrate/up.ts → os/proc-linux.ts (past the inspector)',
      "misc/x.ts: unknown layer 'misc'",
    ]);
  });
});
