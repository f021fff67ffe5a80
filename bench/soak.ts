/**
 * npm run bench:soak — mixed traffic for a bounded time while trainings run, then: req/s, p99,
 * errors (target 0) and the services' RSS at start and end (target: growth <= 10%).
 *
 * The services run as processes on the csv source (RATE_LIMIT_PER_MINUTE=0): 2_load_data and
 * 4_nn_estimator (role both: it serves AND trains, the harder case). After a warm-up of both with
 * the same traffic (SOAK_WARMUP_SECONDS, default 15), for SOAK_SECONDS (default 60):
 *   - estimator: 12 connections cycling 9 x GET /predict (3 tickers, several horizons) and
 *     1 x POST /predict (a 120-bar history);
 *   - loader: 2 connections at SOAK_LOAD_RATE (default 5) POST /load per second (ranges that are
 *     already stored: real upserts, 0 inserted);
 *   - trainings back to back: every time one ends another POST /train starts (each full training
 *     promotes a champion, so the forecast cache is invalidated and refilled under load).
 * RSS is read from /proc/<pid>/status (VmRSS) every 500 ms: peak of the first quarter vs the last.
 *
 * `--faults` (npm run bench:soak -- --faults): a second, worker-only estimator joins, and during the
 * soak every database session of the services is terminated (at 1/4), a CSV upload stalls after
 * 5,200 rows (at 2/5) and the extra worker is killed with SIGKILL (at 3/5, its job retried after a
 * short lease). Then: lost rows (prices stored before the soak and gone after; target 0),
 * duplicate versions (more than one model version per job; target 0) and each process's uptime
 * (the loader and the serving estimator must never have restarted). Errors answered while the
 * connections were down (503 + Retry-After) are counted and shown, not a target in this mode.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import autocannon from 'autocannon';
import { createTestDatabase } from '@stocks/db/testing';
import { MARKET_DATA_DIR, readMarketData } from '../test/support/market-data.ts';
import { waitFor } from '../test/support/faults.ts';
import { freePort } from '../test/support/private-postgres.ts';
import { getJson, type RunningService, startService, stopService } from '../test/support/stack.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const WARMUP_SECONDS = Number(process.env.SOAK_WARMUP_SECONDS ?? 15);
const LOAD_RATE = Number(process.env.SOAK_LOAD_RATE ?? 5);
const TICKERS = ['AAPL', 'MSFT', 'NVDA'];
const FAULTS = process.argv.includes('--faults');
const MODEL = { TRAIN_EPOCHS: process.env.SOAK_EPOCHS ?? '8', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '500' };

const rssMb = (s: RunningService) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.process.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

const post = (url: string, body: unknown) => getJson(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A job's final status; a job stuck for 10 minutes fails the bench instead of hanging it. */
function waitJob(estimator: RunningService, id: string): Promise<string> {
  return waitFor(`job ${id} to finish`, async () => {
    const { status } = (await getJson(`${estimator.url}/jobs/${id}`)).body as { status: string };
    return status === 'succeeded' || status === 'failed' ? status : undefined;
  }, { timeoutMs: 600_000, intervalMs: 250, describe: () => estimator.output().slice(-2000) });
}

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

