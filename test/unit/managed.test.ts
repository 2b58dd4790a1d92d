import { expect } from 'chai';
import { resolveConfig } from '../../lib/config/resolve.js';
import type { ResolvedService } from '../../lib/config/types.js';
import { managedInstance } from '../../lib/process/managed.js';
import type { MarkedProcess } from '../../lib/process/sweep.js';
import { stackId } from '../../lib/state/marker.js';
import { FakeOs, type FakeProcess } from '../helpers/fake-os.js';

describe('services that systemd runs (fake process table)', () => {
  const config = resolveConfig(
    { services: { api: { command: 'node server.js' } } },
    '/srv/demo/launch.config.mjs',
  );
  const svc = config.services.api as ResolvedService;
  const marker = `${stackId(config.name, config.file)}/api/0123456789ab`;

  /** `down`'s candidates: the processes a scan found carrying the marker. */
  function candidatesOf(os: FakeOs, pids: readonly number[]): MarkedProcess[] {
    return pids.map((pid) => {
      const looked = os.lookup(pid);
      if (looked.kind !== 'alive') throw new Error(`no fake process ${pid}`);
      return { info: looked.info, marker, service: 'api' };
    });
  }

  const inUnit = (p: Partial<FakeProcess> & { pid: number }): FakeProcess => ({
    unit: 'demo-api.service',
    env: { LAUNCHGUARD_INSTANCE: marker },
    ...p,
  });

  it('a candidate still running in a unit is the unit’s instance', () => {
    const os = new FakeOs([inUnit({ pid: 700 })]);
    const managed = managedInstance(config, svc, os, candidatesOf(os, [700]), true);
    expect(managed).to.deep.include({ pid: 700, unit: { unit: 'demo-api.service', user: false } });
  });

  it('a candidate that exited (a zombie its parent has not reaped) is nobody’s instance', () => {
    const os = new FakeOs([inUnit({ pid: 701, state: 'Z' })]);
    expect(managedInstance(config, svc, os, candidatesOf(os, [701]), true)).to.equal(null);
  });
});
