import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type ServiceName = 'load_data' | 'nn_estimator' | 'shepherd';
const ENTRY: Record<ServiceName, string> = {
  load_data: '2_load_data/src/server.ts',
  nn_estimator: '4_nn_estimator/src/server.ts',
  shepherd: '1_shepherd/src/server.ts',
};

export interface RunningService {
  name: ServiceName;
  url: string;
  process: ChildProcess;
  /** Everything the process printed, for failure messages. */
  output(): string;
}

/** Start one service as its own Node process, the way `npm start` and the images do. */
export async function startService(name: ServiceName, port: number, env: NodeJS.ProcessEnv): Promise<RunningService> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY[name]], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => { out = (out + d).slice(-200_000); });
  child.stderr!.on('data', (d) => { out = (out + d).slice(-200_000); });
  const service: RunningService = { name, url: `http://127.0.0.1:${port}`, process: child, output: () => out };
  await waitUntilReady(service);
  return service;
}

async function waitUntilReady(s: RunningService, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (s.process.exitCode !== null) throw new Error(`${s.name} exited with ${s.process.exitCode}:\n${s.output().slice(-3000)}`);
    try {
      if ((await fetch(`${s.url}/health/ready`)).ok) return;
    } catch {
      /* not yet listening */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${s.name} not ready after ${timeoutMs} ms:\n${s.output().slice(-3000)}`);
}

/** SIGTERM (graceful shutdown), then SIGKILL if it lingers. */
export async function stopService(s: RunningService, graceMs = 20_000): Promise<number | null> {
  // A process killed by a signal has exitCode null and signalCode set: it is gone all the same.
  if (s.process.exitCode !== null || s.process.signalCode !== null) return s.process.exitCode;
  const exited = new Promise<number | null>((r) => s.process.once('exit', (code) => r(code)));
  s.process.kill('SIGTERM');
  const timer = setTimeout(() => s.process.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

export async function getJson<T = any>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
