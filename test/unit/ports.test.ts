import { endianness } from 'node:os';
import { expect } from 'chai';
import type { ResolvedService } from '../../lib/config/types.js';
import { systemInspector } from '../../lib/os/inspector.js';
import { formatProcAddress, parseProcNetTcp } from '../../lib/os/net-linux.js';
import { systemdUnit } from '../../lib/os/systemd.js';
import { sameCommand } from '../../lib/ports/classify.js';
import { forceRefusal } from '../../lib/ports/clear-port.js';
import { loopbackHosts, statusAccepted } from '../../lib/probes/http.js';

const LE = endianness() === 'LE';

describe('ports: parsing and classification', () => {
  it('formats /proc/net addresses for IPv4 and IPv6', function () {
    if (!LE) this.skip();
    expect(formatProcAddress('0100007F')).to.equal('127.0.0.1');
    expect(formatProcAddress('00000000')).to.equal('0.0.0.0');
    expect(formatProcAddress('00000000000000000000000001000000')).to.equal('::1');
    expect(formatProcAddress('00000000000000000000000000000000')).to.equal('::');
    expect(formatProcAddress('0000000000000000FFFF00000100007F')).to.equal('::ffff:127.0.0.1');
  });

  it('keeps only listening sockets, with port, inode and uid', function () {
    if (!LE) this.skip();
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0',
      '   1: 0100007F:1F41 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0',
    ].join('\n');
    expect(parseProcNetTcp(text, 4)).to.deep.equal([
      { port: 8001, address: '127.0.0.1', family: 4, inode: 4242, uid: 1000 },
    ]);
  });

  it('names the systemd unit of a process, but not a login scope or the user manager', () => {
    expect(systemdUnit('0::/system.slice/backend.service\n')).to.deep.equal({
      unit: 'backend.service',
      user: false,
    });
    expect(
      systemdUnit('0::/user.slice/user-1000.slice/user@1000.service/app.slice/api.service\n'),
    ).to.deep.equal({ unit: 'api.service', user: true });
    expect(
      systemdUnit(
        '0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-Terminal.slice/vte-spawn-1.scope\n',
      ),
    ).to.equal(null);
    expect(systemdUnit('0::/user.slice/user-1000.slice/session-2.scope\n')).to.equal(null);
    expect(systemdUnit('1:name=systemd:/system.slice/nginx.service\n')).to.deep.equal({
      unit: 'nginx.service',
      user: false,
    });
    expect(systemdUnit('0::/\n')).to.equal(null);
  });

  it('matches an unmarked process by command line and cwd', () => {
    const svc = { name: 'api', argv: ['node', 'server.js'], shell: false, cwd: '/srv/api' };
    const s = svc as unknown as ResolvedService;
    expect(sameCommand(['/usr/bin/node', 'server.js'], '/srv/api', s)).to.equal(true);
    expect(sameCommand(['node', 'server.js'], '/srv/other', s)).to.equal(false);
    expect(sameCommand(['node', 'other.js'], '/srv/api', s)).to.equal(false);
    expect(sameCommand(null, '/srv/api', s)).to.equal(false);
  });

  it('--force never stops PID 1, the launcher or an unknown process', () => {
    const inspector = systemInspector();
    const holder = { kind: 'foreign', port: 1, address: '::', user: 'root', command: 'x' } as const;
    expect(forceRefusal({ ...holder, pid: 1 }, inspector)).to.include('PID 1');
    expect(forceRefusal({ ...holder, pid: process.pid }, inspector)).to.include('launchguard');
    expect(forceRefusal({ ...holder, pid: null }, inspector)).to.include('cannot see');
  });

  it('accepts 2xx and 3xx by default, or exactly the listed codes', () => {
    expect(statusAccepted(204, 'ok')).to.equal(true);
    expect(statusAccepted(302, 'ok')).to.equal(true);
    expect(statusAccepted(404, 'ok')).to.equal(false);
    expect(statusAccepted(404, [404])).to.equal(true);
    expect(statusAccepted(200, [204])).to.equal(false);
  });

  it('tries both loopback families for localhost and 127.0.0.1', () => {
    expect(loopbackHosts('localhost')).to.deep.equal(['127.0.0.1', '::1']);
    expect(loopbackHosts('[::1]')).to.deep.equal(['::1']);
  });
});
