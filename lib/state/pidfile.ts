/** The result of {@link parsePidText}. */
export type PidParse = { readonly pid: number } | { readonly error: string };

/**
 * Parses a PID file strictly: decimal digits, optionally surrounded by spaces
 * and one trailing newline. `Number('')` is 0 and `kill(0)` signals our own
 * process group, so empty, 0, 1, negatives, `12abc`, `12.5`, `0x1A`, NUL bytes,
 * several lines, CRLF, a BOM and PIDs above `pidMax` are all refused.
 */
export function parsePidText(text: string, pidMax: number): PidParse {
  if (text.length === 0) return { error: 'the file is empty' };
  if (text.includes('\0')) return { error: 'it contains NUL bytes' };
  if (text.charCodeAt(0) === 0xfeff) return { error: 'it starts with a byte order mark' };
  if (text.includes('\r')) return { error: 'it has a carriage return (CRLF)' };
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (body.includes('\n')) return { error: 'it has more than one line' };
  const trimmed = body.trim();
  if (!/^\d+$/.test(trimmed)) return { error: `'${trimmed.slice(0, 20)}' is not a decimal PID` };
  if (trimmed.length > 10) return { error: `PID ${trimmed.slice(0, 12)}… is out of range` };
  const pid = Number(trimmed);
  if (pid <= 1) return { error: `PID ${pid} is never a service` };
  if (pid > pidMax) return { error: `PID ${pid} is above the system's maximum (${pidMax})` };
  return { pid };
}

/** The PID file content for `pid`: the decimal PID and a newline, nothing else. */
export function formatPid(pid: number): string {
  return `${pid}\n`;
}
