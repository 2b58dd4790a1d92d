import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parseLsofListeners, parseNetstatListeners } from '../../lib/os/net-lsof.js';
import {
  envFromPsLine,
  parseBootTime,
  parsePsCgroups,
  parsePsEnv,
  parsePsTable,
  psColumns,
} from '../../lib/os/proc-ps.js';
import { systemdUnit } from '../../lib/os/systemd.js';
import { fixture } from '../helpers/paths.js';

const recorded = (name: string) => readFileSync(fixture(`recorded/${name}`), 'utf8');

describe('portable backend parsers (recorded ps, lsof, sysctl and netstat output)', () => {
  it('asks ps for a session id on Linux only (macOS has no such keyword)', () => {
    expect(psColumns('linux')).to.include('sess=');
    expect(psColumns('darwin')).not.to.include('sess');
  });

  it('reads a Linux procps table: ids, owner, state, lstart, argv with spaces, zombies', () => {
    const rows = parsePsTable(recorded('linux-ps.txt'), true);
    expect([...rows.keys()]).to.deep.equal([1, 2, 5778, 5779, 5781]);
    expect(rows.get(5779)?.info).to.deep.include({
      ppid: 5776,
      pgid: 5776,
      sid: 1114,
      uid: 0,
      state: 'S',
      startTime: 'lstart:Fri Nov 27 15:53:01 2026',
    });
    expect(rows.get(5779)?.argv).to.deep.equal(['my', 'app/server.js', '--port', '8001', '5']);
    expect(rows.get(5781)?.info.state).to.equal('Z');
    expect(rows.get(2)?.argv).to.deep.equal(['[kthreadd]']);
  });

  it('reads a macOS table: no session column, a space-padded day, an app path with spaces', () => {
    const rows = parsePsTable(recorded('macos-ps.txt'), false);
    expect([...rows.keys()]).to.deep.equal([1, 512, 4242, 4300]);
    expect(rows.get(4242)?.info).to.deep.include({
      ppid: 4100,
      pgid: 4242,
      sid: 0,
      uid: 501,
      state: 'S',
      startTime: 'lstart:Thu Nov 26 13:30:18 2026',
      comm: 'node',
    });
    expect(rows.get(4300)?.info.startTime).to.equal('lstart:Thu Nov 5 08:01:09 2026');
    expect(rows.get(4300)?.argv[0]).to.equal('/Applications/Visual');
  });

  it('reads CPU and memory from the pcpu and rss columns of a live table (a comma decimal too)', () => {
    const text = [
      '  4242     1  4242  4242     0 Ss    1.5  3932 Thu Nov 26 13:30:18 2026 node server.js',
      '  4243  4242  4242  4242     0 S     2,25  100 Thu Nov 26 13:30:19 2026 node worker.js',
    ].join('\n');
    const rows = parsePsTable(text, true);
    expect(rows.get(4242)?.usage).to.deep.equal({ cpu: 1.5, rss: 3932 * 1024 });
    expect(rows.get(4243)?.usage).to.deep.equal({ cpu: 2.25, rss: 100 * 1024 });
    expect(rows.get(4243)?.argv).to.deep.equal(['node', 'worker.js']);
    expect(
      parsePsTable(recorded('linux-ps.txt'), true).get(5779)?.usage,
      'recorded without',
    ).to.equal(undefined);
  });

  it('finds the instance marker in the environment ps eww prints (Linux and macOS)', () => {
    for (const [file, pid] of [
      ['linux-ps-env.txt', 5779],
      ['macos-ps-env.txt', 4242],
    ] as const) {
      const lines = parsePsEnv(recorded(file));
      const marker = envFromPsLine(lines.get(pid) ?? '', 'LAUNCHGUARD_INSTANCE');
      expect(marker, file).to.match(/^[\w-]+\/api\/0123456789ab$/);
    }
    const mac = parsePsEnv(recorded('macos-ps-env.txt'));
    expect(envFromPsLine(mac.get(4242) ?? '', 'PORT')).to.equal('8001');
    expect(envFromPsLine(mac.get(4242) ?? '', 'API_PORT')).to.equal('8001');
    expect(envFromPsLine(mac.get(4300) ?? '', 'LAUNCHGUARD_INSTANCE')).to.equal(null);
  });

  it('reads listeners from lsof -F: IPv4, IPv6 in brackets, the wildcard by family', () => {
    const linux = parseLsofListeners(recorded('linux-lsof.txt'));
    expect(linux.map((l) => [l.address, l.port, l.family, l.pids])).to.deep.equal([
      ['::', 18792, 6, [5789]],
      ['127.0.0.1', 18793, 4, [5789]],
      ['::1', 18794, 6, [5789]],
    ]);
    const mac = parseLsofListeners(recorded('macos-lsof.txt'));
    expect(mac.map((l) => [l.address, l.port, l.uid, l.pids])).to.deep.equal([
      ['0.0.0.0', 8001, 501, [4242]],
      ['::1', 8001, 501, [4242]],
      ['127.0.0.1', 49152, 501, [612]],
      ['::', 8001, 501, [4300]],
    ]);
  });

  it('takes the boot identity from kern.boottime, and nothing else', () => {
    expect(parseBootTime(recorded('macos-sysctl-boottime.txt'))).to.equal('boot:1732437123');
    expect(parseBootTime('')).to.equal(null);
    expect(parseBootTime('sysctl: unknown oid')).to.equal(null);
  });

  it('reads every process cgroups from one ps call, and finds the systemd unit in them (Linux)', () => {
    const table = parsePsCgroups(
      [
        '    1 0::/init.scope',
        '  812 0::/system.slice/demo-api.service',
        ' 1234 12:pids:/user.slice;1:name=systemd:/system.slice/demo-web.service',
        ' 4321 -',
      ].join('\n'),
    );
    expect([...table.keys()]).to.deep.equal([1, 812, 1234, 4321]);
    expect(systemdUnit(table.get(812) ?? '')).to.deep.include({ unit: 'demo-api.service' });
    expect(systemdUnit(table.get(1234) ?? '')).to.deep.include({ unit: 'demo-web.service' });
    expect(systemdUnit(table.get(4321) ?? '')).to.equal(null);
  });

  it('reads the LISTENING sockets of Windows netstat -ano, not the connections', () => {
    const listeners = parseNetstatListeners(recorded('windows-netstat.txt'));
    expect(listeners.map((l) => [l.address, l.port, l.family, l.pids])).to.deep.equal([
      ['0.0.0.0', 135, 4, [1044]],
      ['0.0.0.0', 8001, 4, [7312]],
      ['127.0.0.1', 3000, 4, [8848]],
      ['::', 8001, 6, [7312]],
      ['::1', 5432, 6, [4021]],
    ]);
  });
});
