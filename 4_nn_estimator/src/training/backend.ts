/**
 * TensorFlow.js backend selection: native tfjs-node (Docker image) -> WASM -> pure JS cpu.
 *
 * `@tensorflow/tfjs` resolves to its CommonJS build under Node (no "exports" map), the same
 * module instance tfjs-node `require`s and re-exports; and the tfjs engine and kernel registry are
 * process-global anyway. So every `tf` import in this service (layers and ops) runs on whichever
 * backend is registered and selected here.
 */
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

const BACKEND_ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

let initialisation: Promise<BackendName> | undefined;

export function isBackendName(value: unknown): value is BackendName {
  return typeof value === 'string' && (BACKEND_ORDER as readonly string[]).includes(value);
}

/**
 * Initialises a backend once per thread (idempotent: later calls return the first result).
 * `preferred` (e.g. from env TF_BACKEND) is tried first; on failure we fall through the default order.
 */
export function initBackend(preferred?: BackendName): Promise<BackendName> {
  initialisation ??= selectFirstWorkingBackend(preferred);
  return initialisation;
}

/** The backend tf is running on right now (may be 'cpu' before initBackend resolved). */
export function currentBackend(): string {
  return tf.getBackend();
}

async function selectFirstWorkingBackend(preferred?: BackendName): Promise<BackendName> {
  const order = preferred ? [preferred, ...BACKEND_ORDER.filter((b) => b !== preferred)] : BACKEND_ORDER;
  for (const name of order) {
    if (await tryBackend(name)) return name;
  }
  throw new Error('no TensorFlow.js backend could be initialised');
}

async function tryBackend(name: BackendName): Promise<boolean> {
  try {
    await registerBackendModule(name);
    const ok = await tf.setBackend(name);
    await tf.ready();
    return ok && tf.getBackend() === name;
  } catch {
    return false; // module absent (tfjs-node outside Docker) or failed to load: try the next one
  }
}

async function registerBackendModule(name: BackendName): Promise<void> {
  // A variable specifier keeps TypeScript from requiring the optional package at compile time.
  const moduleName = name === 'tensorflow' ? '@tensorflow/tfjs-node' : name === 'wasm' ? '@tensorflow/tfjs-backend-wasm' : undefined;
  if (moduleName) await import(moduleName);
}
