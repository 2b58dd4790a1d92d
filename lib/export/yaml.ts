import { escapeControls } from '../format.js';

/**
 * A small YAML writer for generated files: mappings, sequences, and scalars
 * written as JSON strings and numbers (JSON scalars are valid YAML flow
 * scalars, so nothing a value holds can change the document's structure).
 * Comments are kept: a key `#` whose value is a string array becomes comment
 * lines at that place.
 */
export type YamlValue =
  | string
  | number
  | boolean
  | readonly YamlValue[]
  | { readonly [key: string]: YamlValue | undefined };

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Words a YAML 1.1 reader (PyYAML, docker-compose v1) takes for booleans or null. */
const SPECIAL = /^(y|yes|n|no|true|false|on|off|null)$/i;

function key(k: string): string {
  return PLAIN_KEY.test(k) && !SPECIAL.test(k) ? k : scalar(k);
}

/**
 * A JSON string, with what JSON leaves raw but YAML reads as a line break or
 * drops (NEL, the line and paragraph separators, DEL and the C1 controls, a
 * byte-order mark, U+FFFE and U+FFFF) escaped as `\uXXXX`, which YAML's
 * double quotes read back.
 */
function scalar(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value);
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A mapping with no entry to write (a block mapping cannot be empty: `{}`). */
function isEmptyMapping(value: YamlValue): boolean {
  return (
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.entries(value).every(([k, v]) => v === undefined || k === '#')
  );
}

function isScalar(value: YamlValue): value is string | number | boolean {
  return typeof value !== 'object';
}

function lines(value: YamlValue, indent: string): string[] {
  if (isScalar(value)) return [`${indent}${scalar(value)}`];
  if (Array.isArray(value)) {
    if (value.every(isScalar))
      return [`${indent}[${(value as (string | number | boolean)[]).map(scalar).join(', ')}]`];
    return (value as YamlValue[]).flatMap((item) => {
      const [first = '', ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first.trimStart()}`, ...rest];
    });
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, YamlValue | undefined>)) {
    if (v === undefined) continue;
    if (k === '#') {
      out.push(...(v as string[]).map((c) => `${indent}# ${escapeControls(c)}`));
    } else if (isScalar(v) || (Array.isArray(v) && v.every(isScalar))) {
      out.push(`${indent}${key(k)}: ${lines(v, '')[0]}`);
    } else if (isEmptyMapping(v)) {
      out.push(`${indent}${key(k)}: {}`);
    } else {
      out.push(`${indent}${key(k)}:`, ...lines(v, `${indent}  `));
    }
  }
  return out;
}

/** The document for `value` (a mapping), with `header` comment lines first. */
export function toYaml(value: YamlValue, header: readonly string[] = []): string {
  return `${[...header.map((c) => `# ${escapeControls(c)}`), ...lines(value, '')].join('\n')}\n`;
}
