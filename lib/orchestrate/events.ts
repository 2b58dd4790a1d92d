import type { ExitInfo } from '../exit.js';
import type { StopReport } from '../process/stop.js';

export type { StopReport } from '../process/stop.js';

import type { ServiceRecord } from '../state/record.js';

/**
 * What the engine reports while it works, for progress displays and logs.
 * Library users get the same events through `onEvent`.
 */
export type StackEvent =
  /** Waiting for dependencies to reach their conditions. */
  | { readonly type: 'waiting'; readonly service: string; readonly on: readonly string[] }
  /** Lock, state, pre-flight and spawn are under way. */
  | { readonly type: 'starting'; readonly service: string }
  /** Spawned (or found running); readiness is next. */
  | {
      readonly type: 'spawned';
      readonly service: string;
      readonly record: ServiceRecord;
      readonly kept: boolean;
    }
  | {
      readonly type: 'ready';
      readonly service: string;
      readonly ms: number;
      readonly kept: boolean;
    }
  /** A one-shot task exited 0. */
  /** A one-shot task exited 0 (`earlier`: it had, with this config, and was not run again). */
  | { readonly type: 'completed'; readonly service: string; readonly earlier?: boolean }
  | { readonly type: 'failed'; readonly service: string; readonly error: unknown }
  /** Not started because a dependency failed (or the start was aborted). */
  | { readonly type: 'skipped'; readonly service: string; readonly reason: string }
  /** Something launchguard cleaned up or replaced on the way, in words. */
  | { readonly type: 'note'; readonly service: string; readonly text: string }
  /**
   * A service this launcher watched was stopped by `launchguard down` (which
   * ended this launcher's lease on it): not restarted, whatever its policy.
   */
  | { readonly type: 'taken-down'; readonly service: string }
  /**
   * A service this launcher watched was replaced by another launcher
   * (`restart`, `up --replace`): the new instance (`record`) is that one's.
   */
  | { readonly type: 'replaced'; readonly service: string; readonly record: ServiceRecord }
  /** A service this launcher started exited, and its restart policy does not restart it. */
  | { readonly type: 'exited'; readonly service: string; readonly exit: ExitInfo }
  /** A service exited and is started again after `delayMs` (restart `attempt` in a row). */
  | {
      readonly type: 'restarting';
      readonly service: string;
      readonly exit: ExitInfo;
      readonly attempt: number;
      /** The service's `maxRestarts`. */
      readonly max: number;
      readonly delayMs: number;
    }
  /** A restarted service is ready again. */
  | { readonly type: 'restarted'; readonly service: string; readonly record: ServiceRecord }
  /** A restart failed (the service is left stopped). */
  | { readonly type: 'restart-failed'; readonly service: string; readonly error: unknown }
  /** A service exited again after `restarts` restarts in a row: left stopped. */
  | {
      readonly type: 'crash-loop';
      readonly service: string;
      readonly exit: ExitInfo;
      readonly restarts: number;
    }
  /** Its liveness check (`health`) failed `failures` times in a row (`reason`: the last). */
  | { readonly type: 'unhealthy'; readonly service: string; readonly reason: string }
  /** Its liveness check passes (again). */
  | { readonly type: 'healthy'; readonly service: string }
  /** A file its `watch` covers changed: it is restarted (not counted as a failure). */
  | { readonly type: 'changed'; readonly service: string; readonly file: string }
  | { readonly type: 'stopping'; readonly service: string }
  | { readonly type: 'stopped'; readonly service: string; readonly report: StopReport | null };

/** Receives engine events. */
export type EventSink = (event: StackEvent) => void;
