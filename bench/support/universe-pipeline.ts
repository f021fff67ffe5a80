/**
 * The pipeline half of bench:universe (and, small, of test/universe-pipeline.test.ts): N tickers
 * through the real services and the real queue, the shepherd driving them.
 *
 * Data path: the generated universe (test/support/universe-data.ts) is written as one Yahoo CSV per
 * ticker into a temporary folder that the local Yahoo replay server (the one the tests use) serves
 * in Yahoo's v8 chart format; 2_load_data reaches it through the real yahoo-finance2 client
 * (`MARKET_DATA_SOURCE=yahoo`, `YAHOO_BASE_URL`). The replay holds back the last sessions:
 * each nightly cycle reveals one more, as the next evening's Yahoo would.
 *
 * Phases:
 * 1. first backfill: `POST /load` of each ticker's 10 years through the loader, SHEPHERD_CONCURRENCY at
 *    a time as the shepherd's lanes would (rows/s).
 * 2. first training: shepherd runs (`POST /run`) over a sample with 1 worker process, then over
 *    another sample with 2; the time per ticker extrapolated to N is printed as such. With
 *    `trainSample` = all (the CI test) every ticker is trained for real with 2 workers.
 *    Tickers left without a champion are seeded (bench only): a copy of a sample champion
 *    (weights, scaler, band models) stored under their name, so the nightly cycle fine-tunes N models.
 * 3. nightly cycles: one new session for every ticker, then `POST /run` over the whole watchlist:
 *    a first night with 2 workers (not typical: reported), then one with 1 worker and one with 2. One ticker's Yahoo answers 500 on every
 *    request, another's 429 twice before answering: the run must end `partial` naming only the first.
 *    After each cycle every other ticker must have a champion and a forecast on the new session.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { lastCompletedTradingDay } from '@stocks/common';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { startYahooReplay, type YahooReplay } from '../../2_load_data/test/support/yahoo-replay.ts';
import { SHARED_MARKET_DATA_DIR } from '../../test/support/market-data.ts';
import { freePort } from '../../test/support/private-postgres.ts';
import { type RunningService, startService, stopService } from '../../test/support/stack.ts';
import { loadUniverseSources, mapLimit, universeTicker, yahooCsv, type UniverseSource } from '../../test/support/universe-data.ts';

export interface PipelineOptions {
  tickers: number;
  /** Tickers trained for real per first-training phase (1 and 2 workers); >= tickers: all, with 2 workers only. */
  trainSample: number;
  sources: UniverseSource[];
  /** Estimator settings (TRAIN_EPOCHS, MODEL_UNITS, ...); {} = the product's defaults. */
  model: Record<string, string>;
  /** SHEPHERD_CONCURRENCY for the runs (and the backfill's parallel loads). */
  lanes: number;
  /** YAHOO_CONCURRENCY of the loader. */
  yahooConcurrency: number;
  /** SHEPHERD_MAX_RETRAINS_PER_RUN (0 = no limit). */
  maxRetrainsPerRun?: number;
  /**
   * Worker counts of the nightly cycles, one new session each, in order. Default [2, 1, 2]: the
   * first night after the first training is not a typical one (every fine-tune reads the whole
   * stretch since its champion's training end, and drifting tickers get their first full
   * retraining), so it is run and reported, and the 1-vs-2-worker comparison is on the next two.
   */
  nightlyWorkers?: number[];
  log?: (line: string) => void;
}

export interface CycleFigures {
  workers: number;
  date: string;
  seconds: number;
  status: string;
  error: string | null;
  failedTickers: string[];
  fineTunes: number;
  /** Fine-tunes standing in for a full retraining past SHEPHERD_MAX_RETRAINS_PER_RUN. */
  deferred: number;
  fullTrainings: number;
  promoted: number;
  /** Tickers (other than the failing one) without a champion or without a forecast on `date`. */
  lost: string[];
  rateLimitedRequests: number;
  /** The cycle's jobs by kind: how many, and their mean time from start to end inside a worker. */
  jobs: Record<string, { n: number; meanSeconds: number }>;
}

