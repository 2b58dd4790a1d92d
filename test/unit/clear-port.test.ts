import { expect } from 'chai';
import sinon from 'sinon';
import { resolveConfig } from '../../lib/config/resolve.js';
import type { ResolvedService } from '../../lib/config/types.js';
import { classifyHolder } from '../../lib/ports/classify.js';
import { clearPort } from '../../lib/ports/clear-port.js';
import { listenerScanner, type PortUse } from '../../lib/ports/scan.js';
import { FakeOs, type FakeProcess } from '../helpers/fake-os.js';
import { failure } from '../helpers/stack.js';

const ME = process.geteuid?.() ?? 0;
const STACK = 'demo-0123abcd';
const PORT = 18001;
const ROOT = '/srv/demo';

function service(name = 'api', command = 'node server.js'): ResolvedService {
  const config = resolveConfig(
    { services: { [name]: { command, port: PORT }, other: { command: 'node other.js' } } },
    `${ROOT}/launch.config.mjs`,
  );
  return config.services[name] as ResolvedService;
}

/** The port pre-flight against a fake process table where `holder` listens on the port. */
function preflight(holder: FakeProcess, force = false) {
  const os = new FakeOs([{ ...holder, listens: [PORT] }]);
  const options = { stack: STACK, inspector: os, scanner: listenerScanner(os), force };
  return { os, run: () => clearPort(service(), PORT, options) };
}

describe('port pre-flight decisions (fake process table)', () => {
  it('refuses a foreign holder without --force, naming it and the way out', async () => {
    const { run } = preflight({ pid: 300, argv: ['python3', '-m', 'http.server'], cwd: '/tmp' });
    const error = await failure(run());
    expect(error.code).to.equal('E_PORT_IN_USE');
    expect(error.message).to.include(`port ${PORT} is in use by pid 300 (python3 -m http.server`);
    expect(error.hint).to.match(/--force to stop it/);
  });

  it("refuses another user's holder even with --force, and says so", async () => {
    const { run } = preflight({ pid: 301, uid: ME + 4242, argv: ['node', 'server.js'], cwd: ROOT });
    const error = await failure(run());
    expect(error.message).to.match(/a process of another user/);
    expect(error.hint).to.match(/never stops another user's process, not even with --force/);
  });

  it('refuses a systemd-managed holder even with --force, with the systemctl command', async () => {
    const { run } = preflight(
      { pid: 302, argv: ['node', 'api.js'], cwd: '/opt', unit: 'api.service' },
      true,
    );
    const error = await failure(run());
    expect(error.message).to.include('held by the systemd unit api.service');
    // sudo only for a user who is not root already
    const ctl = process.geteuid?.() === 0 ? 'systemctl' : 'sudo systemctl';
    expect(error.hint).to.include(`'${ctl} stop api.service'`);
  });

  it("refuses another service of the stack, and the launcher's own parent even with --force", async () => {
    const other = preflight({
      pid: 303,
      env: { LAUNCHGUARD_INSTANCE: `${STACK}/other/0123456789ab` },
    });
    expect((await failure(other.run())).message).to.match(
      /held by other, another service of this stack/,
    );
    const parent = preflight({ pid: process.ppid, argv: ['bash'] }, true);
    expect((await failure(parent.run())).hint).to.match(/--force does not stop it/);
  });

  it('calls a socket with no visible owner unknown after looking again for 200 ms', async () => {
    const clock = sinon.useFakeTimers();
    try {
      const uses: PortUse[] = [{ port: PORT, address: '0.0.0.0', pid: null, uid: ME + 1 }];
      const scanner = sinon.fake.resolves(uses);
      const checking = clearPort(service(), PORT, {
        stack: STACK,
        inspector: new FakeOs(),
        scanner,
        force: true,
      });
      const failed = failure(checking);
      await clock.tickAsync(250);
      const error = await failed;
      // 10 looks for an owner, then one more before calling the holder someone else's.
      expect(scanner.callCount).to.equal(12);
      expect(error.message).to.match(/which launchguard may not inspect/);
      expect(error.hint).to.include(`ss -ltnp sport = :${PORT}`);
    } finally {
      clock.restore();
    }
  });

  it('takes a holder with the service’s marker, or its argv and cwd, for an earlier instance', () => {
    const os = new FakeOs([
      { pid: 310, env: { LAUNCHGUARD_INSTANCE: `${STACK}/api/0123456789ab` } },
      { pid: 311, argv: ['/usr/bin/node', 'server.js'], cwd: ROOT },
      { pid: 312, argv: ['/usr/bin/node', 'server.js'], cwd: '/elsewhere' },
    ]);
    const kind = (pid: number) =>
      classifyHolder(
        { port: PORT, address: '127.0.0.1', pid, uid: ME },
        { stack: STACK, service: service(), inspector: os },
      ).kind;
    expect([310, 311, 312].map(kind)).to.deep.equal([
      'earlier-instance',
      'earlier-instance',
      'foreign',
    ]);
  });
});
