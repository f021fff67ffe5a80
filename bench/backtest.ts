/**
 * npm run bench:backtest — two parts, on every ticker of ../shared/market-data (daily bars;
 * ^GSPC: its last ~10 years).
 *
 * Bands (bench/support/bands-bench.ts): every origin of the last 20% of each series, h = 1 and 5,
 * static / EWMA / GARCH-t / the learned bands beside the served ones, which the product's own
 * choice (choice.ts) names at every refit; the issue's targets beside every figure.
 *
 * Point: a walk-forward backtest of the model beside naive, drift and moving average.
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
import { readMarketData, SHARED_MARKET_DATA_DIR } from '../test/support/market-data.ts';
import { initBackend, isBackendName } from '../4_nn_estimator/src/training/backend.ts';
import { runBacktest, type BacktestResult } from '../4_nn_estimator/src/model/backtest.ts';
import type { ModelConfig } from '../4_nn_estimator/src/model/config.ts';
import { trainModel, type TrainInput, type TrainResult } from '../4_nn_estimator/src/model/train.ts';
import { dieboldMariano, meanOf } from '../4_nn_estimator/src/model/bands/scoring.ts';
import { BAND_COLUMNS, benchBands, REFIT_EVERY, type Column, type HorizonResult } from './support/bands-bench.ts';
import { blockBootstrapInterval } from './support/block-bootstrap.ts';
import { ridgeReferenceMase } from './support/ridge-reference.ts';

const TICKERS = (process.env.BENCH_TICKERS ?? 'AAPL,AMZN,BTC-USD,GOOG,MSFT,NVDA,TSLA,^GSPC').split(',');
const HORIZON = 5;
const BAND_HORIZONS = [1, 5];
const RUN_POINT = process.env.BENCH_POINT !== '0';
const RUN_BANDS = process.env.BENCH_BANDS !== '0';
const ORIGINS = Number(process.env.BENCH_ORIGINS ?? 40);
const RETRAIN_EVERY = 20;
const GSPC_BARS = 2520;
const COMMON: Partial<ModelConfig> = { epochs: 6, patience: 2, horizon: 30, seed: 42, shrinkage: (process.env.BENCH_SHRINKAGE as ModelConfig['shrinkage']) ?? 'significant' };
const CANDIDATES: Array<Partial<ModelConfig>> = [
  { ...COMMON, window: 20, units: 8 },
  { ...COMMON, window: 30, units: 16 },
];

/**
 * BENCH_SPAN=development scores the span just before the test span instead (its last 20% ends where
 * the test span starts), so a change of design can be judged without looking at the test span.
 */
const SPAN = process.env.BENCH_SPAN === 'development' ? 'development' : 'test';

async function readBars(ticker: string): Promise<DailyBar[]> {
  const all = await readMarketData(ticker, undefined, SHARED_MARKET_DATA_DIR);
  const series = ticker === '^GSPC' ? all.slice(-GSPC_BARS) : all;
  if (SPAN === 'test') return series;
  const end = all.length - (series.length - Math.floor(series.length * 0.8));
  return all.slice(ticker === '^GSPC' ? Math.max(0, end - GSPC_BARS) : 0, end);
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

const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
let allMet = true;

/** Relative interval score vs static, with a DM mark: '<' significantly better, '>' significantly worse (two-sided 5%). */
function relMark(h: HorizonResult, name: string, level: 80 | 95): string {
  const rel = h.summary[name]![`interval_score${level}`] / h.summary.static![`interval_score${level}`] - 1;
  const dm = h.vs_static[name]?.[`is${level}`];
  const mark = dm && dm.two_sided < 0.05 ? (rel < 0 ? '<' : '>') : ' ';
  return `${pct(rel)}${mark}`;
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of rows) console.log(line(r));
}