export interface PipelineFigures {
  tickers: number;
  backfill: { rows: number; seconds: number; rowsPerSecond: number };
  training: Array<{ workers: number; tickers: number; seconds: number; perTicker: number }>;
  seeded: number;
  cycles: CycleFigures[];
  failingTicker: string;
  rateLimitedTicker: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function post(url: string, body: unknown): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok && res.status !== 202) throw new Error(`POST ${url} -> ${res.status}: ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : undefined;
}

/** Everything the pipeline measured; throws only when the machinery itself breaks (a target missed is a figure). */
export async function runPipeline(opts: PipelineOptions): Promise<PipelineFigures> {
  const log = opts.log ?? (() => {});
  const db = await createTestDatabase('stocks_universe_pipeline');
  const dir = await mkdtemp(path.join(tmpdir(), 'universe-yahoo-'));
  const services: RunningService[] = [];
  let yahoo: YahooReplay | undefined;
  try {
    // The universe as Yahoo CSVs, one ticker at a time (500 x 2,520 bars would be ~150 MB of objects at once).
    const names: string[] = [];
    let dates: string[] = [];
    for (let i = 0; i < opts.tickers; i++) {
      const t = universeTicker(opts.sources, i);
      names.push(t.ticker);
      if (i === 0) dates = t.bars.map((b) => b.date);
      await writeFile(path.join(dir, `${t.ticker}.csv`), yahooCsv(t.bars));
    }
    const nightlyWorkers = opts.nightlyWorkers ?? [2, 1, 2];
    const nights = dates.slice(-nightlyWorkers.length);
    const failingTicker = names.at(-1)!;
    const rateLimitedTicker = names.at(-2)!;
    yahoo = await startYahooReplay({ dataDir: dir, servedThrough: dates.at(-nightlyWorkers.length - 1)! });

    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0', PREDICT_RATE_LIMIT_PER_MINUTE: '0' };
    const loader = await startService('load_data', await freePort(), {
      ...common, MARKET_DATA_SOURCE: 'yahoo', YAHOO_BASE_URL: yahoo.url, YAHOO_CONCURRENCY: String(opts.yahooConcurrency),
    });
    services.push(loader);
    const api = await startService('nn_estimator', await freePort(), { ...common, ...opts.model, ESTIMATOR_ROLE: 'api' });
    services.push(api);
    const shepherd = await startService('shepherd', await freePort(), {
      ...common, WATCHLIST: names.join(','), LOAD_DATA_URL: loader.url, ESTIMATOR_URL: api.url,
      SHEPHERD_RUN_ON_START: 'false', SHEPHERD_CONCURRENCY: String(opts.lanes), JOB_POLL_INTERVAL_MS: '250',
      SHEPHERD_MAX_RETRAINS_PER_RUN: String(opts.maxRetrainsPerRun ?? 0),
    });
    services.push(shepherd);

    // 1. First backfill, through the loader.
    const today = lastCompletedTradingDay(names[0]!);
    const backfillStarted = performance.now();
    const loaded = await mapLimit(names, opts.lanes, (ticker) => post(`${loader.url}/load`, { ticker, start_date: dates[0], end_date: today }));
    const backfillSeconds = (performance.now() - backfillStarted) / 1000;
    const rows = loaded.reduce((s, r) => s + r.inserted, 0);
    const backfill = { rows, seconds: backfillSeconds, rowsPerSecond: rows / backfillSeconds };
    log(`  first backfill: ${rows} rows for ${names.length} tickers in ${backfillSeconds.toFixed(1)} s (${Math.round(backfill.rowsPerSecond)} rows/s; Yahoo replay peak concurrency ${yahoo.peakConcurrency()})`);

    const withWorkers = async <T>(n: number, fn: () => Promise<T>): Promise<T> => {
      const env = { ...common, ...opts.model, ESTIMATOR_ROLE: 'worker' };
      const workers = await Promise.all(Array.from({ length: n }, async () => startService('nn_estimator', await freePort(), env)));
      try {
        return await fn();
      } finally {
        for (const w of workers) await stopService(w);
      }
    };
    const runOver = async (tickers: string[] | undefined): Promise<any> => {
      const { run_id } = await post(`${shepherd.url}/run`, tickers ? { tickers } : {});
      for (;;) {
        await sleep(1000);
        const run = await (await fetch(`${shepherd.url}/runs/${run_id}`)).json() as any;
        if (run.status !== 'running') return run;
      }
    };
    const runSeconds = (run: any) => (Date.parse(run.finished_at) - Date.parse(run.started_at)) / 1000;

    // 2. First training.
    const training: PipelineFigures['training'] = [];
    const trainAll = opts.trainSample >= names.length;
    const phases = trainAll ? [{ workers: 2, tickers: names }] : [
      { workers: 1, tickers: names.slice(0, opts.trainSample) },
      { workers: 2, tickers: names.slice(opts.trainSample, 2 * opts.trainSample) },
    ];
    for (const phase of phases) {
      const run = await withWorkers(phase.workers, () => runOver(phase.tickers));
      const failed = run.steps.filter((s: any) => s.status === 'failed');
      if (failed.length) throw new Error(`first training run ${run.id} ${run.status}: ${JSON.stringify(failed.slice(0, 3))}`);
      const seconds = runSeconds(run);
      training.push({ workers: phase.workers, tickers: phase.tickers.length, seconds, perTicker: seconds / phase.tickers.length });
      log(`  first training, ${phase.tickers.length} tickers, ${phase.workers} worker(s): ${seconds.toFixed(1)} s (${(seconds / phase.tickers.length).toFixed(1)} s per ticker) [measured]`);
    }

    // Tickers the sample did not train get a seeded champion: a copy of a sample champion.
    const seeded = await seedChampions(db, names);
    if (seeded) log(`  seeded ${seeded} champions (copies of the ${names.length - seeded} trained sample champions: weights, scaler, band models; dated like them) [not trained]`);

    // 3. Nightly cycles.
    const cycles: CycleFigures[] = [];
    for (const [i, workers] of nightlyWorkers.entries()) {
      const date = nights[i];
      if (!date) throw new Error(`only ${nights.length} held-back sessions for ${nightlyWorkers.length} cycles`);
      yahoo.setServedThrough(date);
      yahoo.setFault({ kind: 'status', status: 500, symbols: [failingTicker] });
      yahoo.addFault({ kind: 'status', status: 429, retryAfter: 1, times: 2, symbols: [rateLimitedTicker] });
      const before = yahoo.requests.length;
      const run = await withWorkers(workers, () => runOver(undefined));
      yahoo.setFault(null);
      const rateLimitedRequests = yahoo.requests.slice(before).filter((r) => r.path.endsWith(`/${rateLimitedTicker}`)).length;
      const failedTickers = [...new Set<string>(run.steps.filter((s: any) => s.status === 'failed').map((s: any) => s.ticker))].sort();
      const trained = run.steps.filter((s: any) => (s.step === 'fine-tune' || s.step === 'train') && s.status === 'succeeded');
      const versions = trained.map((s: any) => s.detail.model_version as number);
      const { rows: promotedRows } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM models WHERE version = ANY($1) AND is_champion`, [versions]);
      const { rows: jobRows } = await db.pool.query<{ kind: string; n: number; mean: number }>(
        `SELECT kind, count(*)::int AS n, avg(extract(epoch FROM finished_at - started_at))::float AS mean
           FROM training_jobs WHERE id = ANY($1) GROUP BY kind`, [trained.map((s: any) => s.detail.job_id)]);
      const jobs = Object.fromEntries(jobRows.map((r) => [r.kind, { n: r.n, meanSeconds: r.mean }]));
      const lost = await checkNothingLost(db, api.url, names.filter((t) => t !== failingTicker), date, opts.lanes);
      const cycle: CycleFigures = {
        workers, date, seconds: runSeconds(run), status: run.status, error: run.error, failedTickers,
        fineTunes: trained.filter((s: any) => s.step === 'fine-tune').length,
        deferred: trained.filter((s: any) => s.detail.retrain_deferred).length,
        fullTrainings: trained.filter((s: any) => s.step === 'train').length,
        promoted: promotedRows[0]!.n, lost, rateLimitedRequests, jobs,
      };
      cycles.push(cycle);
      log(`  nightly cycle (${date}), ${workers} worker(s): ${cycle.seconds.toFixed(1)} s; run ${cycle.status} (${cycle.error ?? 'no error'}); `
        + `${cycle.fineTunes} fine-tunes (mean ${(jobs['fine-tune']?.meanSeconds ?? 0).toFixed(1)} s; ${cycle.deferred} with their retraining deferred), ${cycle.fullTrainings} full trainings (monitoring: drift; mean ${(jobs.train?.meanSeconds ?? 0).toFixed(1)} s), ${cycle.promoted} promoted; `
        + `failed: ${failedTickers.join(', ') || 'none'}; ${rateLimitedTicker} needed ${rateLimitedRequests} Yahoo requests (429 twice); `
        + `without a current champion and forecast: ${lost.length ? lost.slice(0, 10).join(', ') : 'none'} [measured; load ${loadavg()[0]!.toFixed(2)}]`);
    }
    return { tickers: names.length, backfill, training, seeded, cycles, failingTicker, rateLimitedTicker };
  } finally {
    for (const s of services.reverse()) await stopService(s);
    await yahoo?.close();
    await rm(dir, { recursive: true, force: true });
    await db.drop();
  }
}

