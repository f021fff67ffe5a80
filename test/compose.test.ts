import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from './support/compose.ts';
import { freePort } from './support/private-postgres.ts';

/**
 * `docker compose up` of the real docker-compose.yaml, as a user runs it, in a Docker engine of the
 * test's own (ops/compose/dockerd.sh): local base images (ops/compose/local-images.sh: debootstrap
 * + Node 22 from the npm registry, Postgres and Prometheus from Debian packages, swapped in by
 * ops/compose/docker-compose.local-images.yaml), every service image built from its Dockerfile,
 * the bundled ^GSPC sample as the market data. Grafana has no local image and is not started.
 *
 * Needs root, Debian's docker.io, docker-compose and debootstrap, and 10-20 minutes: not part of
 * `npm test` (scripts/run-tests.sh leaves it out); run it with COMPOSE_TEST=1 (see ops/README.md).
 * COMPOSE=... picks the compose command ("docker-compose" v1 by default when installed, else
 * "docker compose"); COMPOSE_TEST_CACHE keeps the debootstrap root between runs;
 * COMPOSE_TEST_KEEP=1 leaves the engine running for a look after a failure;
 * COMPOSE_TEST_ENGINE=DIR reuses an engine started with `ops/compose/dockerd.sh start DIR` (its
 * images and build cache too) and leaves it running.
 */
const ENABLED = process.env.COMPOSE_TEST === '1';
const TOKEN = 'compose-test-token-0123456789';
const SERVICES = ['3_db', '2_load_data', '4_nn_estimator', '4_nn_estimator_worker', '1_shepherd', 'prometheus'] as const;
const NODE_SERVICES = ['2_load_data', '4_nn_estimator', '4_nn_estimator_worker', '1_shepherd'] as const;
type Service = (typeof SERVICES)[number];

const work = ENABLED ? mkdtempSync(path.join(tmpdir(), 'stocks-compose-')) : '';
const ownEngine = !process.env.COMPOSE_TEST_ENGINE;
const engineDir = process.env.COMPOSE_TEST_ENGINE ?? path.join(work, 'engine');
const DOCKER_HOST = `unix://${engineDir}/docker.sock`;
const project = `stockscompose${process.pid}`;
const startedAt = Date.now();
const timings: Array<[string, number]> = [];
let failed = false;

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFail?: boolean } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, {
      cwd: REPO_ROOT,
      env: opts.env ?? { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST },
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      if (code !== 0 && !opts.allowFail) reject(new Error(`${cmd} ${args.join(' ')} failed (${err?.message}):\n${out.slice(-6000)}`));
      else resolve({ code, out });
    });
  });
}

const docker = (args: string[], timeoutMs?: number) => run('docker', args, { timeoutMs }).then((r) => r.out.trim());

// What a user's .env says for this run; host ports are free ones so parallel runs do not collide.
const composeEnv: Record<string, string> = {
  API_TOKEN: TOKEN,
  // Grafana is not started (no local image) but compose reads the whole file: the variable is required.
  GRAFANA_ADMIN_PASSWORD: 'not-started-in-this-test',
  NODE_IMAGE: 'stocks-local/node:22',
  TFJS_NODE: 'optional',
  MARKET_DATA_SOURCE: 'sample',
  WATCHLIST: '^GSPC',
  // Small models, every epoch run (no early stopping), enough epochs to be killed in the middle:
  // with 15, once band models became cheaper, a training ended within the test's wait.
  TRAIN_EPOCHS: '60',
  TRAIN_PATIENCE: '1000',
  MODEL_WINDOW: '20',
  MODEL_UNITS: '8',
  TRAIN_MAX_BARS: '400',
  // A lease longer than a training, short enough that a job whose worker died is retried within the test.
  JOB_TIMEOUT_SECONDS: '90',
  QUEUE_MAINTENANCE_SECONDS: '2',
  JOB_POLL_INTERVAL_MS: '500',
  // Training on the worker replicas only: the API replicas answer, the killed worker was training.
  ESTIMATOR_ROLE: 'api',
  COMPOSE_PROJECT_NAME: project,
};

const COMPOSE = (process.env.COMPOSE ?? (onPath('docker-compose') ? 'docker-compose' : 'docker compose')).split(' ');

