/**
 * Walk-forward backtest. Origins are the last `origins` trading days (every `stride`-th) whose
 * `horizon` targets exist. At each origin t the model knows closes[0..t] only: it is trained (or
 * reused, retraining every `retrainEvery` origins) on bars up to and including t, forecasts
 * t+1..t+horizon, and is compared with the actual closes; the naive, drift and moving-average
 * baselines forecast from the very same origins. No bar after an origin is ever seen by the
 * model used at that origin.
 */
import * as tf from '@tensorflow/tfjs';
import type { DailyBar } from '@stocks/common';
import { driftForecast, movingAverageForecast, naiveForecast, type Forecaster } from './baselines.ts';
import { resolveModelConfig, type ModelConfig } from './config.ts';
import { minimumBarsForTraining } from './dataset.ts';
import { at, closesOf } from './features.ts';
import { forecast, invalidHorizon } from './forecast.ts';
import { covers, intervalsFor } from './intervals.ts';
import { deserializeModel, disposeModel } from './lstm.ts';
import { evaluate, mae, relativeMase } from './metrics.ts';
import { trainModel, type TrainInput, type TrainResult } from './train.ts';

export interface BacktestInput {
  ticker: string;
  /** Full history, oldest first. */
  bars: DailyBar[];
  origins: number;
  horizon: number;
  /** Retrain every this many origins (1 = at every origin). Default: once, at the first origin. */
  retrainEvery?: number;
  /** Days between consecutive origins (default 1). */
  stride?: number;
  config?: Partial<ModelConfig>;
  /** Most recent bars a training uses (default 2520, ~10 years). */
  trainMaxBars?: number;
  /** Called after each origin (a long backtest says how far it is). */
  onProgress?: (progress: BacktestProgress) => void;
}

export interface BacktestProgress {
  /** Origins evaluated so far, of `total`. */
  done: number;
  total: number;
  /** Fits so far. */
  fits: number;
  /** Date of the origin just evaluated. */
  origin: string;
}

export const BASELINE_NAMES = ['naive', 'drift', 'moving_average'] as const;
export type ForecasterName = 'model' | (typeof BASELINE_NAMES)[number];

export interface OriginResult {
  origin: string;
  /** Model version-like index of the training used (0-based retrain count). */
  fit: number;
  last_close: number;
  dates: string[];
  actual: number[];
  forecasts: Record<ForecasterName, number[]>;
  intervals: { lower80: number[]; upper80: number[]; lower95: number[]; upper95: number[] };
  /** Mean absolute error over the horizon steps, per forecaster. */
  mae: Record<ForecasterName, number>;
}

export interface Aggregate {
  mae: number;
  rmse: number;
  mape: number;
  /** MAE / naive MAE on the same origins and steps (naive = 1). */
  mase: number;
  /** Among (origin, step) where a move is predicted, the share in the actual direction; null when none (naive). */
  directional_accuracy: number | null;
  /** MASE per step 1..horizon. */
  mase_per_step: number[];
}

export interface BacktestResult {
  ticker: string;
  params: { origins: number; horizon: number; retrain_every: number; stride: number; train_max_bars: number };
  config: ModelConfig;
  first_origin: string;
  last_origin: string;
  n_origins: number;
  retrains: number;
  aggregates: Record<ForecasterName, Aggregate>;
  coverage: { '80': number; '95': number; per_step_80: number[]; per_step_95: number[] };
  /** Mean alpha and validation skill over the trainings. */
  fits: Array<{ origin: string; alpha: number; skill: number; epochs: number; duration_ms: number }>;
  per_origin: OriginResult[];
  duration_ms: number;
  backend: string;
}

export class BacktestRangeError extends RangeError {
  override readonly name = 'BacktestRangeError';
}

type Trainer = (input: TrainInput) => Promise<TrainResult>;

