/** Characters that only a shell understands; outside quotes they need `shell: true`. */
const SHELL_OPERATORS = new Set(['|', '&', ';', '<', '>', '(', ')', '`']);

/** The result of {@link splitCommand}: an argv, or why the string cannot be split. */
export type SplitResult = { argv: string[] } | { error: string };

/**
 * Splits a command string into argv the way a POSIX shell would, without
 * running a shell: whitespace separates words, `'...'` is literal, `"..."`
 * honours `\"`, `\\`, `\$` and `` \` ``, and a backslash outside quotes escapes
 * the next character. Shell operators (`|`, `&&`, `;`, `>`...) outside quotes
 * are refused, because without a shell they would reach the program as plain
 * arguments.
 */
export function splitCommand(command: string): SplitResult {
  const argv: string[] = [];
  let word: string | null = null; // null: between words
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < command.length; i++) {
    const ch = command.charAt(i);
    if (quote !== null) {
      const step = insideQuote(quote, command, i);
      quote = step.quote;
      word = (word ?? '') + step.text;
      i = step.next;
      continue;
    }
    const step = outsideQuote(command, i);
    if ('error' in step) return step;
    if (step.kind === 'space') {
      if (word !== null) argv.push(word);
      word = null;
    } else {
      if (step.kind === 'quote') quote = ch as "'" | '"';
      word = (word ?? '') + step.text;
      i = step.next;
    }
  }
  if (quote !== null) return { error: `has an unterminated ${quote} quote` };
  if (word !== null) argv.push(word);
  if (argv.length === 0) return { error: 'is empty' };
  return { argv };
}

/** One character outside quotes at `i`: a word break, a quote opening, or text for the word. */
function outsideQuote(
  command: string,
  i: number,
): { kind: 'space' } | { kind: 'quote' | 'text'; text: string; next: number } | { error: string } {
  const ch = command.charAt(i);
  if (ch === "'" || ch === '"') return { kind: 'quote', text: '', next: i };
  if (ch === '\\') {
    if (i + 1 >= command.length) return { error: 'ends with a lone backslash' };
    return { kind: 'text', text: command.charAt(i + 1), next: i + 1 };
  }
  if (/\s/.test(ch)) return { kind: 'space' };
  if (SHELL_OPERATORS.has(ch)) return { error: `uses the shell operator '${ch}'` };
  return { kind: 'text', text: ch, next: i };
}

/**
 * One character inside quotes at `i`: the text it adds, whether the quote
 * stays open, and the index it ends at (a backslash escape in `"..."` takes two).
 */
function insideQuote(
  quote: "'" | '"',
  command: string,
  i: number,
): { quote: "'" | '"' | null; text: string; next: number } {
  const ch = command.charAt(i);
  if (ch === quote) return { quote: null, text: '', next: i };
  if (quote === '"' && ch === '\\' && '"\\$`'.includes(command.charAt(i + 1)))
    return { quote, text: command.charAt(i + 1), next: i + 1 };
  return { quote, text: ch, next: i };
}