function compose(args: string[], timeoutMs = 300_000, allowFail = false) {
  const [cmd, ...pre] = COMPOSE;
  return run(cmd!, [...pre, '-f', 'docker-compose.yaml', '-f', 'ops/compose/docker-compose.local-images.yaml', ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST, ...composeEnv },
    timeoutMs,
    allowFail,
  });
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, bin)));
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    timings.push([name, Date.now() - t0]);
    console.error(`[compose] ${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

interface ContainerState {
  id: string;
  name: string;
  hostname: string;
  pid: number;
  status: string;
  health?: string;
  startedAt: string;
  restartCount: number;
  ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null>;
}

async function containers(service: Service): Promise<ContainerState[]> {
  const ids = (await docker(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`]))
    .split('\n').filter(Boolean);
  if (!ids.length) return [];
  const raw = JSON.parse(await docker(['inspect', ...ids])) as Array<{
    Id: string; Name: string; RestartCount: number;
    Config: { Hostname: string };
    State: { Status: string; Pid: number; StartedAt: string; Health?: { Status: string } };
    NetworkSettings: { Ports: ContainerState['ports'] };
  }>;
  return raw.map((c) => ({
    id: c.Id, name: c.Name.replace(/^\//, ''), hostname: c.Config.Hostname, pid: c.State.Pid, status: c.State.Status,
    health: c.State.Health?.Status, startedAt: c.State.StartedAt, restartCount: c.RestartCount, ports: c.NetworkSettings.Ports ?? {},
  }));
}

/** Every container of the services healthy (or, for a service without a healthcheck, running). */
async function allHealthy(expected: Partial<Record<Service, number>> = {}, timeoutMs = 240_000): Promise<void> {
  await waitFor('every container healthy', async () => {
    for (const s of SERVICES) {
      const cs = await containers(s);
      if (cs.length !== (expected[s] ?? 1)) return false;
      if (cs.some((c) => c.status !== 'running' || (c.health !== undefined && c.health !== 'healthy'))) return false;
    }
    return true;
  }, timeoutMs, 2000).catch(async (err) => {
    const states = await Promise.all(SERVICES.map(async (s) => (await containers(s)).map((c) => `${c.name}: ${c.status}/${c.health}`)));
    throw new Error(`${(err as Error).message}\n${states.flat().join('\n')}`);
  });
}

/** The host address of a container's published port: must be loopback by default. */
function published(c: ContainerState, port: number): string {
  const binding = c.ports[`${port}/tcp`]?.[0];
  assert.ok(binding, `${c.name} does not publish ${port}`);
  return `http://${binding.HostIp}:${binding.HostPort}`;
}

async function url(service: Service, port: number, index = 0): Promise<string> {
  const cs = await containers(service);
  assert.ok(cs[index], `no container ${index} of ${service}`);
  return published(cs[index]!, port);
}