/** Indices of the origins: the last `origins` (every `stride`-th) days t with t + horizon <= n - 1. */
export function planOrigins(nBars: number, origins: number, horizon: number, stride: number, minTrainBars: number): number[] {
  const last = nBars - 1 - horizon;
  const first = last - (origins - 1) * stride;
  if (first + 1 < minTrainBars) {
    throw new BacktestRangeError(
      `${origins} origins every ${stride} day(s) with horizon ${horizon} need at least ${minTrainBars + (origins - 1) * stride + horizon} bars (the first origin needs ${minTrainBars} bars to train on); got ${nBars}. Ask for fewer origins or load more history.`,
    );
  }
  return Array.from({ length: origins }, (_, i) => first + i * stride);
}

export async function runBacktest(input: BacktestInput, train: Trainer = trainModel): Promise<BacktestResult> {
  const started = performance.now();
  const config = resolveModelConfig(input.config);
  // The serving rule, checked before any fit: a horizon the model cannot forecast is refused up front.
  if (invalidHorizon(input.horizon, config)) throw new BacktestRangeError(`horizon ${input.horizon} exceeds the model's ${config.horizon} steps`);
  const stride = input.stride ?? 1;
  const retrainEvery = input.retrainEvery ?? input.origins;
  const maxBars = input.trainMaxBars ?? 2520;
  const closes = closesOf(input.bars);
  const dates = input.bars.map((b) => b.date);
  const originIdx = planOrigins(closes.length, input.origins, input.horizon, stride, minimumBarsForTraining(config));
  const baselines: Record<(typeof BASELINE_NAMES)[number], Forecaster> = { naive: naiveForecast, drift: driftForecast, moving_average: movingAverageForecast };

  const perOrigin: OriginResult[] = [];
  const fits: BacktestResult['fits'] = [];
  let current: { model: tf.LayersModel; result: TrainResult } | undefined;
  try {
    for (const [i, t] of originIdx.entries()) {
      if (i % retrainEvery === 0) {
        if (current) disposeModel(current.model);
        current = undefined;
        const trainBars = input.bars.slice(Math.max(0, t + 1 - maxBars), t + 1); // nothing after the origin
        const result = await train({ ticker: input.ticker, bars: trainBars, config });
        current = { model: await deserializeModel(result.artifact), result };
        fits.push({ origin: at(dates, t), alpha: result.alpha, skill: result.skill, epochs: result.epochs_run, duration_ms: result.duration_ms });
      }
      const { model, result } = current!;
      const history = input.bars.slice(0, t + 1);
      const point = forecast(model, result.scaler, result.config, result.alpha, history, input.horizon);
      const bands = intervalsFor(result.intervals, closes.slice(Math.max(0, t - 60), t + 1), point);
      const actual = closes.slice(t + 1, t + 1 + input.horizon);
      const forecasts = { model: point } as Record<ForecasterName, number[]>;
      for (const name of BASELINE_NAMES) forecasts[name] = baselines[name](closes, t, result.config.window, input.horizon);
      const maeByForecaster = Object.fromEntries(Object.entries(forecasts).map(([name, f]) => [name, mae(f, actual)])) as Record<ForecasterName, number>;
      perOrigin.push({
        origin: at(dates, t),
        fit: fits.length - 1,
        last_close: at(closes, t),
        dates: dates.slice(t + 1, t + 1 + input.horizon),
        actual,
        forecasts,
        intervals: {
          lower80: bands.map((b) => b.lower80),
          upper80: bands.map((b) => b.upper80),
          lower95: bands.map((b) => b.lower95),
          upper95: bands.map((b) => b.upper95),
        },
        mae: maeByForecaster,
      });
      input.onProgress?.({ done: i + 1, total: originIdx.length, fits: fits.length, origin: at(dates, t) });
    }
  } finally {
    if (current) disposeModel(current.model);
  }

  return {
    ticker: input.ticker,
    params: { origins: input.origins, horizon: input.horizon, retrain_every: retrainEvery, stride, train_max_bars: maxBars },
    config,
    first_origin: at(perOrigin, 0).origin,
    last_origin: at(perOrigin, perOrigin.length - 1).origin,
    n_origins: perOrigin.length,
    retrains: fits.length,
    aggregates: aggregate(perOrigin),
    coverage: coverage(perOrigin, input.horizon),
    fits,
    per_origin: perOrigin,
    duration_ms: Math.round(performance.now() - started),
    backend: tf.getBackend(),
  };
}

