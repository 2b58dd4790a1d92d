/** Pure formatting used by every layer (messages, reports). */

/** A duration in ms as a short human string: `250 ms`, `30 s`, `1.5 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}

/** A file mode as `ls -l`'s octal: `0o755` → `0755`. */
export function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, min: 60_000 };

/**
 * A positive duration typed by a user, in ms: a plain number is milliseconds
 * (`30000`), or a number with a unit (`500ms`, `30s`, `2m`, `1.5min`).
 * Null for anything else (zero, negative, `10 sec`, `abc`).
 */
export function parseDuration(raw: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*$/.exec(raw);
  if (m === null) return null;
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/**
 * `text` with every control character (U+0000-U+001F, U+007F) as a `\xHH`
 * escape: one line, whatever it holds, for generated files where a line break
 * would end a directive or a comment (systemd reads `\xHH` back in quoted words).
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROLS = /[\u0000-\u001f\u007f]/g;

/**
 * True if `text` holds a code point that is not a Unicode scalar meant for
 * interchange: a lone surrogate, or a noncharacter (U+FDD0-U+FDEF, and
 * U+xFFFE/U+xFFFF of every plane). systemd ignores a whole assignment that
 * holds one ("not UTF-8 clean"), and YAML readers refuse them.
 */
export function hasNonCharacter(text: string): boolean {
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (
      (cp >= 0xd800 && cp <= 0xdfff) ||
      (cp >= 0xfdd0 && cp <= 0xfdef) ||
      (cp & 0xfffe) === 0xfffe
    )
      return true;
  }
  return false;
}
