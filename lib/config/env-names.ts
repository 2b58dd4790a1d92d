/**
 * `<NAME>_PORT` for a service: its name upper-cased, every non-alphanumeric
 * character turned into `_` (`my-api` → `MY_API_PORT`).
 */
export function portEnvName(service: string): string {
  return `${envStem(service)}_PORT`;
}

/** `<NAME>_URL` for a service (`my-api` → `MY_API_URL`). */
export function urlEnvName(service: string): string {
  return `${envStem(service)}_URL`;
}

function envStem(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