async function benchAllBands(): Promise<void> {
  const results = new Map<string, HorizonResult[]>();
  for (const ticker of TICKERS) {
    const started = performance.now();
    const bars = await readBars(ticker);
    results.set(ticker, benchBands(bars, BAND_HORIZONS));
    console.log(`  ${ticker}: bands done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  const names: string[] = [...BAND_COLUMNS];
  const counts = (r: HorizonResult) => Object.entries(r.choices).map(([n, c]) => `${n}×${c}`).join(' ');
  for (const [hi, h] of BAND_HORIZONS.entries()) {
    console.log(`\nbands, h = ${h} (step ${h} log move around the naive point; IS = interval score vs static, < / > = DM two-sided 5% better / worse)`);
    const head = ['ticker', 'origins', 'served', ...names.map((n) => `cov80 ${n}`), ...names.map((n) => `cov95 ${n}`), ...names.slice(1).map((n) => `IS80 ${n}`), ...names.slice(1).map((n) => `IS95 ${n}`), ...(h === 1 ? names.slice(1).map((n) => `dQLIKE ${n}`) : [])];
    const rows = TICKERS.map((t) => {
      const r = results.get(t)![hi]!;
      return [
        t, String(r.n_origins), counts(r),
        ...names.map((n) => fmt(r.summary[n]!.coverage80)), ...names.map((n) => fmt(r.summary[n]!.coverage95)),
        ...names.slice(1).map((n) => relMark(r, n, 80)), ...names.slice(1).map((n) => relMark(r, n, 95)),
        ...(h === 1 ? names.slice(1).map((n) => fmt(r.summary[n]!.qlike - r.summary.static!.qlike)) : []),
      ];
    });
    printTable(head, rows);
    if (hi > 0) continue;
    console.log(`served at each refit (every ${REFIT_EVERY} origins; the product's choice on the bars up to it), with its reason:`);
    for (const t of TICKERS) {
      const r = results.get(t)![hi]!;
      console.log(`  ${t.padEnd(8)} ${r.served_choice}`);
      for (const reason of r.reasons) console.log(`           ${reason}`);
    }
  }

  console.log('\nband targets (served bands; same figures for static, EWMA, GARCH beside):');
  for (const [hi, h] of BAND_HORIZONS.entries()) {
    const per = TICKERS.map((t) => results.get(t)![hi]!);
    for (const name of names) {
      const cov80 = per.map((r) => r.summary[name]!.coverage80);
      const cov95 = per.map((r) => r.summary[name]!.coverage95);
      const ok80 = cov80.filter((c) => Math.abs(c - 0.8) <= 0.05).length;
      const ok95 = cov95.filter((c) => Math.abs(c - 0.95) <= 0.025).length;
      const worse = name === 'static' ? 0 : per.filter((r) => (['is80', 'is95'] as const).some((k) => {
        const d = r.vs_static[name]![k];
        return d.two_sided < 0.05 && d.a_worse < 0.5;
      })).length;
      const rel80 = meanOf(per.map((r) => r.summary[name]!.interval_score80 / r.summary.static!.interval_score80 - 1));
      const rel95 = meanOf(per.map((r) => r.summary[name]!.interval_score95 / r.summary.static!.interval_score95 - 1));
      const dq = meanOf(per.map((r) => r.summary[name]!.qlike - r.summary.static!.qlike));
      const ci = (key: 'is80' | 'is95' | 'qlike') => (name === 'static' ? '' : ` (90% CI ${resampledMean(per, name, key).map((x) => (key === 'qlike' ? x.toFixed(3) : pct(x))).join('..')})`);
      const calibrated = ok80 === per.length && ok95 === per.length;
      const g80 = meanOf(per.map((r) => r.summary.garch!.interval_score80 / r.summary.static!.interval_score80 - 1));
      const g95 = meanOf(per.map((r) => r.summary.garch!.interval_score95 / r.summary.static!.interval_score95 - 1));
      const checks: Array<[string, boolean]> = [
        [`|cov80-0.80|<=0.05 on ${ok80}/${per.length} (worst ${fmt(cov80[argmax(cov80.map((c) => Math.abs(c - 0.8)))]!)})`, ok80 === per.length],
        [`|cov95-0.95|<=0.025 on ${ok95}/${per.length} (worst ${fmt(cov95[argmax(cov95.map((c) => Math.abs(c - 0.95)))]!)})`, ok95 === per.length],
        [`IS significantly worse than static on ${worse}/${per.length} (target 0)`, worse === 0],
        [`mean IS80 vs static ${pct(rel80)}${ci('is80')} (target <= -4%)`, rel80 <= -0.04],
        [`mean IS95 vs static ${pct(rel95)}${ci('is95')} (target <= -6%)`, rel95 <= -0.06],
        ...(h === 1 ? [[`mean QLIKE - static ${dq.toFixed(3)}${ci('qlike')} (target <= -0.10)`, dq <= -0.1] as [string, boolean]] : []),
        [`stretch: IS at or below GARCH's (${pct(g80)} / ${pct(g95)}) while calibrated`, rel80 <= g80 && rel95 <= g95 && calibrated],
      ];
      // Not a target: whether a coverage is off by more than its windows' noise (coverageTest).
      const offNominal = (key: 'coverage80_p' | 'coverage95_p') => {
        const off = TICKERS.filter((_, i) => (per[i]!.summary[name]![key] ?? 1) < 0.05);
        return `${off.length}/${per.length}${off.length ? ` (${off.join(', ')})` : ''}`;
      };
      const calibrationTest = `coverage significantly off nominal (5%): 80% on ${offNominal('coverage80_p')}, 95% on ${offNominal('coverage95_p')}`;
      console.log(`  h=${h} ${name.padEnd(7)} ${checks.map(([text, ok]) => `${text} ${verdict(ok)}`).join('; ')}; ${calibrationTest}`);
      if (name === 'served') allMet &&= checks.slice(0, -1).every(([, ok]) => ok);
    }
  }
}

/**
 * How far the mean over tickers of a loss against static could move with other draws of the same
 * periods: a moving-block bootstrap of each ticker's origins (blocks of 20, the same draw for the
 * model and static). IS: the relative score; QLIKE: the difference.
 */
function resampledMean(per: readonly HorizonResult[], name: string, key: 'is80' | 'is95' | 'qlike'): [number, number] {
  const mean = (xs: readonly number[], idx: Int32Array) => {
    let s = 0;
    for (const i of idx) s += xs[i]!;
    return s / idx.length;
  };
  return blockBootstrapInterval(per.map((r) => r.losses.static[key].length), (indices) => meanOf(per.map((r, i) => {
    const a = mean(r.losses[name as Column][key], indices[i]!);
    const b = mean(r.losses.static[key], indices[i]!);
    return key === 'qlike' ? a - b : a / b - 1;
  })));
}

function argmax(xs: number[]): number {
  return xs.indexOf(Math.max(...xs));
}

/** Diebold-Mariano of the model's point forecasts against naive: per origin, mean squared error over the steps. */
function pointDm(r: BacktestResult) {
  const loss = (name: 'model' | 'naive') => r.per_origin.map((o) => meanOf(o.forecasts[name].map((f, k) => (f - o.actual[k]!) ** 2)));
  return dieboldMariano(loss('model'), loss('naive'), r.params.stride >= HORIZON ? 1 : HORIZON);
}

async function benchAllPoints(): Promise<void> {
  console.log(`\npoint: horizon ${HORIZON}, ${ORIGINS} origins over the last 20% of each series, retrain every ${RETRAIN_EVERY} origins, epochs <= ${COMMON.epochs}, configs ${CANDIDATES.map((c) => `w${c.window}/u${c.units}`).join(' | ')} chosen on validation before the test period`);
  const rows = [];
  for (const ticker of TICKERS) {
    const row = await benchTicker(ticker);
    rows.push(row);
    console.log(`  ${ticker}: done in ${row.seconds.toFixed(0)} s`);
  }
  const head = ['ticker', 'test origins', 'config', 'val MASE', 'MASE model', 'step 1', 'step 5', 'DM p', 'naive', 'drift', 'mov.avg', 'ridge', 'ridge all days', 'dir.acc', 'alpha'];
  const dms = rows.map((x) => pointDm(x.r));
  const table = rows.map(({ ticker, chosen, valMase, r, ridge }, i) => [
    ticker, `${r.first_origin}..${r.last_origin}`, chosen, fmt(valMase), fmt(r.aggregates.model.mase), fmt(r.aggregates.model.mase_per_step[0]), fmt(r.aggregates.model.mase_per_step[HORIZON - 1]),
    fmt(dms[i]!.p_two_sided), fmt(r.aggregates.naive.mase), fmt(r.aggregates.drift.mase),
    fmt(r.aggregates.moving_average.mase), fmt(ridge.mase), fmt(ridge.maseAllDays), fmt(r.aggregates.model.directional_accuracy),
    fmt(r.fits.reduce((s, f) => s + f.alpha, 0) / r.fits.length),
  ]);
  console.log('');
  printTable(head, table);
  console.log(`ridge: a reference (not served) — ridge regression on the close features plus OHLCV ones (range, close in range,
  overnight gap, open-to-close, volume vs 20-day mean), lambda chosen before the test period; "all days" forecasts from
  every test-period day instead of the ${ORIGINS} origins (less noisy). Lambdas: ${rows.map((x) => `${x.ticker} ${x.ridge.lambda}`).join(', ')}`);

  const mases = rows.map((x) => Math.max(x.r.aggregates.model.mase, x.r.aggregates.model.mase_per_step[0]!, x.r.aggregates.model.mase_per_step[HORIZON - 1]!));
  const worse = rows.filter((_, i) => dms[i]!.p_two_sided < 0.05 && dms[i]!.mean_difference > 0).length;
  console.log('\npoint targets:');
  console.log(`  model MASE <= 1.005 (all steps, step 1, step ${HORIZON}) on every ticker: ${verdict(mases.every((m) => m <= 1.005))} (worst ${fmt(Math.max(...mases))} on ${rows[mases.indexOf(Math.max(...mases))]!.ticker})`);
  console.log(`  not significantly worse than naive (two-sided DM 5%): ${verdict(worse === 0)} (${worse}/${rows.length} worse)`);
  const pooled = rows.map((x) => x.r.aggregates.model.mase);
  console.log(`  model MASE < 0.98 on at least one (an earlier target): ${verdict(pooled.some((m) => m < 0.98))} (best ${fmt(Math.min(...pooled))} on ${rows[pooled.indexOf(Math.min(...pooled))]!.ticker})`);
  console.log(`  total ${rows.reduce((s, x) => s + x.seconds, 0).toFixed(0)} s`);
  allMet &&= mases.every((m) => m <= 1.005) && worse === 0 && pooled.some((m) => m < 0.98);
}

const backend = await initBackend(isBackendName(process.env.TF_BACKEND) ? process.env.TF_BACKEND : undefined);
console.log(`bench:backtest on ${backend}; tickers ${TICKERS.join(', ')}; ${SPAN} span`);
if (RUN_BANDS) await benchAllBands();
if (RUN_POINT) await benchAllPoints();
process.exitCode = allMet ? 0 : 1;
