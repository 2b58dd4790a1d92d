import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { importConfigModule } from '../../lib/config/import.js';
import { loadConfig } from '../../lib/config/load.js';
import type { LaunchError } from '../../lib/errors.js';
import { failure } from '../helpers/stack.js';
import { project, writeFiles } from '../helpers/tmp.js';

const TS_CONFIG = `import { defineConfig, type ServiceConfig } from 'launchguard';
const api: ServiceConfig = { command: 'node api.js', port: 8001 };
export default defineConfig({ services: { api } });
`;

async function loadError(options: Parameters<typeof loadConfig>[0]): Promise<LaunchError> {
  const error = await failure(loadConfig(options));
  expect(error.code).to.equal('E_CONFIG');
  return error;
}

describe('loadConfig', () => {
  for (const ext of ['ts', 'mts']) {
    it(`loads launch.config.${ext} with types and the launchguard import`, async () => {
      const dir = project({ [`launch.config.${ext}`]: TS_CONFIG });
      const config = await loadConfig({ cwd: dir });
      expect(config.file).to.equal(join(dir, `launch.config.${ext}`));
      expect(config.services.api?.port).to.equal(8001);
    });
  }

  it('loads launch.config.js and .mjs natively', async () => {
    for (const ext of ['js', 'mjs']) {
      const dir = project({
        'package.json': '{"type":"module"}',
        [`launch.config.${ext}`]: "export default { services: { a: { command: 'node a.js' } } };\n",
      });
      const config = await loadConfig({ cwd: dir });
      expect(config.services.a?.argv).to.deep.equal(['node', 'a.js']);
    }
  });

  it('prefers .ts over the other names in the same folder', async () => {
    const dir = project({
      'launch.config.ts': "export default { services: { fromTs: { command: 'x' } } };\n",
      'launch.config.mjs': "export default { services: { fromMjs: { command: 'x' } } };\n",
    });
    expect(Object.keys((await loadConfig({ cwd: dir })).services)).to.deep.equal(['fromTs']);
  });

  it('finds the config in the nearest ancestor and resolves paths against its folder', async () => {
    const dir = project({
      'launch.config.ts': "export default { services: { a: { command: 'x', cwd: 'svc' } } };\n",
    });
    const deep = join(dir, 'one', 'two');
    mkdirSync(deep, { recursive: true });
    const config = await loadConfig({ cwd: deep });
    expect(config.root).to.equal(dir);
    expect(config.services.a?.cwd).to.equal(join(dir, 'svc'));
  });

  it('takes an explicit --config path relative to cwd', async () => {
    const dir = project({
      'conf/stack.ts': "export default { services: { b: { command: 'x' } } };\n",
    });
    const config = await loadConfig({ cwd: dir, config: 'conf/stack.ts' });
    expect(config.root).to.equal(join(dir, 'conf'));
    expect(Object.keys(config.services)).to.deep.equal(['b']);
  });

  it('calls a config function with the command and cwd', async () => {
    const dir = project({
      'launch.config.ts': `import { defineConfig } from 'launchguard';
export default defineConfig(async ({ command, cwd }) => ({
  services: { [command]: { command: 'echo', env: { CWD: cwd } } },
}));
`,
    });
    const config = await loadConfig({ cwd: dir, command: 'status' });
    expect(config.services.status?.env).to.deep.equal({ CWD: dir });
  });

  it('supports relative imports in a TypeScript config', async () => {
    const dir = project({
      'services.ts': "export const api = { command: 'node api.js', port: 9001 } as const;\n",
      'launch.config.ts':
        "import { api } from './services';\nexport default { services: { api } };\n",
    });
    expect((await loadConfig({ cwd: dir })).services.api?.port).to.equal(9001);
  });

  it('caches a compiled TypeScript config under node_modules/.cache and reuses it', async () => {
    const dir = project({ 'launch.config.ts': TS_CONFIG });
    mkdirSync(join(dir, 'node_modules'));
    await loadConfig({ cwd: dir });
    const cache = join(dir, 'node_modules', '.cache', 'launchguard');
    const files = readdirSync(cache);
    expect(files).to.have.length(1);
    expect(files[0]).to.match(/^[0-9a-f]{24}\.mjs$/);
    expect((await loadConfig({ cwd: dir })).services.api?.port).to.equal(8001);
    expect(readdirSync(cache)).to.deep.equal(files);
  });

  it('reports a missing config file', async () => {
    const dir = project({});
    const error = await loadError({ cwd: dir });
    expect(error.message).to.match(
      /no launch\.config\.ts \(or \.mts, \.js, \.mjs\) in .* or any parent folder/,
    );
    expect(error.hint).to.match(/--config/);
    const explicit = await loadError({ cwd: dir, config: 'nope.ts' });
    expect(explicit.message).to.equal(`config file ${join(dir, 'nope.ts')} not found`);
  });

  it('reports a syntax error with file, line and column', async () => {
    const dir = project({
      'launch.config.ts':
        "const x: number = 1;\nexport default {\n  services: { a: { command: 'x',, } },\n};\n",
    });
    mkdirSync(join(dir, 'node_modules'));
    const error = await loadError({ cwd: dir });
    expect(error.message).to.match(
      new RegExp(`^${join(dir, 'launch.config.ts')}:3:\\d+: syntax error: `),
    );
    expect(error.details[0]).to.equal("3 |   services: { a: { command: 'x',, } },");
  });

  it('reports a syntax error in a .mjs config with its line', async () => {
    const dir = project({ 'launch.config.mjs': 'export default {\n  services: {{\n};\n' });
    const error = await loadError({ cwd: dir });
    expect(error.message).to.match(/launch\.config\.mjs:2:\d+: syntax error/);
  });

  it('reports a missing import with the line that imports it', async () => {
    const dir = project({
      'launch.config.ts': "// ports\nimport x from 'no-such-package';\nexport default x;\n",
    });
    const error = await loadError({ cwd: dir });
    expect(error.message).to.equal(
      `${join(dir, 'launch.config.ts')}:2: cannot load the config: module 'no-such-package' not found`,
    );
    expect(error.hint).to.equal('install it (npm install no-such-package) or fix the import path');
  });

  it('reports an error thrown by the config with its location', async () => {
    const dir = project({ 'launch.config.ts': "const a = 1;\nthrow new Error('boom');\n" });
    const error = await loadError({ cwd: dir });
    expect(error.message).to.equal(`${join(dir, 'launch.config.ts')}:2:7: the config threw: boom`);
  });

  for (const [name, withModules] of [
    ['launch.config.ts', true],
    ['launch.config.ts', false],
    ['launch.config.mjs', false],
  ] as const) {
    it(`evaluates ${name} once, even when it throws (${withModules ? 'cached' : 'no'} node_modules)`, async () => {
      const dir = project({});
      const ran = join(dir, 'ran.log');
      writeFiles(dir, {
        [name]:
          "import { appendFileSync } from 'node:fs';\n" +
          `appendFileSync(${JSON.stringify(ran)}, 'ran\\n');\n` +
          "throw new Error('boom');\n",
      });
      if (withModules) mkdirSync(join(dir, 'node_modules'));
      const error = await loadError({ cwd: dir });
      expect(error.message).to.equal(`${join(dir, name)}:3:7: the config threw: boom`);
      expect(readFileSync(ran, 'utf8')).to.equal('ran\n');
    });
  }

  it('gives a cached TypeScript config its own import.meta.url', async () => {
    const dir = project({
      'launch.config.ts':
        "import { fileURLToPath } from 'node:url';\n" +
        "const here: string = fileURLToPath(new URL('./sub', import.meta.url));\n" +
        "export default { services: { a: { command: 'x', cwd: here } } };\n",
    });
    mkdirSync(join(dir, 'node_modules'));
    for (let i = 0; i < 2; i++) {
      const config = await loadConfig({ cwd: dir });
      expect(config.services.a?.cwd).to.equal(join(dir, 'sub'));
    }
    expect(readdirSync(join(dir, 'node_modules', '.cache', 'launchguard'))).to.have.length(1);
  });

  it('reports validation problems of a loaded config', async () => {
    const dir = project({
      'launch.config.ts': "export default { services: { a: { comand: 'x' } } };\n",
    });
    const error = await loadError({ cwd: dir });
    expect(error.details).to.deep.equal([
      "services.a.comand: unknown key (did you mean 'command'?)",
      'services.a.command: missing: every service needs a command',
    ]);
  });
});

describe('importConfigModule: what runs is the source it is given', () => {
  // The file on disk says one thing; the bytes read (and checked) say another. Only the
  // bytes may run, on every path: native from the cache, a data: URL, jiti.
  const onDisk = "export default { from: 'disk' };\n";
  const read = "export default { from: 'bytes' };\n";
  const cases: Record<string, Record<string, string>> = {
    'an .mjs config, cached': { 'launch.config.mjs': onDisk, 'node_modules/.keep': '' },
    'a .ts config, cached': { 'launch.config.ts': onDisk, 'node_modules/.keep': '' },
    'an .mjs config without node_modules (data: URL)': { 'launch.config.mjs': onDisk },
    'a config with a relative import (jiti)': {
      'launch.config.ts': onDisk,
      'part.ts': "export const from = 'part';\n",
    },
  };
  for (const [name, files] of Object.entries(cases)) {
    it(name, async () => {
      const dir = project(files);
      const file = join(dir, Object.keys(files)[0] as string);
      const source = name.includes('relative')
        ? "import { from } from './part';\nexport default { from: 'bytes+' + from };\n"
        : read;
      const exported = (await importConfigModule(file, source)) as { from: string };
      expect(exported.from).to.match(/^bytes/);
    });
  }
});
