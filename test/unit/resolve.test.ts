import { join } from 'node:path';
import { expect } from 'chai';
import { resolveConfig } from '../../lib/config/resolve.js';
import { failure } from '../helpers/stack.js';
import { project } from '../helpers/tmp.js';

describe('resolveConfig', () => {
  it('fills defaults, makes paths absolute and groups levels', () => {
    const dir = project({});
    const file = join(dir, 'launch.config.ts');
    const config = resolveConfig(
      {
        services: {
          web: { command: 'npm run dev', port: 3000, dependsOn: ['api'] },
          api: {
            command: ['node', 'server.js'],
            cwd: 'api',
            port: 8001,
            ready: { http: '/health' },
          },
          job: { command: "node -e 'x'" },
        },
      },
      file,
    );
    expect(config.file).to.equal(file);
    expect(config.root).to.equal(dir);
    expect(config.pidDir).to.equal(join(dir, '.pids'));
    expect(config.levels).to.deep.equal([['api', 'job'], ['web']]);
    const web = config.services.web;
    expect(web?.argv).to.deep.equal(['npm', 'run', 'dev']);
    expect(web?.cwd).to.equal(dir);
    expect(web?.ready).to.deep.equal({ kind: 'tcp', port: 3000, interval: 100 });
    expect(web?.readyTimeout).to.equal(30_000);
    expect(web?.stopTimeout).to.equal(10_000);
    expect(web?.stopSignal).to.equal('SIGTERM');
    expect(web?.dependsOn).to.deep.equal({ api: 'ready' });
    expect(web?.restart).to.equal('no');
    expect(config.services.api?.cwd).to.equal(join(dir, 'api'));
    expect(config.services.api?.ready).to.deep.equal({
      kind: 'http',
      url: 'http://127.0.0.1:8001/health',
      status: 'ok',
      interval: 100,
    });
    expect(config.services.job?.argv).to.deep.equal(['node', '-e', 'x']);
    expect(config.services.job?.ready).to.equal(null);
    expect(config.services.job?.port).to.equal(null);
    expect(
      Object.isFrozen(config) && Object.isFrozen(config.services) && Object.isFrozen(web),
    ).to.equal(true);
  });

  it("keeps port: 'auto' as a marker for the start path", () => {
    const config = resolveConfig(
      { services: { a: { command: 'x', port: 'auto' } } },
      '/p/launch.config.ts',
    );
    expect(config.services.a?.port).to.equal('auto');
    expect(config.services.a?.ready).to.deep.equal({ kind: 'tcp', port: 'auto', interval: 100 });
  });

  it('merges env: top env files, top env, service env files, service env', () => {
    const dir = project({
      '.env': 'A=from-top-file\nB=from-top-file\nC=from-top-file\nD=from-top-file\n',
      'svc.env': '# comment\nC=from-service-file\nexport D=from-service-file\nQ="quoted value"\n',
    });
    const config = resolveConfig(
      {
        envFile: '.env',
        env: { B: 'from-top-env', C: 'from-top-env' },
        services: { a: { command: 'x', envFile: ['svc.env'], env: { D: 'from-service-env' } } },
      },
      join(dir, 'launch.config.ts'),
    );
    expect(config.services.a?.env).to.deep.equal({
      A: 'from-top-file',
      B: 'from-top-env',
      C: 'from-service-file',
      D: 'from-service-env',
      Q: 'quoted value',
    });
  });

  it('reports a missing env file with its key path', async () => {
    const dir = project({});
    const error = await failure(() =>
      resolveConfig(
        { services: { a: { command: 'x', envFile: ['nope.env'] } } },
        join(dir, 'launch.config.ts'),
      ),
    );
    expect(error.code).to.equal('E_CONFIG');
    expect(error.details).to.have.length(1);
    expect(error.details[0]).to.match(
      /^services\.a\.envFile\[0\]: cannot read env file .*nope\.env \(ENOENT\)$/,
    );
  });

  it('changes the config hash when the command changes, and only then', () => {
    const hash = (command: string, port = 1) =>
      resolveConfig({ services: { a: { command, port } } }, '/p/launch.config.ts').services.a
        ?.configHash;
    expect(hash('node a.js')).to.equal(hash('node a.js'));
    expect(hash('node a.js')).not.to.equal(hash('node b.js'));
    expect(hash('node a.js', 1)).not.to.equal(hash('node a.js', 2));
  });

  it('throws one E_CONFIG error with every problem', async () => {
    const error = await failure(() =>
      resolveConfig(
        { services: { a: { comand: 'x' }, b: { command: 'y', port: 0 } } },
        '/p/launch.config.ts',
      ),
    );
    expect(error.code).to.equal('E_CONFIG');
    expect(error.message).to.equal('/p/launch.config.ts: 3 problems in the config');
    expect(error.exitCode).to.equal(2);
  });
});
