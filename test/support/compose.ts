import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface ComposeService {
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
}

/** docker-compose.yaml as compose would read it: YAML merge keys resolved. */
export function readCompose(): { services: Record<string, ComposeService> } {
  return parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yaml'), 'utf8'), { merge: true });
}

/** Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `${VAR:?message}` against `env`. */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?:(:?)([-?])([^}]*))?\}/g, (_m, name: string, colon: string, op: string, arg: string) => {
    const v = env[name];
    const unset = v === undefined || (colon === ':' && v === '');
    if (op === '?' && unset) throw new Error(`compose needs ${name}: ${arg}`);
    if (op === '-' && unset) return arg;
    return v ?? '';
  });
}

/** The environment compose gives a service, for a given .env. */
export function composeEnvironment(service: string, dotenv: Record<string, string>): Record<string, string> {
  const spec = readCompose().services[service];
  if (!spec) throw new Error(`no service ${service} in docker-compose.yaml`);
  return Object.fromEntries(
    Object.entries(spec.environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ''), dotenv)]),
  );
}
