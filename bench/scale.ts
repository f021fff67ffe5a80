/**
 * npm run bench:scale — does adding training workers (processes, coordinated only through
 * Postgres and pg-boss) speed up a night's retraining?
 *
 * A queue of SCALE_TICKERS (20) full trainings is drained first by 1 worker process, then (a new
 * batch for the same tickers) by 2 worker processes, in the same run and database. Printed: each
 * phase's drain time (first job started -> last job finished, from training_jobs), jobs/min and
 * the speed-up (target >= 1.7x on 2 cores). Checked: every job ran exactly once (one attempt, no
 * pg-boss retry) to success, and every ticker ended each phase with exactly one new model version.
 *
 * The 8 real histories of ../shared/market-data are cut into 20 distinct series (different
 * tickers, different years) stored under their own symbols; the model is the small one the
 * services use in tests, with a few more epochs so a job is mostly training (SCALE_EPOCHS).
 */
import { hostname } from 'node:os';
import type { DailyBar } from '@stocks/common';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { startQueue, submitJob } from '../4_nn_estimator/src/training/queue.ts';
import { readMarketData, SHARED_MARKET_DATA_DIR } from '../test/support/market-data.ts';
import { type RunningService, startService, stopService } from '../test/support/stack.ts';

const N = Number(process.env.SCALE_TICKERS ?? 20);
const BARS = 600;
const SOURCES = ['AAPL', 'AMZN', 'BTC-USD', 'GOOG', 'MSFT', 'NVDA', 'TSLA', '^GSPC'];
const MODEL = {
  TRAIN_EPOCHS: process.env.SCALE_EPOCHS ?? '25', MODEL_WINDOW: '20', MODEL_UNITS: '16', TRAIN_MAX_BARS: '500',
};
const TARGET = 1.7;

async function seed(db: TestDatabase): Promise<string[]> {
  const histories = new Map<string, DailyBar[]>();
  for (const s of SOURCES) histories.set(s, await readMarketData(s, undefined, SHARED_MARKET_DATA_DIR));
  const tickers: string[] = [];
  for (let i = 0; i < N; i++) {
    const source = SOURCES[i % SOURCES.length]!;
    const all = histories.get(source)!;
    const offset = Math.floor(i / SOURCES.length) * 250; // a year further back per round
    const bars = all.slice(Math.max(0, all.length - BARS - offset), all.length - offset);
    const ticker = `S${String(i + 1).padStart(2, '0')}`;
    await prices.upsertPrices(db.pool, ticker, 'csv', bars);
    tickers.push(ticker);
  }
  return tickers;
}

interface Phase { workers: number; seconds: number; jobsPerMin: number }

