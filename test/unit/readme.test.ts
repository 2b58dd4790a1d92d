import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { SERVICE_KEYS, TOP_KEYS } from '../../lib/config/validate.js';
import { ROOT } from '../helpers/paths.js';

/** Keys of the table under `heading` in the README (first column, in backticks). */
function tableKeys(readme: string, heading: string): string[] {
  const start = readme.indexOf(`### ${heading}`);
  expect(start, heading).to.be.greaterThan(-1);
  const section = readme.slice(start).split('\n### ')[0] ?? '';
  return [...section.matchAll(/^\| `(\w+)` +\|/gm)].map((m) => m[1] ?? '');
}

/** Field names of an interface in lib/config/types.ts. */
function interfaceKeys(source: string, name: string): string[] {
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1] ?? '';
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1] ?? '');
}

describe('README config reference', () => {
  const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
  const types = readFileSync(`${ROOT}/lib/config/types.ts`, 'utf8');

  it('lists exactly the top-level keys of the types and the validator', () => {
    expect(tableKeys(readme, 'Top level')).to.have.members(interfaceKeys(types, 'UserConfig'));
    expect(interfaceKeys(types, 'UserConfig')).to.have.members([...TOP_KEYS]);
  });

  it('lists exactly the service keys of the types and the validator', () => {
    expect(tableKeys(readme, 'Per service')).to.have.members(interfaceKeys(types, 'ServiceConfig'));
    expect(interfaceKeys(types, 'ServiceConfig')).to.have.members([...SERVICE_KEYS]);
  });

  it('starts with the install, launch and test commands', () => {
    const top = readme.split('\n').slice(0, 12).join('\n');
    expect(top).to.include('npm install && npm run launch');
    expect(top).to.include('npm test');
  });
});
