/**
 * `npm start`: the whole product as local processes, no Docker and no internet needed.
 * Defaults to the bundled S&P 500 sample; set MARKET_DATA_SOURCE=yahoo (internet) or
 * MARKET_DATA_SOURCE=csv MARKET_DATA_DIR=<folder> to change it. Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('..', import.meta.url));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/stocks',
  MARKET_DATA_SOURCE: process.env.MARKET_DATA_SOURCE ?? 'sample',
  WATCHLIST: process.env.WATCHLIST ?? '^GSPC',
  LOAD_DATA_URL: process.env.LOAD_DATA_URL ?? 'http://127.0.0.1:8001',
  ESTIMATOR_URL: process.env.ESTIMATOR_URL ?? 'http://127.0.0.1:8002',
};

const services = [
  { name: 'load_data', dir: '2_load_data', port: 8001 },
  { name: 'nn_estimator', dir: '4_nn_estimator', port: 8002 },
  { name: 'shepherd', dir: '1_shepherd', port: 8003 },
] as const;

const children: ChildProcess[] = [];
let stopping = false;

function start(service: (typeof services)[number]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', `${service.dir}/src/server.ts`], {
    cwd: root,
    env: { ...env, PORT: String(service.port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`[start] ${service.name} exited (${signal ?? code}); stopping the others`);
    void stopAll(1);
  });
  children.push(child);
  return child;
}

async function waitReady(port: number, name: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${name} was not ready on port ${port} after ${timeoutMs / 1000} s`);
}

async function stopAll(code: number): Promise<void> {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  process.exit(code);
}

async function checkDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.end();
  } catch (err) {
    console.error(`[start] Postgres is not reachable at ${admin.host}: ${(err as Error).message}
  Start it (e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set DATABASE_URL.`);
    process.exit(1);
  }
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

await checkDatabase(env.DATABASE_URL!);
console.log(`[start] source=${env.MARKET_DATA_SOURCE} watchlist=${env.WATCHLIST}`);
// The loader and the estimator first, so the shepherd's startup run finds them.
const [loader, estimator, shepherd] = services;
start(loader);
start(estimator);
await Promise.all([waitReady(loader.port, loader.name), waitReady(estimator.port, estimator.name)]);
start(shepherd);
await waitReady(shepherd.port, shepherd.name);
console.log(`[start] all services up:
  load_data     http://127.0.0.1:8001/docs
  nn_estimator  http://127.0.0.1:8002/docs
  shepherd      http://127.0.0.1:8003/runs
The shepherd's first run is loading and training now. Then:
  curl 'http://127.0.0.1:8002/predict?ticker=%5EGSPC&horizon=5'`);
