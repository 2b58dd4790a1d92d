import type { ProcessInspector } from '../../lib/os/inspector.js';
import type { Listener, ProcInfo } from '../../lib/os/proc.js';

/** One process of a fake process table. */
export interface FakeProcess {
  readonly pid: number;
  readonly ppid?: number;
  readonly pgid?: number;
  readonly sid?: number;
  readonly uid?: number;
  readonly startTime?: string;
  readonly state?: string;
  readonly argv?: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Ports it listens on (IPv4 loopback). */
  readonly listens?: readonly number[];
  /** The systemd unit it runs in (`name.service`). */
  readonly unit?: string;
  /** Signals it survives (a service that ignores SIGTERM); SIGKILL always works. */
  readonly ignores?: readonly NodeJS.Signals[];
  /** When it exits it stays a zombie (an init that reaps slowly), until the test reaps it. */
  readonly unreaped?: boolean;
}

/**
 * A process table and listener table in memory, behind the real
 * `ProcessInspector` interface: for unit tests of decisions (who may be
 * signalled, who holds a port) without real processes. `kill` removes a
 * process the way a prompt SIGTERM would, and records every call.
 */
export class FakeOs implements ProcessInspector {
  readonly platform = 'linux' as const;
  readonly backend = 'proc' as const;
  readonly canVerify = true;
  readonly completeListeners = true;
  readonly #procs = new Map<number, FakeProcess>();
  /** Every signal sent through {@link kill}: `[pid (negative: a group), signal]`; probes (0) not included. */
  readonly signals: [number, NodeJS.Signals][] = [];

  constructor(processes: readonly FakeProcess[] = []) {
    for (const p of processes) this.add(p);
  }

  add(p: FakeProcess): this {
    this.#procs.set(p.pid, p);
    return this;
  }

  remove(pid: number): void {
    this.#procs.delete(pid);
  }

  /** A `kill` for `stopInstance`: records the call; the target exits at once. */
  readonly kill = (pid: number, signal: NodeJS.Signals | 0): void => {
    const targets =
      pid < 0 ? [...this.#procs.values()].filter((p) => this.#info(p).pgid === -pid) : [];
    if (pid > 0 && this.#procs.has(pid)) targets.push(this.#procs.get(pid) as FakeProcess);
    if (targets.length === 0) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
    if (signal === 0) return;
    this.signals.push([pid, signal]);
    for (const t of targets) {
      if (t.ignores?.includes(signal)) continue;
      if (t.unreaped) this.#procs.set(t.pid, { ...t, state: 'Z', listens: [] });
      else this.#procs.delete(t.pid);
    }
  };

  #info(p: FakeProcess): ProcInfo {
    return {
      pid: p.pid,
      ppid: p.ppid ?? 1,
      pgid: p.pgid ?? p.pid,
      sid: p.sid ?? p.pid,
      uid: p.uid ?? process.geteuid?.() ?? 0,
      startTime: p.startTime ?? String(1000 + p.pid),
      state: p.state ?? 'S',
      comm: (p.argv?.[0] ?? 'fake').split('/').pop() ?? 'fake',
    };
  }

  lookup(pid: number) {
    const p = this.#procs.get(pid);
    return p === undefined
      ? ({ kind: 'gone' } as const)
      : ({ kind: 'alive', info: this.#info(p) } as const);
  }

  exists(pid: number): boolean {
    return this.#procs.has(pid);
  }

  cmdline(pid: number): string[] | null {
    const argv = this.#procs.get(pid)?.argv;
    return argv === undefined ? null : [...argv];
  }

  cwd(pid: number): string | null {
    return this.#procs.get(pid)?.cwd ?? null;
  }

  environ(pid: number, name: string): string | null {
    return this.#procs.get(pid)?.env?.[name] ?? null;
  }

  unit(pid: number): { unit: string; user: boolean } | null {
    const unit = this.#procs.get(pid)?.unit;
    return unit === undefined ? null : { unit, user: false };
  }

  listPids(): number[] {
    return [...this.#procs.keys()];
  }

  bootId(): string {
    return 'fake-boot';
  }

  pidNamespace(): string {
    return 'pid:[1]';
  }

  pidMax(): number {
    return 4_194_304;
  }

  listeners(port?: number, family?: 4 | 6): Listener[] {
    if (family === 6) return [];
    return [...this.#procs.values()].flatMap((p) =>
      (p.listens ?? [])
        .filter((l) => port === undefined || l === port)
        .map((l) => ({
          port: l,
          address: '127.0.0.1',
          family: 4 as const,
          inode: 0,
          pids: [p.pid],
          uid: this.#info(p).uid,
        })),
    );
  }

  holders(listeners: readonly Listener[], pids?: Iterable<number>): number[] {
    const held = new Set(listeners.flatMap((l) => l.pids ?? []));
    return [...(pids ?? this.#procs.keys())].filter((p) => held.has(p) && this.#procs.has(p));
  }
}