async function main(): Promise<void> {
  const db = await createTestDatabase('stocks_bench_soak');
  const services: RunningService[] = [];
  try {
    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0', PREDICT_RATE_LIMIT_PER_MINUTE: '0' };
    const loader = await startService('load_data', await freePort(), { ...common, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR });
    services.push(loader);
    // With faults, a short lease and frequent maintenance: the killed worker's job is retried soon.
    const lease = FAULTS ? { JOB_TIMEOUT_SECONDS: '60', QUEUE_MAINTENANCE_SECONDS: '2' } : {};
    const estimator = await startService('nn_estimator', await freePort(), { ...common, ...MODEL, ...lease, ESTIMATOR_ROLE: 'both' });
    services.push(estimator);
    const extraWorker = FAULTS ? await startService('nn_estimator', await freePort(), { ...common, ...MODEL, ...lease, ESTIMATOR_ROLE: 'worker' }) : undefined;
    if (extraWorker) services.push(extraWorker);
    const started = new Map(services.map((s) => [s, Date.now()]));

    for (const ticker of TICKERS) {
      const res = await post(`${loader.url}/load`, { ticker, start_date: '2021-01-01', end_date: '2023-12-29' });
      if (res.status !== 200) throw new Error(`load ${ticker}: ${res.status} ${JSON.stringify(res.body)}`);
      const job = await post(`${estimator.url}/train`, { ticker });
      if ((await waitJob(estimator, job.body.job_id)) !== 'succeeded') throw new Error(`first training of ${ticker} failed`);
    }
    const history = (await readMarketData('AAPL')).slice(-120).map((b) => ({ date: b.date, close: b.close }));
    const predictBody = JSON.stringify({ ticker: 'AAPL', horizon: 5, bars: history });
    const requests: autocannon.Request[] = [];
    for (let i = 0; i < 9; i++) requests.push({ method: 'GET', path: `/predict?ticker=${encodeURIComponent(TICKERS[i % 3]!)}&horizon=${[1, 5, 30][Math.floor(i / 3)]}` });
    requests.push({ method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, body: predictBody });
    const loads: autocannon.Request[] = TICKERS.map((ticker) => ({
      method: 'POST', path: '/load', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ticker, start_date: '2023-10-02', end_date: '2023-12-29' }),
    }));

    // Warm-up of both services with the soak's own mix (JIT, connection pools, forecast caches,
    // heaps growing to their working size) before RSS is sampled: a 60 s soak's first quarter
    // otherwise still holds the loader's warm-up (+10% on its own), which is not a leak.
    await Promise.all([
      cannon({ url: estimator.url, connections: 12, duration: WARMUP_SECONDS, requests }),
      cannon({ url: loader.url, connections: 2, duration: WARMUP_SECONDS, overallRate: LOAD_RATE, requests: loads }),
    ]);
    // RSS sampled every 500 ms. A training's worker thread (its own V8 isolate and wasm heap)
    // comes and goes, so one sample says little: start = the peak over the first quarter of the
    // soak (a training included), end = the peak over the last quarter. A leak raises the latter.
    const samples: Array<{ t: number; estimator: number; loader: number }> = [];
    const t0 = Date.now();
    const sampler = setInterval(() => samples.push({ t: Date.now() - t0, estimator: rssMb(estimator), loader: rssMb(loader) }), 500);

    let soaking = true;
    let trainings = 0;
    let trainingFailures = 0;
    const trainer = (async () => {
      let i = 0;
      while (soaking) {
        const job = await post(`${estimator.url}/train`, { ticker: TICKERS[i++ % TICKERS.length] });
        if (job.status !== 202) { trainingFailures++; continue; }
        if ((await waitJob(estimator, job.body.job_id)) === 'succeeded') trainings++;
        else trainingFailures++;
      }
    })();
    console.log(`bench:soak — ${SECONDS} s of mixed traffic while trainings run back to back (epochs ${MODEL.TRAIN_EPOCHS})${FAULTS ? ', with faults' : ''}`);
    const storedBefore = await pricesFingerprint(db.pool);
    const faults = FAULTS ? injectFaults(db.pool, loader, extraWorker!) : undefined;
    const [predict, load] = await Promise.all([
      cannon({ url: estimator.url, connections: 12, duration: SECONDS, requests }),
      cannon({ url: loader.url, connections: 2, duration: SECONDS, overallRate: LOAD_RATE, requests: loads }),
    ]);
    soaking = false;
    clearInterval(sampler);
    await trainer;
    const injected = await faults;
    const quarter = (SECONDS * 1000) / 4;
    const peak = (from: number, to: number) => {
      const w = samples.filter((x) => x.t >= from && x.t < to);
      return { estimator: Math.max(...w.map((x) => x.estimator)), loader: Math.max(...w.map((x) => x.loader)) };
    };
    const start = peak(0, quarter);
    const end = peak(3 * quarter, Infinity);

    const errors = (r: autocannon.Result) => r.errors + r.timeouts + r.non2xx;
    const growth = (a: number, b: number) => ((b - a) / a) * 100;
    const line = (name: string, r: autocannon.Result) =>
      `  ${name.padEnd(22)} ${String(r.requests.total).padStart(7)} req  ${r.requests.average.toFixed(0).padStart(6)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  errors ${errors(r)} (non-2xx ${r.non2xx}, timeouts ${r.timeouts})`;
    console.log(line('estimator /predict mix', predict));
    console.log(line('loader POST /load', load));
    console.log(`  trainings completed during the soak: ${trainings} (failed: ${trainingFailures})`);
    const g = { estimator: growth(start.estimator, end.estimator), loader: growth(start.loader, end.loader) };
    console.log(`  RSS estimator (peak, first vs last quarter): ${start.estimator.toFixed(0)} -> ${end.estimator.toFixed(0)} MB (${g.estimator >= 0 ? '+' : ''}${g.estimator.toFixed(1)}%)`);
    console.log(`  RSS loader    (peak, first vs last quarter): ${start.loader.toFixed(0)} -> ${end.loader.toFixed(0)} MB (${g.loader >= 0 ? '+' : ''}${g.loader.toFixed(1)}%)`);
    const totalErrors = errors(predict) + errors(load) + trainingFailures;
    if (injected) {
      const storedAfter = await pricesFingerprint(db.pool);
      const lost = (await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM unnest($1::text[], $2::date[]) AS b(ticker, date)
          WHERE NOT EXISTS (SELECT 1 FROM prices p WHERE p.ticker = b.ticker AND p.date = b.date)`,
        [storedBefore.keys.map((k) => k.ticker), storedBefore.keys.map((k) => k.date)],
      )).rows[0]!.n;
      const duplicates = (await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM (SELECT job_id FROM models WHERE job_id IS NOT NULL GROUP BY job_id HAVING count(*) > 1) d`,
      )).rows[0]!.n;
      console.log(`  faults: ${injected.terminated} database sessions terminated; stalled upload answered ${injected.stalled}; worker pid ${injected.killedPid} killed`);
      console.log(`  rows stored before the soak: ${storedBefore.keys.length}, after: ${storedAfter.keys.length}; lost rows: ${lost} (target 0)`);
      console.log(`  duplicate versions (more than one per job): ${duplicates} (target 0)`);
      let restarted = false;
      for (const s of services) {
        const alive = s.process.exitCode === null && s.process.signalCode === null;
        const killed = s === extraWorker;
        if (!alive && !killed) restarted = true;
        const uptime = ((Date.now() - started.get(s)!) / 1000).toFixed(0);
        console.log(`  ${(s === extraWorker ? 'extra worker' : s.name).padEnd(13)} pid ${s.process.pid}: ${alive ? `up ${uptime} s, never restarted` : killed ? 'killed on purpose' : `EXITED (${s.process.exitCode ?? s.process.signalCode})`}`);
      }
      console.log(`  errors during the faults (503 while connections were down, not a target here): ${totalErrors}`);
      const met = lost === 0 && duplicates === 0 && !restarted;
      console.log(`  targets with faults (0 lost rows, 0 duplicate versions, no service restarted): ${met ? 'MET' : 'MISSED'}`);
      process.exitCode = met ? 0 : 1;
      return;
    }
    const met = totalErrors === 0 && g.estimator <= 10 && g.loader <= 10;
    console.log(`  targets (0 errors, RSS growth <= 10%): ${met ? 'MET' : 'MISSED'}`);
    process.exitCode = met ? 0 : 1;
  } finally {
    for (const s of services.reverse()) await stopService(s);
    await db.drop();
  }
}