/**
 * Champions for the tickers the first-training sample left without one: the stored version of a
 * trained sample ticker (round robin) copied under their name, as champion. Every universe ticker
 * shares one calendar, so the copy's train/validation dates fit the ticker it is stored under.
 */
async function seedChampions(db: TestDatabase, names: string[]): Promise<number> {
  const { rows: trained } = await db.pool.query<{ version: number; ticker: string }>(
    `SELECT version, ticker FROM models WHERE is_champion ORDER BY ticker`);
  const have = new Set(trained.map((r) => r.ticker));
  const missing = names.filter((t) => !have.has(t));
  if (!missing.length) return 0;
  if (!trained.length) throw new Error('no trained champion to seed from');
  const { rows: cols } = await db.pool.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'models'
       AND column_name NOT IN ('version', 'ticker', 'parent_version', 'job_id', 'status', 'is_champion', 'status_reason', 'created_at')
       AND is_generated = 'NEVER'`);
  const copied = cols.map((c) => `"${c.column_name}"`).join(', ');
  for (const [i, ticker] of missing.entries()) {
    const from = trained[i % trained.length]!;
    await db.pool.query(
      `INSERT INTO models (ticker, parent_version, job_id, status, is_champion, status_reason, ${copied})
       SELECT $1, NULL, NULL, 'champion', true, $3, ${copied} FROM models WHERE version = $2`,
      [ticker, from.version, `seeded by bench:universe: a copy of ${from.ticker} v${from.version}`]);
  }
  return missing.length;
}

/** Tickers without a champion, or whose GET /predict is not a forecast from `date`. */
async function checkNothingLost(db: TestDatabase, apiUrl: string, tickers: string[], date: string, concurrency: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ ticker: string }>(`SELECT ticker FROM models WHERE is_champion AND ticker = ANY($1)`, [tickers]);
  const withChampion = new Set(rows.map((r) => r.ticker));
  const lost = tickers.filter((t) => !withChampion.has(t));
  const forecasts = await mapLimit(tickers.filter((t) => withChampion.has(t)), concurrency, async (ticker) => {
    const res = await fetch(`${apiUrl}/predict?ticker=${encodeURIComponent(ticker)}&horizon=5`);
    const body = await res.json() as any;
    return { ticker, ok: res.status === 200 && body.last_date === date && body.forecast?.length === 5 };
  });
  return [...lost, ...forecasts.filter((f) => !f.ok).map((f) => f.ticker)].sort();
}

const NIGHTLY_TARGET_SECONDS = 30 * 60;
const SPEEDUP_TARGET = 1.7;
const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');

/** bench:universe's pipeline part: runs it with the env's settings and prints every figure beside its target. */
export async function runPipelinePart(): Promise<{ missed: string[] }> {
  const tickers = Number(process.env.UNIVERSE_TICKERS ?? 500);
  const trainSample = Number(process.env.UNIVERSE_TRAIN_SAMPLE ?? 20);
  const lanes = Number(process.env.SHEPHERD_CONCURRENCY ?? 8);
  const yahooConcurrency = Number(process.env.YAHOO_CONCURRENCY ?? 4);
  // The universe setting docs/operations-scaling.md recommends: 5% of the tickers a night.
  const maxRetrainsPerRun = Number(process.env.SHEPHERD_MAX_RETRAINS_PER_RUN ?? Math.ceil(tickers * 0.05));
  const sources = await loadUniverseSources(SHARED_MARKET_DATA_DIR).catch(() => loadUniverseSources());
  console.log(`bench:universe pipeline — ${tickers} tickers x 10 years through Yahoo replay -> 2_load_data -> shepherd -> pg-boss -> estimator workers`);
  console.log(`  data: ${sources.length} real histories (${sources.map((s) => s.name).join(', ')}) + block-bootstrap synthetic ones, served by the local Yahoo replay through yahoo-finance2 (not CSV imports)`);
  console.log(`  model: the product's defaults (window 60, LSTM(32), 30 epochs, 2,520 bars); SHEPHERD_CONCURRENCY ${lanes}, YAHOO_CONCURRENCY ${yahooConcurrency}, SHEPHERD_MAX_RETRAINS_PER_RUN ${maxRetrainsPerRun || 'no limit'}; host ${hostname()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const f = await runPipeline({ tickers, trainSample, sources, model: {}, lanes, yahooConcurrency, maxRetrainsPerRun, log: (l) => console.log(l) });
  const missed: string[] = [];
  const line = (text: string, ok: boolean) => {
    console.log(`  ${text} ${verdict(ok)}`);
    if (!ok) missed.push(text);
  };
  console.log('  --- figures beside targets ---');
  console.log(`  first backfill: ${Math.round(f.backfill.rowsPerSecond)} rows/s (${f.backfill.rows} rows, ${f.backfill.seconds.toFixed(1)} s) [measured; report only]`);
  const [t1, t2] = f.training;
  if (t1 && t2) {
    console.log(`  first training: ${t1.perTicker.toFixed(1)} s/ticker with 1 worker, ${t2.perTicker.toFixed(1)} s/ticker with 2 [measured on ${t1.tickers} + ${t2.tickers} tickers]`);
    console.log(`  first training of all ${f.tickers}: ~${(t1.perTicker * f.tickers / 3600).toFixed(1)} h with 1 worker, ~${(t2.perTicker * f.tickers / 3600).toFixed(1)} h with 2 (speed-up ${(t1.perTicker / t2.perTicker).toFixed(2)}x) [EXTRAPOLATED from the samples; report only]`);
    console.log(`  champions of the other ${f.seeded} tickers: seeded copies of the sample's [not trained]`);
  } else if (t1) {
    console.log(`  first training of all ${t1.tickers}: ${t1.seconds.toFixed(1)} s with ${t1.workers} workers [measured]`);
  }
  // Night 1 settles the universe; nights 2 (1 worker) and 3 (2 workers) are the steady ones compared.
  const [c0, c1, c2] = f.cycles;
  if (c0 && c1 && c2) {
    const scale = 500 / f.tickers;
    const label = f.tickers === 500 ? '[measured]' : `[measured at ${f.tickers}; x${scale.toFixed(1)} = ${(c2.seconds * scale / 60).toFixed(1)} min EXTRAPOLATED to 500]`;
    console.log(`  first night after the first training (2 workers): ${(c0.seconds / 60).toFixed(1)} min, ${c0.fullTrainings} full trainings [measured; report only]`);
    line(`nightly cycle, 2 workers: ${(c2.seconds / 60).toFixed(1)} min (1 worker: ${(c1.seconds / 60).toFixed(1)} min) ${label} (target <= 30 min for 500)`, c2.seconds * scale <= NIGHTLY_TARGET_SECONDS);
    const speedup = c1.seconds / c2.seconds;
    const mix = (c: CycleFigures) => `${c.fineTunes} fine-tunes of ${(c.jobs['fine-tune']?.meanSeconds ?? 0).toFixed(1)} s, ${c.fullTrainings} full trainings of ${(c.jobs.train?.meanSeconds ?? 0).toFixed(1)} s`;
    line(`nightly speed-up with 2 workers: ${speedup.toFixed(2)}x (1 worker: ${mix(c1)}; 2 workers: ${mix(c2)}) (target >= ${SPEEDUP_TARGET}x)`, speedup >= SPEEDUP_TARGET);
  }
  for (const c of f.cycles) {
    line(`nothing lost (${c.workers} worker(s)): ${f.tickers - 1 - c.lost.length} of ${f.tickers - 1} healthy tickers with a champion and a forecast from ${c.date} (target: all)`, c.lost.length === 0);
    const reported = c.status === 'partial' && c.failedTickers.length === 1 && c.failedTickers[0] === f.failingTicker && /1 of \d+ tickers failed/.test(c.error ?? '');
    line(`failing ticker (${c.workers} worker(s)): run ${c.status}, failed [${c.failedTickers.join(', ')}], rate-limited ${f.rateLimitedTicker} completed after ${c.rateLimitedRequests} requests (target: partial, only ${f.failingTicker} failed)`, reported && c.rateLimitedRequests >= 3);
  }
  return { missed };
}
