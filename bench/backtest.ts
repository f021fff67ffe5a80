/**
 * npm run bench:backtest — walk-forward backtest of the model beside naive, drift and moving
 * average on every ticker of ../shared/market-data (daily closes; ^GSPC: its last ~10 years).
 *
 * Per ticker: the last 20% of the series is the test period. The model configuration is chosen
 * among CANDIDATES on the validation split of the data BEFORE the test period only (lowest
 * validation MASE over steps 1..HORIZON). Then ORIGINS origins spread evenly over the test
 * period (stride days apart, all targets inside the series), retraining every RETRAIN_EVERY
 * origins on the bars up to that origin (at most 2520). Prints MASE per forecaster, the 80%/95%
 * interval coverage and whether each target is met. Modest on purpose: ~5 min on 2 cores (wasm).
 * Beside them, a ridge regression on close + OHLCV features (bench/support/ridge-reference.ts)
 * checks whether richer inputs hold skill the LSTM misses.
 */
import type { DailyBar } from '@stocks/common';
import { readMarketData } from '../test/support/market-data.ts';
import { initBackend, isBackendName } from '../4_nn_estimator/src/training/backend.ts';
import { runBacktest, type BacktestResult } from '../4_nn_estimator/src/model/backtest.ts';
import type { ModelConfig } from '../4_nn_estimator/src/model/config.ts';
import { trainModel, type TrainInput, type TrainResult } from '../4_nn_estimator/src/model/train.ts';
import { ridgeReferenceMase } from './support/ridge-reference.ts';

const TICKERS = (process.env.BENCH_TICKERS ?? 'AAPL,AMZN,BTC-USD,GOOG,MSFT,NVDA,TSLA,^GSPC').split(',');
const HORIZON = 5;
const ORIGINS = Number(process.env.BENCH_ORIGINS ?? 40);
const RETRAIN_EVERY = 20;
const GSPC_BARS = 2520;
const COMMON: Partial<ModelConfig> = { epochs: 6, patience: 2, horizon: 30, seed: 42, shrinkage: (process.env.BENCH_SHRINKAGE as ModelConfig['shrinkage']) ?? 'significant' };
const CANDIDATES: Array<Partial<ModelConfig>> = [
  { ...COMMON, window: 20, units: 8 },
  { ...COMMON, window: 30, units: 16 },
];

async function readBars(ticker: string): Promise<DailyBar[]> {
  return readMarketData(ticker, ticker === '^GSPC' ? GSPC_BARS : undefined);
}

/** Mean over steps 1..h of MAE / naive MAE on the validation windows. */
function validationMase(r: TrainResult, h: number): number {
  let sum = 0;
  for (let k = 0; k < h; k++) sum += r.metrics.per_step[k]!.mae / r.baselines.naive.per_step[k]!.mae;
  return sum / h;
}

const fmt = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

interface TickerRow {
  ticker: string; chosen: string; valMase: number; r: BacktestResult; seconds: number;
  /** Ridge on close + OHLCV features: at the backtest's origins, and at every test-period day. */
  ridge: { mase: number; lambda: number; maseAllDays: number };
}

async function benchTicker(ticker: string): Promise<TickerRow> {
  const started = performance.now();
  const bars = await readBars(ticker);
  const testStart = Math.floor(bars.length * 0.8);
  const stride = Math.max(1, Math.floor((bars.length - 1 - HORIZON - testStart) / (ORIGINS - 1)));
  const firstOrigin = bars.length - 1 - HORIZON - (ORIGINS - 1) * stride;
  // Selection sees only bars up to the first origin (before the test period's forecasts).
  const selectionBars = bars.slice(Math.max(0, firstOrigin + 1 - 2520), firstOrigin + 1);
  const cache = new Map<string, TrainResult>();
  const key = (input: TrainInput) => `${JSON.stringify(input.config)}@${input.bars.at(-1)!.date}#${input.bars.length}`;
  const cachedTrainer = async (input: TrainInput) => {
    const k = key(input);
    const hit = cache.get(k);
    if (hit) return hit;
    const r = await trainModel(input);
    cache.set(k, r);
    return r;
  };
  let best: { config: Partial<ModelConfig>; mase: number } | undefined;
  for (const config of CANDIDATES) {
    const full = { ...config } as ModelConfig;
    const r = await cachedTrainer({ ticker, bars: selectionBars, config: full });
    const mase = validationMase(r, HORIZON);
    if (!best || mase < best.mase) best = { config, mase };
  }
  const r = await runBacktest({ ticker, bars, origins: ORIGINS, horizon: HORIZON, retrainEvery: RETRAIN_EVERY, stride, config: best!.config, trainMaxBars: 2520 }, cachedTrainer);
  const indexOf = new Map(bars.map((b, i) => [b.date, i]));
  const origins = r.per_origin.map((o) => indexOf.get(o.origin)!);
  const ridge = ridgeReferenceMase(bars, origins, HORIZON, RETRAIN_EVERY);
  const everyDay = Array.from({ length: bars.length - HORIZON - origins[0]! }, (_, i) => origins[0]! + i);
  const ridgeAllDays = ridgeReferenceMase(bars, everyDay, HORIZON, RETRAIN_EVERY * stride);
  return {
    ticker, chosen: `w${best!.config.window}/u${best!.config.units}`, valMase: best!.mase, r, seconds: (performance.now() - started) / 1000,
    ridge: { ...ridge, maseAllDays: ridgeAllDays.mase },
  };
}