export function aggregate(perOrigin: readonly OriginResult[]): Record<ForecasterName, Aggregate> {
  const names: ForecasterName[] = ['model', ...BASELINE_NAMES];
  const actuals = perOrigin.map((o) => o.actual);
  const evaluations = new Map(names.map((name) => [name, evaluate(perOrigin.map((o) => o.forecasts[name]), actuals)]));
  const naive = evaluations.get('naive')!;
  return Object.fromEntries(
    names.map((name) => {
      const e = evaluations.get(name)!;
      // Only points where the forecaster predicts a move count (a flat forecast has no direction).
      const moved = perOrigin.flatMap((o) => o.forecasts[name].map((f, s) => ({ f, a: at(o.actual, s), last: o.last_close }))).filter((x) => x.f !== x.last);
      const directional = name === 'naive' || moved.length === 0
        ? null
        : moved.filter((x) => Math.sign(x.f - x.last) === Math.sign(x.a - x.last)).length / moved.length;
      return [name, {
        ...e.all_steps,
        mase: relativeMase(e.all_steps.mae, naive.all_steps.mae),
        directional_accuracy: directional,
        mase_per_step: e.per_step.map((step, k) => relativeMase(step.mae, at(naive.per_step, k).mae)),
      }];
    }),
  ) as Record<ForecasterName, Aggregate>;
}

export function coverage(perOrigin: readonly OriginResult[], horizon: number): BacktestResult['coverage'] {
  const share = (level: '80' | '95', k?: number) => {
    let hit = 0;
    let n = 0;
    for (const o of perOrigin) {
      for (let s = 0; s < horizon; s++) {
        if (k !== undefined && s !== k) continue;
        const lower = level === '80' ? o.intervals.lower80 : o.intervals.lower95;
        const upper = level === '80' ? o.intervals.upper80 : o.intervals.upper95;
        n++;
        if (covers(at(lower, s), at(upper, s), at(o.actual, s))) hit++;
      }
    }
    return n ? hit / n : Number.NaN;
  };
  return {
    '80': share('80'),
    '95': share('95'),
    per_step_80: Array.from({ length: horizon }, (_, k) => share('80', k)),
    per_step_95: Array.from({ length: horizon }, (_, k) => share('95', k)),
  };
}

const pad = (s: string, n: number) => s.padStart(n);
const f = (x: number | null, digits = 4) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** A plain-text table of the aggregates and coverage. */
export function formatBacktest(r: BacktestResult): string {
  const lines = [
    `origins ${r.first_origin}..${r.last_origin} (${r.n_origins}, every ${r.params.stride} day(s)), horizon ${r.params.horizon}, ${r.retrains} training(s), window ${r.config.window}, units ${r.config.units}, ${(r.duration_ms / 1000).toFixed(1)} s on ${r.backend}`,
    `${'forecaster'.padEnd(16)}${pad('MAE', 12)}${pad('RMSE', 12)}${pad('MAPE %', 9)}${pad('MASE', 8)}${pad('dir.acc', 9)}`,
  ];
  for (const [name, a] of Object.entries(r.aggregates)) {
    lines.push(`${name.padEnd(16)}${pad(f(a.mae), 12)}${pad(f(a.rmse), 12)}${pad(f(a.mape, 3), 9)}${pad(f(a.mase, 3), 8)}${pad(f(a.directional_accuracy, 3), 9)}`);
  }
  lines.push(`interval coverage: 80% -> ${f(r.coverage['80'], 3)}, 95% -> ${f(r.coverage['95'], 3)}`);
  lines.push(`mean alpha ${f(r.fits.reduce((s, x) => s + x.alpha, 0) / r.fits.length, 3)}, mean validation skill ${f(r.fits.reduce((s, x) => s + x.skill, 0) / r.fits.length, 4)}`);
  return lines.join('\n');
}