async function http(method: string, target: string, body?: unknown, token?: string): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(target, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

async function psql(sql: string): Promise<string> {
  const [db] = await containers('3_db');
  return docker(['exec', db!.id, 'psql', '-U', 'postgres', '-d', 'stocks', '-tAc', sql]);
}

async function prometheusTargets(): Promise<Array<{ job: string; health: string; instance: string; lastError: string }>> {
  const r = await http('GET', `${await url('prometheus', 9090)}/api/v1/targets?state=active`);
  return r.json.data.activeTargets.map((t: any) => ({ job: t.labels.job, health: t.health, instance: t.labels.instance, lastError: t.lastError }));
}

/** Prometheus scrapes `want` targets of each job and every one is up. */
async function prometheusSeesAllUp(want: Record<string, number>): Promise<void> {
  let seen: Awaited<ReturnType<typeof prometheusTargets>> = [];
  await waitFor('Prometheus: every target up', async () => {
    seen = await prometheusTargets();
    return Object.entries(want).every(([job, n]) => seen.filter((t) => t.job === job && t.health === 'up').length === n)
      && seen.every((t) => t.health === 'up');
  }, 120_000, 3000).catch((err) => {
    throw new Error(`${(err as Error).message}\n${JSON.stringify(seen, null, 1)}`);
  });
}

/** Free host ports: `count` consecutive ones for the estimator's port range. */
async function freeRange(count: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const first = await freePort();
    const ok = await Promise.all(Array.from({ length: count }, (_, k) => canBind(first + k)));
    if (ok.every(Boolean)) return first;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

describe('docker compose up of docker-compose.yaml', {
  skip: !ENABLED && 'COMPOSE_TEST=1 runs it (root, docker.io, docker-compose, debootstrap; see ops/README.md)',
  concurrency: false,
}, () => {
  let firstJob = '';
  before(async () => {
    if (ownEngine) await step('start a private dockerd', () => run('bash', ['ops/compose/dockerd.sh', 'start', engineDir], { timeoutMs: 90_000 }));
    await step('local base images (debootstrap, Node 22, Postgres, Prometheus)', () => run('bash', ['ops/compose/local-images.sh'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST, COMPOSE_TEST_CACHE: process.env.COMPOSE_TEST_CACHE ?? path.join(work, 'cache') },
      timeoutMs: 20 * 60_000,
    }));
    const range = await freeRange(3);
    Object.assign(composeEnv, {
      LOAD_DATA_HOST_PORT: String(await freePort()),
      SHEPHERD_HOST_PORT: String(await freePort()),
      PROMETHEUS_HOST_PORT: String(await freePort()),
      POSTGRES_HOST_PORT: String(await freePort()),
      GRAFANA_HOST_PORT: String(await freePort()),
      ESTIMATOR_HOST_PORTS: `${range}-${range + 2}`,
    });
  });

  after(async () => {
    if (!ENABLED) return;
    if (failed) {
      const logs = await compose(['logs', '--no-color', '--tail', '60'], 60_000, true).catch((e) => ({ out: String(e) }));
      console.error(`[compose] logs after the failure:\n${logs.out.slice(-30_000)}`);
    }
    if (process.env.COMPOSE_TEST_KEEP === '1') {
      console.error(`[compose] kept: DOCKER_HOST=${DOCKER_HOST} project ${project}; stop with: bash ops/compose/dockerd.sh stop ${engineDir}`);
      return;
    }
    await step('down -v, stop dockerd, remove its data', async () => {
      await compose(['down', '-v', '--remove-orphans', '-t', '30'], 180_000, true);
      if (ownEngine) await run('bash', ['ops/compose/dockerd.sh', 'stop', engineDir], { timeoutMs: 120_000, allowFail: true });
      rmSync(work, { recursive: true, force: true });
    });
    const total = (Date.now() - startedAt) / 1000;
    console.error(`[compose] timings: ${timings.map(([n, ms]) => `${n} ${(ms / 1000).toFixed(0)} s`).join('; ')}`);
    console.error(`[compose] whole compose test: ${total.toFixed(0)} s`);
  });

  test('every service image builds from its Dockerfile (estimator once, for both roles)', { timeout: 30 * 60_000 }, async () => {
    // v1 builds one image after another unless told; v2 builds side by side anyway.
    await step('compose build', () => compose(['build', ...(COMPOSE[0] === 'docker-compose' ? ['--parallel'] : [])], 30 * 60_000));
    const images = await docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    for (const s of ['2_load_data', '4_nn_estimator', '1_shepherd']) assert.match(images, new RegExp(`^stocks/${s}:latest$`, 'm'));
    assert.doesNotMatch(images, /4_nn_estimator_worker/, 'the worker role has no image of its own');
  });

  test('up: every healthcheck turns healthy, published ports are on 127.0.0.1 only', { timeout: 10 * 60_000 }, async () => {
    await step('compose up -d', () => compose(['up', '-d', ...SERVICES], 10 * 60_000));
    await step('healthy', () => allHealthy());
    for (const s of SERVICES) {
      for (const c of await containers(s)) {
        for (const [port, bindings] of Object.entries(c.ports)) {
          for (const b of bindings ?? []) assert.equal(b.HostIp, '127.0.0.1', `${c.name} publishes ${port} on ${b.HostIp}`);
        }
      }
    }
    const logs = await docker(['logs', (await containers('4_nn_estimator'))[0]!.id]);
    assert.match(logs, /"backend":"wasm".*TensorFlow.js backend ready/, 'the estimator says it runs the wasm backend');
  });

  test("the shepherd's first run loads and trains ^GSPC", { timeout: 10 * 60_000 }, async () => {
    const shepherd = await url('1_shepherd', 8003);
    const run = await step('first shepherd run', () => waitFor('the first run to finish', async () => {
      const r = await http('GET', `${shepherd}/runs`);
      const first = r.json?.runs?.at(-1);
      return first && first.status !== 'running' ? first : undefined;
    }, 8 * 60_000, 2000));
    assert.equal(run.status, 'succeeded', JSON.stringify(run, null, 1));
    const steps = run.steps.map((s: { ticker: string; step: string; status: string }) => `${s.ticker} ${s.step} ${s.status}`);
    assert.ok(steps.some((s: string) => /^\^GSPC load succeeded/.test(s)), steps.join('\n'));
    assert.ok(steps.some((s: string) => /^\^GSPC train succeeded/.test(s)), steps.join('\n'));
    const models = await http('GET', `${await url('4_nn_estimator', 8002)}/models?ticker=%5EGSPC`);
    assert.equal(models.status, 200, models.text);
    assert.ok(models.json.models.some((m: { champion: boolean; backend: string }) => m.champion && m.backend === 'wasm'), models.text);
  });

  test('GET /predict answers through the published port', async () => {
    const r = await http('GET', `${await url('4_nn_estimator', 8002)}/predict?ticker=%5EGSPC&horizon=5`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ticker, '^GSPC');
    assert.equal(r.json.backend, 'wasm', 'the image says which backend runs');
    assert.equal(r.json.forecast.length, 5, r.text);
  });

  test('a write without the token is 401, with it 202', async () => {
    const estimator = await url('4_nn_estimator', 8002);
    const anonymous = await http('POST', `${estimator}/train`, { ticker: '^GSPC' });
    assert.equal(anonymous.status, 401, anonymous.text);
    const wrong = await http('POST', `${estimator}/train`, { ticker: '^GSPC' }, 'not-the-token-0123456789');
    assert.equal(wrong.status, 401, wrong.text);
    const ok = await http('POST', `${estimator}/train`, { ticker: '^GSPC' }, TOKEN);
    assert.equal(ok.status, 202, ok.text);
    firstJob = ok.json.job_id;
  });

  test('kill -9 of the worker container mid-training: it restarts and the job completes', { timeout: 10 * 60_000 }, async () => {
    assert.ok(firstJob, 'the previous test queued a training');
    const estimator = await url('4_nn_estimator', 8002);
    const job = () => http('GET', `${estimator}/jobs/${firstJob}`).then((r) => r.json);
    const running = await waitFor('the job to run', async () => ((await job()).status === 'running' ? true : undefined), 120_000, 100);
    assert.ok(running);
    const [worker] = await containers('4_nn_estimator_worker');
    const row = await psql(`SELECT worker FROM training_jobs WHERE id = '${firstJob}'`);
    assert.ok(row.startsWith(`${worker!.hostname}:`), `the worker container runs the job (${row} vs ${worker!.hostname})`);
    await new Promise((r) => setTimeout(r, 300)); // into the job
    assert.equal((await job()).status, 'running', 'still training when killed');
    // SIGKILL to the container's init from the host: a crash, not a `docker stop`, so the
    // restart policy applies.
    process.kill(worker!.pid, 'SIGKILL');
    await step('worker restarted and healthy', () => waitFor('the worker to restart', async () => {
      const [c] = await containers('4_nn_estimator_worker');
      return c && c.restartCount > worker!.restartCount && c.health === 'healthy';
    }, 180_000, 1000));
    const done = await step('killed job completed', () => waitFor('the job to finish', async () => {
      const j = await job();
      return ['succeeded', 'failed'].includes(j.status) ? j : undefined;
    }, 5 * 60_000, 1000));
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.ok(done.attempts >= 2, `the job was retried after the kill (attempts ${done.attempts})`);
    const versions = await psql(`SELECT count(*) FROM models WHERE job_id = '${firstJob}'`);
    assert.equal(versions, '1', 'one model version for the job, none from the dead attempt');
  });

  test('restarting the Postgres container: the services recover without restarting', { timeout: 10 * 60_000 }, async () => {
    const before = new Map<string, ContainerState>();
    for (const s of NODE_SERVICES) for (const c of await containers(s)) before.set(c.id, c);
    const [db] = await containers('3_db');
    await step('restart 3_db', () => docker(['restart', '-t', '30', db!.id], 120_000));
    await waitFor('3_db healthy', async () => (await containers('3_db'))[0]?.health === 'healthy', 120_000);
    for (const [s, port] of [['2_load_data', 8001], ['4_nn_estimator', 8002], ['1_shepherd', 8003]] as const) {
      const base = await url(s, port);
      await waitFor(`${s} ready again`, async () => (await http('GET', `${base}/health/ready`)).status === 200, 60_000);
    }
    const load = await http('POST', `${await url('2_load_data', 8001)}/load`, { ticker: '^GSPC', start_date: '2020-01-02', end_date: '2020-04-17' }, TOKEN);
    assert.equal(load.status, 200, load.text);
    const predict = await http('GET', `${await url('4_nn_estimator', 8002)}/predict?ticker=%5EGSPC`);
    assert.equal(predict.status, 200, predict.text);
    const run = await http('POST', `${await url('1_shepherd', 8003)}/run`, {}, TOKEN);
    assert.equal(run.status, 202, run.text);
    for (const s of NODE_SERVICES) {
      for (const c of await containers(s)) {
        const was = before.get(c.id);
        assert.ok(was, `${c.name} is a new container`);
        assert.equal(c.startedAt, was.startedAt, `${c.name} was restarted`);
        assert.equal(c.restartCount, was.restartCount, `${c.name} was restarted`);
      }
    }
  });

  test('the backtest CLI runs inside the estimator image', { timeout: 10 * 60_000 }, async () => {
    const help = await compose(['exec', '-T', '4_nn_estimator', 'npm', 'run', '--silent', 'backtest', '--', '--help'], 120_000);
    assert.match(help.out, /--ticker T/);
    const run = await step('backtest in the container', () => compose(['exec', '-T', '4_nn_estimator', 'npm', 'run', '--silent', 'backtest', '--',
      '--ticker', '^GSPC', '--origins', '3', '--horizon', '5', '--epochs', '2', '--window', '20', '--units', '8', '--max-bars', '300'], 8 * 60_000));
    assert.match(run.out, /backtest: origin 3\/3/, 'progress is printed');
    assert.match(run.out, /stored as backtest \d+/, run.out.slice(-3000));
    const stored = await http('GET', `${await url('4_nn_estimator', 8002)}/backtests?ticker=%5EGSPC`);
    assert.equal(stored.status, 200, stored.text);
  });

  test('Prometheus (the real ops/prometheus config) reports every target up', { timeout: 5 * 60_000 }, async () => {
    await step('prometheus targets up', () => prometheusSeesAllUp({ prometheus: 1, '2_load_data': 1, '4_nn_estimator': 1, '4_nn_estimator_worker': 1, '1_shepherd': 1 }));
  });

  test('--scale of the estimator and the worker', { timeout: 10 * 60_000 }, async () => {
    await step('scale to 2 + 2', () => compose(['up', '-d', '--no-build', '--scale', '4_nn_estimator=2', '--scale', '4_nn_estimator_worker=2', ...SERVICES], 5 * 60_000));
    await step('scaled healthy', () => allHealthy({ '4_nn_estimator': 2, '4_nn_estimator_worker': 2 }));
    const replicas = await containers('4_nn_estimator');
    const ports = new Set(replicas.map((c) => published(c, 8002)));
    assert.equal(ports.size, 2, 'each API replica has its own host port');
    for (const base of ports) {
      const r = await http('GET', `${base}/predict?ticker=%5EGSPC`);
      assert.equal(r.status, 200, `${base}: ${r.text}`);
    }
    await step('prometheus sees the replicas', () => prometheusSeesAllUp({ prometheus: 1, '2_load_data': 1, '4_nn_estimator': 2, '4_nn_estimator_worker': 2, '1_shepherd': 1 }));
  });

  test('down then up keeps prices, models and runs (named volume)', { timeout: 10 * 60_000 }, async () => {
    const counts = async () => ({
      prices: await psql(`SELECT count(*) FROM prices WHERE ticker = '^GSPC'`),
      models: await psql(`SELECT string_agg(version::text, ',' ORDER BY version) FROM models WHERE ticker = '^GSPC'`),
      runs: await psql(`SELECT string_agg(id::text, ',' ORDER BY id) FROM shepherd_runs`),
    });
    const was = await counts();
    assert.ok(Number(was.prices) > 0 && was.models && was.runs, JSON.stringify(was));
    await step('compose down', () => compose(['down', '-t', '30'], 5 * 60_000));
    assert.equal((await containers('3_db')).length, 0, 'down removed the containers');
    await step('compose up again', () => compose(['up', '-d', '--no-build', ...SERVICES], 5 * 60_000));
    await step('healthy again', () => allHealthy());
    const now = await counts();
    assert.equal(now.prices, was.prices);
    assert.equal(now.models, was.models);
    assert.ok(now.runs.startsWith(was.runs), `runs before down (${was.runs}) still there (${now.runs})`);
    const r = await http('GET', `${await url('4_nn_estimator', 8002)}/predict?ticker=%5EGSPC`);
    assert.equal(r.status, 200, r.text);
  });
});