async function phase(db: TestDatabase, tickers: string[], workers: number, basePort: number): Promise<Phase> {
  // Workers first, queue second: each worker is booted and its training thread warm before the
  // first job exists, so a phase measures draining the queue, not starting processes (which a
  // long-running worker does once, not per night).
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', ESTIMATOR_ROLE: 'worker', RATE_LIMIT_PER_MINUTE: '0', ...MODEL };
  const procs: RunningService[] = await Promise.all(
    Array.from({ length: workers }, (_, i) => startService('nn_estimator', basePort + i, env)),
  );
  const ids: string[] = [];
  try {
    const boss = await startQueue(db.url, { retryLimit: 2, expireInSeconds: 900 }, () => {});
    for (const ticker of tickers) {
      ids.push((await submitJob(db.pool, boss, { kind: 'train', ticker, params: {} }, { retryLimit: 2, expireInSeconds: 900 })).job_id);
    }
    await boss.stop({ graceful: false, wait: true });

    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      const { rows } = await db.pool.query<{ done: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed'))::int AS done, count(*) FILTER (WHERE status = 'failed')::int AS failed
           FROM training_jobs WHERE id = ANY($1)`, [ids]);
      if (rows[0]!.failed) throw new Error(`${rows[0]!.failed} jobs failed:\n${procs.map((p) => p.output().slice(-2000)).join('\n')}`);
      if (rows[0]!.done === ids.length) break;
      if (Date.now() > deadline) throw new Error('the queue did not drain within 30 min');
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    for (const p of procs) await stopService(p);
  }

  // Exactly once, to success: one attempt per job, no retry in pg-boss, spread over the workers.
  const { rows: jobs } = await db.pool.query(
    `SELECT t.id, t.ticker, t.status, t.attempts, t.worker, t.model_version, j.state, j.retry_count
       FROM training_jobs t JOIN pgboss.job j ON j.id = t.id WHERE t.id = ANY($1)`, [ids]);
  const problems = jobs.filter((j) => j.status !== 'succeeded' || j.attempts !== 1 || j.state !== 'completed' || j.retry_count !== 0);
  if (jobs.length !== ids.length || problems.length) throw new Error(`not exactly once: ${JSON.stringify(problems)}`);
  const byWorker = new Map<string, number>();
  for (const j of jobs) byWorker.set(j.worker, (byWorker.get(j.worker) ?? 0) + 1);
  const pids = procs.map((p) => `${hostname()}:${p.process.pid}`);
  if ([...byWorker.keys()].some((w) => !pids.includes(w))) throw new Error(`a job ran on an unknown worker: ${[...byWorker.keys()]}`);

  const { rows: span } = await db.pool.query<{ s: number }>(
    `SELECT extract(epoch FROM max(finished_at) - min(started_at))::float AS s FROM training_jobs WHERE id = ANY($1)`, [ids]);
  const seconds = span[0]!.s;
  // Where a worker's time went: training jobs (busy) versus between them (claiming, polling).
  const { rows: perWorker } = await db.pool.query<{ worker: string; busy: number; first: number; span: number }>(
    `SELECT worker, sum(extract(epoch FROM finished_at - started_at))::float AS busy,
            (array_agg(extract(epoch FROM finished_at - started_at)::float ORDER BY started_at))[1] AS first,
            extract(epoch FROM max(finished_at) - min(started_at))::float AS span
       FROM training_jobs WHERE id = ANY($1) GROUP BY worker ORDER BY worker`, [ids]);
  for (const w of perWorker) {
    console.log(`    worker ${w.worker}: busy ${w.busy.toFixed(1)} s of ${w.span.toFixed(1)} s; first job ${w.first.toFixed(1)} s`);
  }
  console.log(`  ${workers} worker(s): ${N} jobs in ${seconds.toFixed(1)} s (${(N / seconds * 60).toFixed(1)} jobs/min); jobs per worker: ${[...byWorker.values()].join(', ')}`);
  return { workers, seconds, jobsPerMin: N / seconds * 60 };
}

async function main(): Promise<void> {
  const db = await createTestDatabase('stocks_bench_scale');
  try {
    const tickers = await seed(db);
    console.log(`bench:scale — ${N} full trainings (${BARS} bars each, epochs ${MODEL.TRAIN_EPOCHS}, units ${MODEL.MODEL_UNITS}), drained by worker processes`);
    const one = await phase(db, tickers, 1, 18401);
    const two = await phase(db, tickers, 2, 18411);

    // Every ticker: exactly one new version per phase.
    const { rows } = await db.pool.query<{ ticker: string; n: number }>(
      `SELECT ticker, count(*)::int AS n FROM models GROUP BY ticker ORDER BY ticker`);
    const wrong = tickers.filter((t) => rows.find((r) => r.ticker === t)?.n !== 2);
    if (wrong.length) throw new Error(`tickers without exactly one new version per phase: ${wrong.join(', ')}`);

    const speedup = one.seconds / two.seconds;
    console.log(`  every job ran exactly once to success; every ticker gained one version per phase`);
    console.log(`  speed-up with 2 workers: ${speedup.toFixed(2)}x (target >= ${TARGET}x) ${speedup >= TARGET ? 'MET' : 'MISSED'}`);
    process.exitCode = speedup >= TARGET ? 0 : 1;
  } finally {
    await db.drop();
  }
}

await main();
