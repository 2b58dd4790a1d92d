/** Visible width of a string, ignoring ANSI colour codes. */
function visibleWidth(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI escapes
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Formats rows as left-aligned columns separated by two spaces; trailing blanks trimmed. */
export function formatTable(rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleWidth(cell));
    });
  }
  return rows.map((row) => {
    const cells = row.map((cell, i) =>
      i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleWidth(cell)),
    );
    return (indent + cells.join('  ')).trimEnd();
  });
}
