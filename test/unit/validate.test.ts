import { expect } from 'chai';
import { type ConfigIssue, validateConfig } from '../../lib/config/validate.js';

const ok = { command: 'node s.js' };
function issues(config: unknown): ConfigIssue[] {
  return validateConfig(config);
}
function only(config: unknown): ConfigIssue {
  const found = issues(config);
  expect(found, JSON.stringify(found)).to.have.length(1);
  return found[0] as ConfigIssue;
}

describe('validateConfig', () => {
  it('accepts a full, valid config', () => {
    const config = {
      name: 'demo',
      pidDir: '.state',
      env: { A: '1' },
      envFile: ['.env'],
      services: {
        db: { command: ['postgres', '-D', 'data'], port: 5432, ready: { exec: 'pg_isready' } },
        migrate: { command: 'node migrate.js', dependsOn: ['db'] },
        api: {
          command: 'node server.js',
          shell: false,
          cwd: 'api',
          env: { NODE_ENV: 'dev' },
          envFile: '.env.api',
          port: 8001,
          ready: { http: '/health', status: [200, 204], interval: 50 },
          readyTimeout: 5000,
          stopTimeout: 2000,
          stopSignal: 'SIGINT',
          dependsOn: { db: 'ready', migrate: 'completed' },
          restart: 'on-failure',
          maxRestarts: 3,
        },
        web: {
          command: 'npm run dev | cat',
          shell: true,
          port: 'auto',
          ready: { log: /ready in/ },
        },
        tcp: { command: ok.command, ready: { tcp: 9000 } },
        url: { command: ok.command, ready: { http: 'http://[::1]:9001/' } },
      },
    };
    expect(issues(config)).to.deep.equal([]);
  });

  it('rejects a non-object export', () => {
    expect(only(undefined).message).to.match(
      /default export to be a config object.*received nothing/,
    );
    expect(only([]).message).to.match(/received an array/);
  });

  it('rejects missing and empty services', () => {
    expect(only({})).to.deep.equal({
      path: 'services',
      message: 'missing: a config needs at least one service',
    });
    expect(only({ services: {} }).message).to.match(/empty/);
    expect(only({ services: [] }).message).to.match(
      /expected an object of services, received an array/,
    );
  });

  it('names unknown keys with a suggestion, at every level', () => {
    const found = issues({
      servces: {},
      services: { a: { comand: 'x', command: 'y', ready: { http: '/h', statuss: 200 }, port: 1 } },
    });
    expect(found).to.deep.include({
      path: 'servces',
      message: "unknown key (did you mean 'services'?)",
    });
    expect(found).to.deep.include({
      path: 'services.a.comand',
      message: "unknown key (did you mean 'command'?)",
    });
    expect(found).to.deep.include({
      path: 'services.a.ready.statuss',
      message: "unknown key (did you mean 'status'?)",
    });
  });

  it('requires a non-empty command', () => {
    expect(only({ services: { a: {} } })).to.deep.equal({
      path: 'services.a.command',
      message: 'missing: every service needs a command',
    });
    expect(only({ services: { a: { command: '  ' } } }).message).to.match(/empty string/);
    expect(only({ services: { a: { command: [] } } }).message).to.match(/non-empty argv/);
    expect(only({ services: { a: { command: ['node', 3] } } }).path).to.equal(
      'services.a.command[1]',
    );
    expect(only({ services: { a: { command: 42 } } }).message).to.match(/received number 42/);
  });

  it('refuses shell syntax without shell: true', () => {
    const issue = only({ services: { a: { command: 'npm run a && npm run b' } } });
    expect(issue.path).to.equal('services.a.command');
    expect(issue.message).to.match(/shell operator '&'.*shell: true/);
  });

  it('checks ports: integers 1-65535 or auto', () => {
    for (const port of [0, 65536, -1, 80.5, 'abc', '8001', null]) {
      const issue = only({ services: { a: { command: 'x', port } } });
      expect(issue.path, String(port)).to.equal('services.a.port');
      expect(issue.message).to.match(/expected an integer port 1-65535/);
    }
    expect(
      issues({ services: { a: { command: 'x', port: 65535 }, b: { command: 'x', port: 1 } } }),
    ).to.deep.equal([]);
  });

  it('refuses two services on the same port', () => {
    expect(
      only({ services: { a: { ...ok, port: 8001 }, b: { ...ok, port: 8001 } } }),
    ).to.deep.equal({
      path: 'services.b.port',
      message: "port 8001 is also used by service 'a'",
    });
    expect(
      issues({ services: { a: { ...ok, port: 'auto' }, b: { ...ok, port: 'auto' } } }),
    ).to.deep.equal([]);
  });

  it('names unknown dependencies and lists the known services', () => {
    expect(only({ services: { api: { ...ok, dependsOn: ['db'] }, web: ok } })).to.deep.equal({
      path: 'services.api.dependsOn[0]',
      message: "unknown service 'db' (known: api, web)",
    });
    const typo = only({
      services: { backend: ok, web: { ...ok, dependsOn: { bakend: 'ready' } } },
    });
    expect(typo.path).to.equal('services.web.dependsOn.bakend');
    expect(typo.message).to.match(/did you mean 'backend'/);
  });

  it('checks dependency conditions', () => {
    const issue = only({ services: { a: ok, b: { ...ok, dependsOn: { a: 'healthy' } } } });
    expect(issue.path).to.equal('services.b.dependsOn.a');
    expect(issue.message).to.match(/expected one of started, ready, completed, received "healthy"/);
  });

  it('prints dependency cycles as a path', () => {
    const found = issues({
      services: {
        a: { ...ok, dependsOn: ['b'] },
        b: { ...ok, dependsOn: ['a'] },
        c: { ...ok, dependsOn: ['c'] },
      },
    });
    expect(found).to.deep.equal([
      { path: 'services.a.dependsOn', message: 'dependency cycle: a -> b -> a' },
      { path: 'services.c.dependsOn', message: 'dependency cycle: c -> c' },
    ]);
  });

  it('refuses service names that are unsafe as file names', () => {
    for (const name of ['../x', '/', 'a/b', '.hidden', '..', '', 'a b', 'x'.repeat(65)]) {
      const found = issues({ services: { [name]: ok } });
      expect(
        found.some((i) => /not safe as a file name/.test(i.message)),
        name,
      ).to.equal(true);
    }
  });

  it('refuses names that differ only in case', () => {
    expect(only({ services: { API: ok, api: ok } })).to.deep.equal({
      path: 'services.api',
      message: "name differs from 'API' only in case; the two collide on case-insensitive disks",
    });
  });

  it('refuses zero, negative, non-finite and too large timeouts', () => {
    for (const t of [0, -1, Number.POSITIVE_INFINITY, Number.NaN, '30s', 2 ** 31]) {
      for (const key of ['readyTimeout', 'stopTimeout']) {
        const issue = only({ services: { a: { ...ok, [key]: t } } });
        expect(issue.path).to.equal(`services.a.${key}`);
        expect(issue.message).to.match(/positive number of milliseconds/);
      }
    }
  });

  it('checks readiness checks', () => {
    const probe = (ready: unknown, port: number | null = 8001) =>
      only({ services: { a: { ...ok, ...(port === null ? {} : { port }), ready } } });
    expect(probe({}).message).to.match(/exactly one of tcp, http, log, exec; received none/);
    expect(probe({ htp: '/x' }).message).to.match(/did you mean 'http'/);
    expect(probe({ tcp: true, http: '/' }).message).to.match(/received tcp and http/);
    expect(probe({ http: '/health' }, null).message).to.match(
      /a path needs the service to have a port/,
    );
    expect(probe({ tcp: true }, null).message).to.match(/needs the service to have a port/);
    expect(probe({ http: 'http://example.com/' }).message).to.match(/only probes loopback hosts/);
    expect(probe({ http: 'ftp://127.0.0.1/' }).message).to.match(/http: or https:/);
    expect(probe({ http: '/', status: 700 }).path).to.equal('services.a.ready.status');
    expect(probe({ log: '' }).message).to.match(/string or a RegExp/);
    expect(probe({ exec: '' }).path).to.equal('services.a.ready.exec');
    expect(probe({ tcp: 0 }).path).to.equal('services.a.ready.tcp');
    expect(probe({ tcp: true, interval: -1 }).path).to.equal('services.a.ready.interval');
  });

  it('checks env values and other enums', () => {
    expect(only({ services: { a: { ...ok, env: { PORT: 3000 } } } })).to.deep.equal({
      path: 'services.a.env.PORT',
      message: "expected a string, received number 3000 (write '3000')",
    });
    expect(only({ services: { a: { ...ok, stopSignal: 'SIGKILL' } } }).path).to.equal(
      'services.a.stopSignal',
    );
    expect(only({ services: { a: { ...ok, restart: 'allways' } } }).message).to.match(
      /did you mean 'always'/,
    );
    expect(only({ services: { a: { ...ok, maxRestarts: -1 } } }).path).to.equal(
      'services.a.maxRestarts',
    );
    expect(only({ pidDir: '', services: { a: ok } }).path).to.equal('pidDir');
  });

  it('reports every problem of a config in one pass', () => {
    const found = issues({
      services: {
        api: { comand: 'node api.js', port: 8001, dependsOn: ['web'] },
        web: { command: 'node web.js', port: 8001, dependsOn: ['api'] },
      },
    });
    expect(found.map((i) => i.path)).to.deep.equal([
      'services.api.comand',
      'services.api.command',
      'services.web.port',
      'services.api.dependsOn',
    ]);
  });
});
