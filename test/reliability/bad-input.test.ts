import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { makeStack, nodeFixture } from '../helpers/stack.js';
import { project } from '../helpers/tmp.js';
import { score } from './scorecard.js';

interface Case {
  readonly name: string;
  /** Makes the project; returns its folder. */
  readonly setup: () => Promise<string>;
  readonly args: readonly string[];
  /** The documented exit code. */
  readonly code: number;
  /** Text the output must contain (the clear line). */
  readonly says: RegExp;
}

const PID_CONTENTS: Record<string, string> = {
  empty: '',
  zero: '0',
  one: '1',
  'minus one': '-1',
  negative: '-4242',
  '12abc': '12abc',
  '12.5': '12.5',
  '0x1A': '0x1A',
  huge: '99999999999999999999',
  NUL: '12\u000034',
  'two lines': '123\n456\n',
  CRLF: '123\r\n',
  BOM: '\ufeff123',
};

async function withPidFile(make: (pidFile: string) => void): Promise<string> {
  const config = await makeStack({
    api: { command: nodeFixture('listen.mjs'), port: await freePort() },
  });
  mkdirSync(config.pidDir, { recursive: true });
  make(join(config.pidDir, 'api.pid'));
  return config.root;
}

function configCase(name: string, body: string, says: RegExp, file = 'launch.config.ts'): Case {
  return {
    name: `config: ${name}`,
    setup: async () => project({ [file]: body }),
    args: ['up', '-d'],
    code: 2,
    says,
  };
}

const CASES: Case[] = [
  ...Object.entries(PID_CONTENTS).map(
    ([name, text]): Case => ({
      name: `PID file: ${name}`,
      setup: () => withPidFile((f) => writeFileSync(f, text)),
      args: ['status'],
      code: 3,
      says: /corrupt .*api\.pid/,
    }),
  ),
  {
    name: 'PID file: a FIFO',
    setup: () => withPidFile((f) => execFileSync('mkfifo', [f])),
    args: ['status'],
    code: 3,
    says: /corrupt .*FIFO/,
  },
  {
    name: 'PID file: a folder',
    setup: () => withPidFile((f) => mkdirSync(f)),
    args: ['status'],
    code: 3,
    says: /corrupt/,
  },
  {
    name: 'PID file: a link to /dev/zero',
    setup: () => withPidFile((f) => symlinkSync('/dev/zero', f)),
    args: ['status'],
    code: 3,
    says: /corrupt/,
  },
  {
    name: 'PID file: 50 MB',
    setup: () => withPidFile((f) => writeFileSync(f, Buffer.alloc(50 * 1024 * 1024, 0x31))),
    args: ['status'],
    code: 3,
    says: /corrupt/,
  },
  configCase(
    'unknown key',
    "export default { services: { a: { command: 'x', comand: 'y' } } };",
    /unknown key/,
  ),
  configCase('missing command', 'export default { services: { a: {} } };', /command: missing/),
  configCase('empty command', "export default { services: { a: { command: '' } } };", /command/),
  configCase('port 0', "export default { services: { a: { command: 'x', port: 0 } } };", /port/),
  configCase(
    'port 65536',
    "export default { services: { a: { command: 'x', port: 65536 } } };",
    /port/,
  ),
  configCase(
    'port "abc"',
    "export default { services: { a: { command: 'x', port: 'abc' } } };",
    /port/,
  ),
  configCase(
    'duplicate ports',
    "export default { services: { a: { command: 'x', port: 5000 }, b: { command: 'y', port: 5000 } } };",
    /also used/,
  ),
  configCase(
    'unknown dependency',
    "export default { services: { a: { command: 'x', dependsOn: ['db'] } } };",
    /unknown service 'db'/,
  ),
  configCase(
    'cycle',
    "export default { services: { a: { command: 'x', dependsOn: ['b'] }, b: { command: 'y', dependsOn: ['a'] } } };",
    /cycle/,
  ),
  configCase(
    'negative timeout',
    "export default { services: { a: { command: 'x', readyTimeout: -1 } } };",
    /readyTimeout/,
  ),
  configCase(
    'TS syntax error',
    'export default { services: { a: { command: "x" } ;\n',
    /launch\.config\.ts:\d+/,
  ),
  {
    name: 'state folder is a file',
    setup: async () => {
      const dir = project({
        'launch.config.mjs': "export default { services: { a: { command: 'node -e 0' } } };\n",
      });
      writeFileSync(join(dir, '.pids'), 'not a folder');
      return dir;
    },
    args: ['up', '-d'],
    code: 1,
    says: /\.pids/,
  },
  {
    name: 'state folder cannot be created',
    setup: async () =>
      project({
        'launch.config.mjs':
          "export default { pidDir: '/proc/launchguard-nope', services: { a: { command: 'node -e 0' } } };\n",
      }),
    args: ['up', '-d'],
    code: 1,
    says: /launchguard-nope/,
  },
  {
    name: 'missing command',
    setup: async () =>
      project({
        'launch.config.mjs': "export default { services: { a: { command: 'no-such-cmd-lg' } } };\n",
      }),
    args: ['up', '-d'],
    code: 1,
    says: /no-such-cmd-lg/,
  },
  {
    name: 'missing cwd',
    setup: async () =>
      project({
        'launch.config.mjs':
          "export default { services: { a: { command: 'node -e 0', cwd: 'nowhere' } } };\n",
      }),
    args: ['up', '-d'],
    code: 1,
    says: /nowhere/,
  },
  {
    name: 'not executable',
    setup: async () => {
      const dir = project({
        'launch.config.mjs': "export default { services: { a: { command: './run.sh' } } };\n",
        'run.sh': '#!/bin/sh\nsleep 1\n',
      });
      chmodSync(join(dir, 'run.sh'), 0o644);
      return dir;
    },
    args: ['up', '-d'],
    code: 1,
    says: /run\.sh/,
  },
];

describe('reliability: the bad-input table', function () {
  this.timeout(300_000);
  let clear = 0;
  let traces = 0;
  let hangs = 0;

  for (const c of CASES) {
    it(c.name, async () => {
      const cwd = await c.setup();
      const result = await runCli(c.args, { cwd, timeout: 10_000 });
      const text = result.stdout + result.stderr;
      if (result.signal === 'SIGKILL') hangs++;
      if (hasStackTrace(text)) traces++;
      expect(result.code, text).to.equal(c.code);
      expect(text).to.match(c.says);
      expect(hasStackTrace(text)).to.equal(false);
      if (c.code !== 3) expect(result.stderr.match(/^error: /gm)).to.have.length(1);
      clear++;
    });
  }

  after(() => {
    score({
      scenario:
        'bad input: PID file contents and types, config errors, unusable state folders, unspawnable commands',
      runs: CASES.length,
      figure: `${clear}/${CASES.length} one clear message with the documented exit code; ${traces} stack traces; ${hangs} hangs`,
      target: 'all; 0; 0',
      pass: clear === CASES.length && traces === 0 && hangs === 0,
    });
  });
});
