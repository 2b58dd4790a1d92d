import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { hasStackTrace, runCli } from '../helpers/cli.js';
import { BIN, ROOT } from '../helpers/paths.js';
import { runProcess } from '../helpers/run.js';
import { project } from '../helpers/tmp.js';

const VERSION = (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string })
  .version;

describe('CLI', () => {
  it('prints the version', async () => {
    const result = await runCli(['--version'], { cwd: ROOT });
    expect(result.code).to.equal(0);
    expect(result.stdout.trim()).to.equal(VERSION);
  });

  it('prints help with every command and the exit codes', async () => {
    const result = await runCli(['--help'], { cwd: ROOT });
    expect(result.code).to.equal(0);
    for (const command of ['up', 'down', 'status', 'run', 'restart', 'logs', 'validate']) {
      expect(result.stdout).to.match(new RegExp(`^  ${command} `, 'm'));
    }
    expect(result.stdout).to.include('Exit codes:');
  });

  it('prints per-command help', async () => {
    const result = await runCli(['up', '--help'], { cwd: ROOT });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('Usage: launchguard up [options] [service...]');
    expect(result.stdout).to.match(/-d, --detach/);
  });

  it('shows usage on stderr and exits 2 without a command', async () => {
    const result = await runCli([], { cwd: ROOT });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('Usage: launchguard <command>');
  });

  it('rejects an unknown command with a suggestion (exit 2)', async () => {
    const result = await runCli(['stauts'], { cwd: ROOT });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.equal(
      "error: unknown command 'stauts' (did you mean 'status'?)\nhint: run 'launchguard --help' for the commands\n",
    );
  });

  it('rejects an unknown option with a suggestion (exit 2)', async () => {
    const result = await runCli(['status', '--jsn'], { cwd: ROOT });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include("error: unknown option '--jsn' (did you mean '--json'?)");
    const short = await runCli(['validate', '-x'], { cwd: ROOT });
    expect(short.code).to.equal(2);
    expect(short.stderr).to.include("error: unknown option '-x'");
  });

  it('refuses a misspelt or malformed LAUNCHGUARD_* setting (exit 2) before doing anything', async () => {
    const dir = project({
      'launch.config.mjs': "export default { services: { only: { command: 'x' } } };\n",
    });
    const bad = [
      ['LAUNCHGUARD_BACKEND', 'portabel', /'portable'/],
      ['LAUNCHGUARD_CONFIG_TIMEOUT', '10 sec', /milliseconds/],
      ['LAUNCHGUARD_HEARTBEAT', '-5', /milliseconds/],
    ] as const;
    for (const [name, value, hint] of bad) {
      for (const args of [['status'], ['up', '-d'], ['down']]) {
        const result = await runCli(args, { cwd: dir, env: { [name]: value } });
        expect(result.code, `${name} ${args.join(' ')}`).to.equal(2);
        expect(result.stderr).to.include(`error: ${name}=${value}`);
        expect(result.stderr).to.match(hint);
        expect(hasStackTrace(result.stderr)).to.equal(false);
        expect(existsSync(join(dir, '.pids')), 'no state folder').to.equal(false);
      }
    }
    const empty = await runCli(['validate'], { cwd: dir, env: { LAUNCHGUARD_BACKEND: '' } });
    expect(empty.code, empty.stderr).to.equal(0);
    for (const args of [['--version'], ['--help'], ['up', '--help']]) {
      const help = await runCli(args, { cwd: dir, env: { LAUNCHGUARD_BACKEND: 'portabel' } });
      expect(help.code, args.join(' ')).to.equal(0);
    }
  });

  it('accepts global options before the command', async () => {
    const dir = project({
      'conf.ts': "export default { services: { only: { command: 'x' } } };\n",
    });
    const result = await runCli(['-c', 'conf.ts', 'validate'], { cwd: dir });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^ {2}0 +only +x/m);
  });

  it('validates the demo config and prints the plan', async () => {
    const result = await runCli(['validate'], { cwd: ROOT });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(
      /^ {2}0 +backend +node examples\/backend\.mjs +\. +8001 +http http:\/\/127\.0\.0\.1:8001\/health \(15 s\) +-$/m,
    );
    expect(result.stdout).to.match(
      /^ {2}1 +frontend +node examples\/frontend\.mjs +\. +3000 +tcp :3000 \(30 s\) +backend$/m,
    );
    expect(result.stdout).to.include('stop order  frontend → backend');
    expect(result.stdout).to.include('config is valid: 2 services, 2 levels');
  });

  it('lists a typo, a cycle and a duplicate port at once, exit 2, no stack trace', async () => {
    const dir = project({
      'launch.config.ts': `export default {
  services: {
    api: { comand: 'node api.js', port: 8001, dependsOn: ['web'] },
    web: { command: 'node web.js', port: 8001, dependsOn: ['api'] },
  },
};
`,
    });
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code).to.equal(2);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.include("services.api.comand: unknown key (did you mean 'command'?)");
    expect(result.stderr).to.include('services.api.dependsOn: dependency cycle: api -> web -> api');
    expect(result.stderr).to.include("services.web.port: port 8001 is also used by service 'api'");
    expect(hasStackTrace(result.stderr)).to.equal(false);
  });

  it('reports a syntax error with file and line and no stack trace; --debug adds the trace', async () => {
    const dir = project({ 'launch.config.ts': 'export default {\n  services: {{\n};\n' });
    const result = await runCli(['validate'], { cwd: dir });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/launch\.config\.ts:2:\d+: syntax error/);
    expect(hasStackTrace(result.stderr)).to.equal(false);
    const debug = await runCli(['validate', '--debug'], { cwd: dir });
    expect(debug.code).to.equal(2);
    expect(hasStackTrace(debug.stderr)).to.equal(true);
  });

  it('reports a missing config with exit 2 and a hint', async () => {
    const result = await runCli(['validate'], { cwd: project({}) });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/^error: no launch\.config\.ts .* or any parent folder\nhint: /);
  });

  it('a command that cannot be spawned is one clear error (exit 1), no stack trace', async () => {
    const dir = project({
      'launch.config.ts':
        "export default { services: { a: { command: 'no-such-program-xyz' } } };\n",
    });
    const result = await runCli(['up', '-d'], { cwd: dir });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/^error: a: /m);
    expect(result.stderr).to.include('no-such-program-xyz');
    expect(hasStackTrace(result.stderr)).to.equal(false);
  });

  describe('the bundle and its code cache', () => {
    /** A preload that tells, at exit, how bin/launchguard.js compiled the bundle. */
    function reporter(): string {
      const dir = project({
        'report.mjs':
          "process.on('exit', () => process._rawDebug('code cache: ' + globalThis[Symbol.for('launchguard.codeCache')]));\n",
      });
      return join(dir, 'report.mjs');
    }

    it('starts from the code cache, and imports a TypeScript config through its host', async () => {
      // A relative import sends the config through jiti; the other through sucrase and a
      // native import: each is a dynamic import, which code from a cache cannot do itself.
      const dir = project({
        'launch.config.ts':
          "import { port } from './port.js';\nexport default { services: { a: { command: 'node -e 0', port } } };\n",
        'port.js': 'export const port = 4301;\n',
        'other.config.ts': "export default { services: { b: { command: 'node -e 0' } } };\n",
      });
      const env = { NODE_OPTIONS: `--import=${reporter()}` };
      const jiti = await runCli(['validate'], { cwd: dir, env });
      expect(jiti.stderr).to.include('code cache: accepted');
      expect(jiti.code, jiti.stderr).to.equal(0);
      expect(jiti.stdout).to.include('4301');
      const native = await runCli(['validate', '-c', 'other.config.ts'], { cwd: dir, env });
      expect(native.stderr).to.include('code cache: accepted');
      expect(native.code, native.stderr).to.equal(0);
    });

    it('runs, the cache rejected, under V8 flags of the user’s own', async () => {
      const dir = project({
        'launch.config.ts': "export default { services: { a: { command: 'node -e 0' } } };\n",
      });
      const result = await runProcess([process.execPath, '--no-opt', BIN, 'validate'], {
        cwd: dir,
        env: { NODE_OPTIONS: `--import=${reporter()}` },
      });
      expect(result.stderr).to.include('code cache: rejected');
      expect(result.code, result.stderr).to.equal(0);
    });
  });

  it('honours NO_COLOR and colours only when asked on a non-TTY', async () => {
    const plain = await runCli(['validate'], { cwd: ROOT });
    expect(plain.stdout).not.to.include('\u001b[');
    const forced = await runCli(['validate'], {
      cwd: ROOT,
      env: { NO_COLOR: '', FORCE_COLOR: '1' },
    });
    expect(forced.stdout).to.include('\u001b[1m');
  });
});
