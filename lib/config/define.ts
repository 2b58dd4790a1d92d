import type { ConfigEnv, ConfigExport, UserConfig } from './types.js';

/**
 * Declares a launchguard config with full typing. It returns its argument
 * unchanged; its only job is to let an editor check and explain every field.
 *
 * @example
 * ```ts
 * import { defineConfig } from 'launchguard';
 * export default defineConfig({
 *   services: {
 *     backend: { command: 'node server.js', port: 8001, ready: { http: '/health' } },
 *     frontend: { command: 'npm run dev', port: 3000, dependsOn: ['backend'] },
 *   },
 * });
 * ```
 */
export function defineConfig(config: UserConfig): UserConfig;
export function defineConfig(
  config: (env: ConfigEnv) => UserConfig | Promise<UserConfig>,
): (env: ConfigEnv) => UserConfig | Promise<UserConfig>;
export function defineConfig(config: ConfigExport): ConfigExport {
  return config;
}
