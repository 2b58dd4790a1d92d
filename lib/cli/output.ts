import type { CliIO } from './context.js';

/** Errors that mean the reader of our output went away (a closed pipe, a gone terminal). */
const CLOSED = new Set(['EPIPE', 'EIO', 'ECONNRESET', 'ERR_STREAM_DESTROYED']);

/** A stream that drops writes once its reader has gone, instead of throwing or crashing. */
type Guarded = NodeJS.WritableStream & { isTTY?: boolean };

function guard(stream: Guarded, onClosed: () => void): Guarded {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    onClosed();
  };
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (CLOSED.has(error.code ?? '')) close();
  });
  return new Proxy(stream, {
    get(target, key, receiver) {
      if (key !== 'write') return Reflect.get(target, key, receiver);
      return (chunk: string | Uint8Array, ...rest: unknown[]) => {
        if (closed) return true;
        try {
          return (target.write as (...a: unknown[]) => boolean)(chunk, ...rest);
        } catch {
          close();
          return true;
        }
      };
    },
  });
}

/**
 * Guards the CLI's stdout and stderr: a write error because the reader went
 * away (`up | head -2`, a closed terminal, a `tee` killed by Ctrl-C) never
 * crashes the launcher. Later writes to that stream are dropped, and
 * `closed` aborts (reason `SIGHUP`): a foreground launcher treats it like a
 * hang-up and stops what it started; commands that own nothing just end.
 */
export function guardOutput(io: CliIO): { io: CliIO; closed: AbortSignal } {
  const closed = new AbortController();
  const onClosed = () => closed.abort('SIGHUP');
  return {
    io: { ...io, stdout: guard(io.stdout, onClosed), stderr: guard(io.stderr, onClosed) },
    closed: closed.signal,
  };
}
