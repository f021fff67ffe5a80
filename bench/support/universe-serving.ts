/**
 * The serving part of `npm run bench:universe` (see bench/universe.ts): 500 tickers with a
 * champion each, measured through the real services as processes.
 *
 *   serving RSS with 500 champions and their cached forecasts          <= 600 MB
 *   cached GET /predict, requests spread over all 500 tickers           >= 0.7x the bare route (same run)
 *   /metrics scrape of the estimator, the loader and the shepherd       <= 10 ms and <= 100 KB each
 *
 * Setup: a fresh database; the universe's bars (test/support/universe-data.ts, from the shared
 * histories) are written as CSV files and loaded through 2_load_data's `POST /load` (source csv),
 * so the loader's own per-ticker counters exist as after a real first load; only the last
 * `UNIVERSE_SERVING_BARS` (default 300) bars of each ticker's 2,520 are loaded: serving needs the
 * last window, the pipeline part measures the full backfill. Champions: one default-architecture
 * model trained 1 epoch on U0001 and stored as every ticker's champion (as bench/serve.ts does:
 * serving speed and memory do not depend on the weights' values). The estimator (role api) is
 * bench/support/serve-server.ts (server.ts's setup plus a bare route); the shepherd watches the
 * 500 tickers with no run on start.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpLoad, type LoadResult, percentile } from './http-load.ts';
import type { DailyBar } from '@stocks/common';
import { createTestDatabase } from '@stocks/db/testing';
import { SHARED_MARKET_DATA_DIR } from '../../test/support/market-data.ts';
import { loadUniverseSources, mapLimit, universeTicker, yahooCsv } from '../../test/support/universe-data.ts';
import { freePort } from '../../test/support/private-postgres.ts';
import { startService, stopService, type RunningService } from '../../test/support/stack.ts';
import { storeChampion } from '../../4_nn_estimator/test/support/champions.ts';
import { initBackend } from '../../4_nn_estimator/src/training/backend.ts';
import { trainModel } from '../../4_nn_estimator/src/model/train.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface PartResult {
  /** Names of the targets missed (each already printed MISSED on its own line). */
  missed: string[];
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : String(n));
const verdict = (met: boolean) => (met ? 'MET' : 'MISSED');