const backend = await initBackend(isBackendName(process.env.TF_BACKEND) ? process.env.TF_BACKEND : undefined);
console.log(`bench:backtest on ${backend}: horizon ${HORIZON}, ${ORIGINS} origins over the last 20% of each series, retrain every ${RETRAIN_EVERY} origins, epochs <= ${COMMON.epochs}, configs ${CANDIDATES.map((c) => `w${c.window}/u${c.units}`).join(' | ')} chosen on validation before the test period`);
const rows = [];
for (const ticker of TICKERS) {
  const row = await benchTicker(ticker);
  rows.push(row);
  console.log(`  ${ticker}: done in ${row.seconds.toFixed(0)} s`);
}
const head = ['ticker', 'test origins', 'config', 'val MASE', 'MASE model', 'naive', 'drift', 'mov.avg', 'ridge', 'ridge all days', 'dir.acc', 'cov80', 'cov95', 'alpha'];
const table = rows.map(({ ticker, chosen, valMase, r, ridge }) => [
  ticker, `${r.first_origin}..${r.last_origin}`, chosen, fmt(valMase), fmt(r.aggregates.model.mase), fmt(r.aggregates.naive.mase), fmt(r.aggregates.drift.mase),
  fmt(r.aggregates.moving_average.mase), fmt(ridge.mase), fmt(ridge.maseAllDays), fmt(r.aggregates.model.directional_accuracy), fmt(r.coverage['80']), fmt(r.coverage['95']),
  fmt(r.fits.reduce((s, f) => s + f.alpha, 0) / r.fits.length),
]);
const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
for (const row of table) console.log(line(row));
console.log(`ridge: a reference (not served) — ridge regression on the close features plus OHLCV ones (range, close in range,
  overnight gap, open-to-close, volume vs 20-day mean), lambda chosen before the test period; "all days" forecasts from
  every test-period day instead of the ${ORIGINS} origins (less noisy). Lambdas: ${rows.map((x) => `${x.ticker} ${x.ridge.lambda}`).join(', ')}`);

const mases = rows.map((x) => x.r.aggregates.model.mase);
const cov80 = rows.map((x) => x.r.coverage['80']);
const pooled80 = cov80.reduce((s, c) => s + c, 0) / cov80.length;
const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
console.log('\ntargets:');
console.log(`  model MASE <= 1.00 on every ticker: ${verdict(mases.every((m) => m <= 1))} (worst ${fmt(Math.max(...mases))} on ${rows[mases.indexOf(Math.max(...mases))]!.ticker})`);
console.log(`  model MASE < 0.98 on at least one:  ${verdict(mases.some((m) => m < 0.98))} (best ${fmt(Math.min(...mases))} on ${rows[mases.indexOf(Math.min(...mases))]!.ticker})`);
console.log(`  80% coverage within [0.75, 0.85]:   per ticker ${verdict(cov80.every((c) => c >= 0.75 && c <= 0.85))} (${cov80.filter((c) => c >= 0.75 && c <= 0.85).length}/${cov80.length} inside), mean over tickers ${fmt(pooled80)} ${verdict(pooled80 >= 0.75 && pooled80 <= 0.85)}`);
console.log(`  total ${rows.reduce((s, x) => s + x.seconds, 0).toFixed(0)} s`);
const allMet = mases.every((m) => m <= 1) && mases.some((m) => m < 0.98) && cov80.every((c) => c >= 0.75 && c <= 0.85);
process.exitCode = allMet ? 0 : 1;
