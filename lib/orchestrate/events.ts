import type { StopReport } from '../process/stop.js';
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
  | { readonly type: 'completed'; readonly service: string }
  | { readonly type: 'failed'; readonly service: string; readonly error: unknown }
  /** Not started because a dependency failed (or the start was aborted). */
  | { readonly type: 'skipped'; readonly service: string; readonly reason: string }
  /** Something launchguard cleaned up or replaced on the way, in words. */
  | { readonly type: 'note'; readonly service: string; readonly text: string }
  | { readonly type: 'stopping'; readonly service: string }
  | { readonly type: 'stopped'; readonly service: string; readonly report: StopReport | null };

/** Receives engine events. */
export type EventSink = (event: StackEvent) => void;