/** Median wall time and size of `rounds` scrapes of `url` (after 3 unmeasured ones). */
async function scrape(url: string, rounds = 20): Promise<{ ms: number; p90: number; bytes: number; series: number; perTicker: number }> {
  for (let i = 0; i < 3; i++) await (await fetch(url)).text();
  const times: number[] = [];
  let text = '';
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    text = await (await fetch(url)).text();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  return { ms: percentile(times, 0.5), p90: percentile(times, 0.9), bytes: Buffer.byteLength(text), series: lines.length, perTicker: lines.filter((l) => /ticker="/.test(l)).length };
}

function ask(child: ChildProcess, type: string): Promise<Record<string, number>> {
  const reply = new Promise<Record<string, number>>((resolve) => {
    const on = (msg: { type: string }) => {
      if (msg.type === type) {
        child.off('message', on);
        resolve(msg as unknown as Record<string, number>);
      }
    };
    child.on('message', on);
  });
  if (type !== 'ready') child.send({ type });
  return reply;
}

export async function runServingPart(): Promise<PartResult> {
  const tickers = Number(process.env.UNIVERSE_TICKERS ?? 500);
  const servingBars = Number(process.env.UNIVERSE_SERVING_BARS ?? 300);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const connections = 64;
  console.log(`\n== serving: ${tickers} tickers, each with a champion ==`);
  const backend = await initBackend();
  const db = await createTestDatabase('stocks_bench_universe');
  const csvDir = mkdtempSync(path.join(tmpdir(), 'universe-csv-'));
  const services: RunningService[] = [];
  let estimator: ChildProcess | undefined;
  const missed: string[] = [];
  try {
    // --- the universe's bars, loaded through the loader
    let t0 = performance.now();
    const sources = await loadUniverseSources(SHARED_MARKET_DATA_DIR);
    const names: string[] = [];
    let firstBars: DailyBar[] = [];
    for (let i = 0; i < tickers; i++) {
      const u = universeTicker(sources, i);
      if (i === 0) firstBars = u.bars;
      names.push(u.ticker);
      writeFileSync(path.join(csvDir, `${u.ticker}.csv`), yahooCsv(u.bars.slice(-servingBars)));
    }
    const first = firstBars.at(-servingBars)!.date;
    const last = firstBars.at(-1)!.date;
    console.log(`setup: ${tickers} tickers generated (${sources.length} real sources from ${SHARED_MARKET_DATA_DIR}, the rest block-bootstrapped) in ${f((performance.now() - t0) / 1000, 1)} s`);
    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0' };
    const loader = await startService('load_data', await freePort(), { ...common, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR: csvDir });
    services.push(loader);
    t0 = performance.now();
    await mapLimit(names, 4, async (ticker) => {
      const res = await fetch(`${loader.url}/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticker, start_date: first, end_date: last }) });
      if (!res.ok) throw new Error(`POST /load ${ticker}: ${res.status} ${await res.text()}`);
    });
    console.log(`setup: ${tickers} x ${servingBars} bars (${first} .. ${last}) loaded through POST /load in ${f((performance.now() - t0) / 1000, 1)} s`);

    // --- one trained champion, copied to every ticker
    t0 = performance.now();
    const trained = await trainModel({ ticker: names[0]!, bars: firstBars.slice(-1000), config: { epochs: 1 } });
    for (const ticker of names) await storeChampion(db.pool, ticker, trained);
    console.log(`setup: one ${trained.config.window}-bar LSTM(${trained.config.units}) -> Dense(${trained.config.horizon}) trained 1 epoch on ${names[0]} (backend ${backend}) and stored as the champion of all ${tickers} tickers (copies: serving cost does not depend on the weights' values) in ${f((performance.now() - t0) / 1000, 1)} s`);

    // --- the estimator (serving), the shepherd watching all of them
    t0 = performance.now();
    estimator = fork(path.join(HERE, 'serve-server.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...common, ESTIMATOR_ROLE: 'api', PREDICT_RATE_LIMIT_PER_MINUTE: '0', PREDICT_MAX_IN_FLIGHT: '1024', BENCH_EXPECT_CHAMPIONS: String(tickers), BENCH_SETTLE_MONITORING: '1' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await Promise.race([ask(estimator, 'ready'), once(estimator, 'exit').then(() => { throw new Error('estimator exited'); })]);
    const base = `http://127.0.0.1:${ready.port}`;
    console.log(`estimator: ${ready.champions} champions loaded and ${ready.forecasts} forecasts precomputed ${f(ready.precomputeMs! / 1000, 1)} s after listening; monitoring gauges of all settled after ${f(ready.settledMs! / 1000, 1)} s; RSS ${mb(ready.rss!)}`);
    const shepherd = await startService('shepherd', await freePort(), {
      ...common, WATCHLIST: names.join(','), SHEPHERD_RUN_ON_START: 'false', LOAD_DATA_URL: loader.url, ESTIMATOR_URL: base,
    });
    services.push(shepherd);

    // --- cached GET over all tickers vs the bare route, interleaved twice, best of each
    const predictPaths = names.map((t) => `/predict?ticker=${encodeURIComponent(t)}&horizon=5`);
    for (const p of [predictPaths[0]!, predictPaths.at(-1)!]) {
      const body = await (await fetch(base + p)).json() as { cached?: boolean };
      if (!body.cached) throw new Error(`GET ${p} was not answered from the cache`);
    }
    const runs: { bare: LoadResult[]; cached: LoadResult[] } = { bare: [], cached: [] };
    for (let round = 0; round < 2; round++) {
      runs.bare.push(await httpLoad(base, { paths: ['/bare'], connections, seconds }));
      runs.cached.push(await httpLoad(base, { paths: predictPaths, connections, seconds }));
    }
    const bestOf = (xs: LoadResult[]) => xs.reduce((a, b) => (b.rps > a.rps ? b : a));
    const bare = bestOf(runs.bare);
    const cached = bestOf(runs.cached);
    const after = await ask(estimator, 'report');

    // --- /metrics of each service
    const scrapes = {
      estimator: await scrape(`${base}/metrics`),
      loader: await scrape(`${loader.url}/metrics`),
      shepherd: await scrape(`${shepherd.url}/metrics`),
    };

    // --- what the page reads first: GET /tickers (information; no target)
    const tickerTimes: number[] = [];
    let tickersBytes = 0;
    let tickersListed = 0;
    for (let i = 0; i < 6; i++) {
      const t = performance.now();
      const text = await (await fetch(`${base}/tickers`)).text();
      if (i > 0) tickerTimes.push(performance.now() - t);
      tickersBytes = Buffer.byteLength(text);
      tickersListed = (JSON.parse(text) as { tickers: unknown[] }).tickers.length;
    }
    tickerTimes.sort((a, b) => a - b);

    // --- report
    const rssMax = Math.max(ready.rss!, after.rss!);
    const rssMet = rssMax <= 600 * 1024 * 1024;
    const ratio = cached.rps / bare.rps;
    const ratioMet = ratio >= 0.7 && cached.errors === 0;
    console.log('');
    console.log(`serving RSS, ${tickers} champions + cached forecasts: ${mb(ready.rss!)} after start, ${mb(after.rss!)} after the load runs (heap ${mb(after.heapUsed!)})   target <= 600 MB   ${verdict(rssMet)}`);
    console.log(`bare GET /bare (${connections} clients):                ${f(bare.rps, 0)} req/s  p50 ${f(bare.p50, 3)} ms  p99 ${f(bare.p99, 3)} ms  errors ${bare.errors}   (floor)`);
    console.log(`GET /predict cached over ${tickers} tickers (${connections} clients): ${f(cached.rps, 0)} req/s  p50 ${f(cached.p50, 3)} ms  p99 ${f(cached.p99, 3)} ms  errors ${cached.errors}   = ${f(ratio)}x bare   target >= 0.70x, 0 errors   ${verdict(ratioMet)}`);
    console.log(`  runs: bare ${runs.bare.map((r) => f(r.rps, 0)).join(' / ')} req/s, cached ${runs.cached.map((r) => f(r.rps, 0)).join(' / ')} req/s (each ${seconds} s after 1 s warm-up; best kept)`);
    if (!rssMet) missed.push('serving RSS');
    if (!ratioMet) missed.push('cached GET vs bare');
    for (const [service, s] of Object.entries(scrapes)) {
      const timeMet = s.ms <= 10;
      const sizeMet = s.bytes <= 100 * 1024;
      console.log(`/metrics ${service.padEnd(9)}: ${f(s.ms, 1)} ms (median of 20; p90 ${f(s.p90, 1)} ms) target <= 10 ms ${verdict(timeMet)};  ${f(s.bytes / 1024, 1)} KB (${s.series} samples, ${s.perTicker} with a ticker label) target <= 100 KB ${verdict(sizeMet)}`);
      if (!timeMet) missed.push(`/metrics ${service} time`);
      if (!sizeMet) missed.push(`/metrics ${service} size`);
    }
    console.log(`GET /tickers (the page's ticker list): ${tickersListed} tickers, ${f(tickersBytes / 1024, 1)} KB, ${f(percentile(tickerTimes, 0.5), 1)} ms median of 5 (${servingBars} bars per ticker stored; information, no target)`);
    return { missed };
  } finally {
    if (estimator && estimator.exitCode === null) {
      estimator.send({ type: 'stop' });
      await Promise.race([once(estimator, 'exit'), new Promise((r) => setTimeout(r, 5_000))]);
      if (estimator.exitCode === null) estimator.kill();
    }
    for (const s of services.reverse()) await stopService(s);
    rmSync(csvDir, { recursive: true, force: true });
    await db.drop();
  }
}
