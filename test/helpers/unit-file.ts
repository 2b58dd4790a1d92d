import { hasNonCharacter } from '../../lib/format.js';

/**
 * A reader of the systemd unit-file grammar, as systemd reads the parts an
 * export writes (systemd.syntax(7), systemd.service(5)): sections,
 * `Key=Value` lines, comments; words of `Exec*=` and `Environment=` split on
 * whitespace, double quotes removed, C escapes (`\xHH`, `\n`, `\\`, `\"`...)
 * decoded, `%%` read as `%` and, in `Exec*=`, `$$` as `$`. The property
 * tests check an export against it, and it against `systemd-analyze verify`.
 */

/** One directive in the order read. */
export interface Directive {
  readonly section: string;
  readonly key: string;
  readonly value: string;
}

/** Every directive of a unit file; throws on a line systemd would not read as one. */
export function parseUnit(text: string): Directive[] {
  if (hasNonCharacter(text)) throw new Error('not UTF-8 clean: systemd would drop such a line');
  const out: Directive[] = [];
  let section = '';
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/^[ \t]+|[ \t\r]+$/g, '');
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(trimmed);
    if (header) {
      section = header[1] as string;
      continue;
    }
    if (trimmed.endsWith('\\')) throw new Error(`a continuation line: ${JSON.stringify(line)}`);
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new Error(`not a directive: ${JSON.stringify(line)}`);
    out.push({
      section,
      key: trimmed.slice(0, eq).trim(),
      value: trimmed.slice(eq + 1).trimStart(),
    });
  }
  return out;
}

const SIMPLE: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
  "'": "'",
  s: ' ',
};

/** A reader over a value's code points (a character beyond the BMP is one). */
class Cursor {
  readonly chars: string[];
  at = 0;
  constructor(text: string) {
    this.chars = Array.from(text);
  }
  get done(): boolean {
    return this.at >= this.chars.length;
  }
  peek(): string {
    return this.chars[this.at] as string;
  }
  next(): string {
    return this.chars[this.at++] as string;
  }
}

const BLANK = /[ \t]/;

/** The bytes of one escape after its backslash (`\xHH` or a simple one). */
function escapeBytes(c: Cursor): number[] {
  const kind = c.next();
  if (kind === 'x') {
    const hex = c.next() + c.next();
    return [Number.parseInt(hex, 16)];
  }
  const simple = SIMPLE[kind];
  if (simple === undefined) throw new Error(`an escape systemd does not read: \\${kind}`);
  return [...Buffer.from(simple, 'utf8')];
}

/** One word from the cursor (blanks skipped before it), or null at the end. */
function word(c: Cursor): string | null {
  while (!c.done && BLANK.test(c.peek())) c.next();
  if (c.done) return null;
  const bytes: number[] = [];
  let quote: string | null = null;
  while (!c.done && (quote !== null || !BLANK.test(c.peek()))) {
    const ch = c.next();
    if (quote === null && (ch === '"' || ch === "'")) quote = ch;
    else if (ch === quote) quote = null;
    else if (ch === '\\') bytes.push(...escapeBytes(c));
    else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  if (quote !== null) throw new Error('an unterminated quote');
  return Buffer.from(bytes).toString('utf8');
}

/** Splits a value into words as systemd does (EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE). */
function words(text: string): string[] {
  const c = new Cursor(text);
  const out: string[] = [];
  for (let w = word(c); w !== null; w = word(c)) out.push(w);
  return out;
}

/** `%%` → `%` (specifiers), and the caller's `$$` → `$` for Exec lines. */
function unspecify(text: string): string {
  return text.replaceAll('%%', '%');
}

/** The argv an `Exec*=` value runs (prefix characters such as `-` removed). */
export function execArgv(value: string): string[] {
  const stripped = value.replace(/^[-@:+!]+/, '');
  return words(stripped).map((w) => unspecify(w).replaceAll('$$', '$'));
}

/** `Environment=` assignments of a unit, in order. */
export function environment(directives: readonly Directive[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const d of directives) {
    if (d.key !== 'Environment') continue;
    for (const word of words(d.value)) {
      const text = unspecify(word);
      const eq = text.indexOf('=');
      env[text.slice(0, eq)] = text.slice(eq + 1);
    }
  }
  return env;
}
