import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { expect } from 'chai';
import { BIN, fixture } from '../helpers/paths.js';
import { freePort, listenersOn } from '../helpers/ports.js';
import { waitFor } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';
import { requireRoot, requireTool } from '../helpers/users.js';

/**
 * Exported units against a real systemd: `test/fixtures/systemd-ns.sh` boots
 * one as PID 1 in its own PID, mount, UTS and cgroup namespaces (root; the
 * network and /tmp are shared, so its services' ports answer here). Its units
 * are the hardened ones `export systemd` writes by default.
 */

const NS = fixture('systemd-ns.sh');

function ns(dir: string, ...command: string[]) {
  return spawnSync('bash', [NS, 'exec', dir, ...command], { encoding: 'utf8', timeout: 60_000 });
}

/** A shell line run inside the namespace; its output, failing the test on a non-zero exit. */
function sh(dir: string, line: string, ok = true): { code: number | null; out: string } {
  const r = ns(dir, 'sh', '-c', line);
  if (ok) expect(r.status, `${line}\n${r.stdout}${r.stderr}`).to.equal(0);
  return { code: r.status, out: r.stdout + r.stderr };
}

function answer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('export systemd against a real systemd (systemd-ns, root)', function () {
  this.timeout(120_000);
  let dir = '';
  let root = '';
  let ports: { api: number; web: number } = { api: 0, web: 0 };
  const lg = (...args: string[]) =>
    `cd '${root}' && '${process.execPath}' '${BIN}' ${args.join(' ')}`;

  before(async function () {
    // Units run launchguard with its default backend; records from the ps backend are
    // unverifiable to it by design (README: Limits). The first pass runs this on /proc.
    if (process.env.LAUNCHGUARD_BACKEND === 'portable') this.skip();
    requireRoot(this);
    requireTool(this, 'systemctl', ['--version']);
    dir = join(tempDir(), 'ns');
    mkdirSync(dir);
    root = join(tempDir(), 'proj');
    mkdirSync(root);
    ports = { api: await freePort(), web: await freePort() };
    const serve = (text: string) =>
      `require('http').createServer((q, r) => r.end('${text}')).listen(+process.env.PORT, '127.0.0.1')`;
    const services = {
      migrate: { command: ['node', '-e', "console.log('migrated')"] },
      api: {
        command: ['node', '-e', serve('api')],
        port: ports.api,
        ready: { http: '/' },
        dependsOn: { migrate: 'completed' },
      },
      logger: {
        command: [
          'node',
          '-e',
          "setTimeout(() => console.log('warmed up'), 300); setInterval(() => {}, 1000)",
        ],
        ready: { log: 'warmed up' },
      },
      web: { command: ['node', '-e', serve('web')], port: ports.web, dependsOn: ['api', 'logger'] },
    };
    writeFileSync(
      join(root, 'launch.config.mjs'),
      `export default ${JSON.stringify({ name: 'sdt', services })};\n`,
    );
    const exported = spawnSync(
      process.execPath,
      [BIN, 'export', 'systemd', '-o', join(root, 'units')],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    expect(exported.status, exported.stderr).to.equal(0);
    const boot = spawnSync('bash', [NS, 'start', dir], { encoding: 'utf8', timeout: 60_000 });
    expect(boot.status, boot.stdout + boot.stderr).to.equal(0);
    sh(
      dir,
      `cp '${root}'/units/*.service '${root}'/units/*.target /etc/systemd/system/ && systemctl daemon-reload`,
    );
  });

  after(() => {
    if (dir !== '') spawnSync('bash', [NS, 'stop', dir], { encoding: 'utf8', timeout: 60_000 });
  });

  it('the hardened units of a stack start and end active: a task, an http and a log check, a dependent', async () => {
    expect(readFileSync(join(root, 'units', 'sdt-logger.service'), 'utf8')).to.include(
      'ProtectSystem=strict',
    );
    sh(dir, 'systemctl start sdt.target');
    const states = sh(
      dir,
      'systemctl show -p Id -p ActiveState -p SubState sdt-migrate sdt-api sdt-logger sdt-web',
    ).out;
    expect(states).to.include('Id=sdt-migrate.service\nActiveState=active\nSubState=exited');
    for (const unit of ['api', 'logger', 'web'])
      expect(states).to.include(`Id=sdt-${unit}.service\nActiveState=active\nSubState=running`);
    expect(await answer(ports.api)).to.equal('api');
    expect(await answer(ports.web)).to.equal('web');
    expect(readFileSync(join(root, '.pids', 'logger.log'), 'utf8')).to.include('warmed up');
    sh(dir, 'systemctl stop sdt.target');
    await waitFor(
      () => listenersOn(ports.api).length === 0 && listenersOn(ports.web).length === 0,
      10_000,
      'the ports to close',
    );
  });

  it('coexists with launchguard: up keeps, status shows, down refuses, systemctl start takes over', () => {
    sh(dir, 'systemctl start sdt.target');
    const up = sh(dir, lg('up', '-d'));
    expect(up.out).to.match(/api: runs under systemd as sdt-api\.service .*kept/);
    const status = sh(dir, lg('status'), false);
    expect(status.out).to.match(/api\s+running \(systemd: sdt-api\.service\)/);
    const down = sh(dir, lg('down'), false);
    expect(down.code).to.equal(1);
    expect(down.out).to.include('systemctl stop sdt-api.service');
    sh(dir, 'systemctl stop sdt.target');
    // A manual start first; then the units take over (each stops launchguard's instance first)
    sh(dir, lg('up', '-d'));
    const logSize = statSync(join(root, '.pids', 'api.log')).size;
    sh(dir, 'systemctl start sdt.target');
    const states = sh(dir, 'systemctl show -p ActiveState sdt-api sdt-logger sdt-web').out;
    expect(states.match(/ActiveState=active/g)).to.have.length(3);
    const since = readFileSync(join(root, '.pids', 'api.log'), 'utf8').slice(logSize);
    expect(since, 'no second instance').not.to.include('EADDRINUSE');
    const after = sh(dir, lg('status'), false).out;
    expect(after).to.match(/web\s+running \(systemd: sdt-web\.service\)/);
    expect(after, 'no keeper left of the manual start').not.to.match(/keeper: pid/);
    sh(dir, 'systemctl stop sdt.target');
  });
});
