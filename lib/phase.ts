import { channel } from 'node:diagnostics_channel';

/** What is published on the `launchguard:phase` channel. */
interface PhaseMessage {
  /** `modules`, `config`, `preflight`, `spawned`, `ready`. */
  readonly phase: string;
  /** The service, for the phases of one service's start. */
  readonly service?: string;
  /** When the phase ended: epoch ms with sub-ms precision. */
  readonly at: number;
}

const phases = channel('launchguard:phase');

/**
 * Publishes the end of a phase of a command on the `launchguard:phase`
 * diagnostics channel ({@link PhaseMessage}), where `npm run bench` reads the
 * breakdown of `up -d` and anyone may subscribe (`diagnostics_channel`).
 * Free when nobody listens: nothing is kept.
 */
export function phase(name: string, service?: string): void {
  if (!phases.hasSubscribers) return;
  const message: PhaseMessage = {
    phase: name,
    at: performance.timeOrigin + performance.now(),
    ...(service === undefined ? {} : { service }),
  };
  phases.publish(message);
}
