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
 */
import { readFileSync } from 'node:fs';
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
    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };
    const loader = await startService('load_data', await freePort(), { ...common, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR });
    services.push(loader);
    const estimator = await startService('nn_estimator', await freePort(), { ...common, ...MODEL, ESTIMATOR_ROLE: 'both' });
    services.push(estimator);

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
    console.log(`bench:soak — ${SECONDS} s of mixed traffic while trainings run back to back (epochs ${MODEL.TRAIN_EPOCHS})`);
    const [predict, load] = await Promise.all([
      cannon({ url: estimator.url, connections: 12, duration: SECONDS, requests }),
      cannon({ url: loader.url, connections: 2, duration: SECONDS, overallRate: LOAD_RATE, requests: loads }),
    ]);
    soaking = false;
    clearInterval(sampler);
    await trainer;
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
    const met = totalErrors === 0 && g.estimator <= 10 && g.loader <= 10;
    console.log(`  targets (0 errors, RSS growth <= 10%): ${met ? 'MET' : 'MISSED'}`);
    process.exitCode = met ? 0 : 1;
  } finally {
    for (const s of services.reverse()) await stopService(s);
    await db.drop();
  }
}

await main();
