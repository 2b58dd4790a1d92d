/**
 * launchguard: start a stack of local services from a typed config, each
 * exactly once. This module is the public API.
 * @packageDocumentation
 */

export { type LaunchOptions, launch, type StackHandle } from './api.js';
export { defineConfig } from './config/define.js';
export { findConfigFile, type LoadConfigOptions, loadConfig } from './config/load.js';
export { DEFAULTS, resolveConfig } from './config/resolve.js';
export type * from './config/types.js';
export { type ConfigIssue, validateConfig } from './config/validate.js';
export {
  type ErrorCode,
  EXIT_CODES,
  isLaunchError,
  LaunchError,
  type LaunchErrorOptions,
} from './errors.js';
export type { DownResult } from './orchestrate/down.js';
export type { EventSink, StackEvent, StopReport } from './orchestrate/events.js';
export type { ServiceStopResult } from './orchestrate/stop-service.js';
export type { ServiceUp } from './orchestrate/up.js';
export type { ServiceStatus, StatusState } from './query/status.js';