/** Every stored (ticker, date): what must still be there after the faults. */
async function pricesFingerprint(pool: import('@stocks/common').Pool) {
  const { rows } = await pool.query<{ ticker: string; date: string }>(`SELECT ticker, date FROM prices ORDER BY ticker, date`);
  return { keys: rows };
}

/**
 * The faults, spread over the soak: every session of the services terminated, an upload that
 * stalls with its transaction open, the extra worker killed mid-job.
 */
async function injectFaults(pool: import('@stocks/common').Pool, loader: RunningService, worker: RunningService) {
  const at = (share: number) => new Promise((r) => setTimeout(r, SECONDS * 1000 * share));
  await at(0.25);
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
  );
  await at(0.15);
  const stalled = stalledUpload(loader.url);
  await at(0.2);
  const killedPid = worker.process.pid;
  worker.process.kill('SIGKILL');
  return { terminated: rows[0]!.n, stalled: await stalled, killedPid };
}

/** POST /import with 5,200 rows sent and the rest never: resolves with the status the loader answered. */
function stalledUpload(url: string): Promise<string> {
  const u = new URL(url);
  const lines: string[] = [];
  for (let i = 0; lines.length < 5_200; i++) {
    const d = new Date(Date.UTC(1950, 0, 2) + i * 86_400_000);
    if (d.getUTCDay() % 6 !== 0) lines.push(`${d.toISOString().slice(0, 10)},10,10,10,10,10,100\n`);
  }
  const body = `Date,Open,High,Low,Close,Adj Close,Volume\n${lines.join('')}`;
  return new Promise((resolve) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => { text += d; });
    socket.on('error', () => {});
    socket.on('close', () => resolve(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 'no answer (socket closed)'));
    socket.write(`POST /import?ticker=STALL HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: text/csv\r\nContent-Length: ${body.length + 100_000}\r\n\r\n${body}`);
  });
}

await main();
