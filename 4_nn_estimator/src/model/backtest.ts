/**
 * Walk-forward backtest. Origins are the last `origins` trading days (every `stride`-th) whose
 * `horizon` targets exist. At each origin t the model knows closes[0..t] only: it is trained (or
 * reused, retraining every `retrainEvery` origins) on bars up to and including t, forecasts
 * t+1..t+horizon, and is compared with the actual closes; the naive, drift and moving-average
 * baselines forecast from the very same origins. No bar after an origin is ever seen by the
 * model used at that origin.
 *
 * Bands: at the same origins the served bands (those the version serves, as /predict draws them:
 * its stored band models' served one, held non-narrowing; or those of `bandModel` when given) are scored beside static, EWMA and GARCH(1,1)-t bands centred on the same served point, each
 * baseline refitted with the model on the same training bars: coverage, interval score and QLIKE
 * per step and level on log moves, with Diebold-Mariano p-values of the served bands against each.
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
import { centredMoves, compareSteps, priceBands, stepLosses, summarise, type StepComparison, type StepSummary } from './bands/evaluate.ts';
import { widenWithHorizon } from './bands/fan.ts';
import { baselineFitters, loadBands } from './bands/registry.ts';
import type { BandForecast, BandModel, BandModelFitter } from './bands/types.ts';
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
  /** Bands to serve instead of the version's own (e.g. the learned scale model), centred on its point. */
  bandModel?: BandModelFitter;
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

export const BAND_BASELINE_NAMES = ['static', 'ewma', 'garch'] as const;
export type BandBaselineName = (typeof BAND_BASELINE_NAMES)[number];
type PriceBands = { lower80: number[]; upper80: number[]; lower95: number[]; upper95: number[] };

/** Per step k = 1..horizon: every band model's scores and the served bands' DM tests against each baseline. */
export interface BandReport {
  /** Which bands the 'model' row scores: the version's own ('version') or a band model's name. */
  served: string;
  per_step: Array<{
    step: number;
    models: Record<'model' | BandBaselineName, StepSummary | null>;
    /** DM p-values of the served bands against each baseline (loss: interval score per level, QLIKE); null with < 3 origins. */
    dm: Record<BandBaselineName, StepComparison | null>;
  }>;
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
  /** The baselines' bands around the same point (prices); absent for a baseline that could not be fitted. */
  baseline_intervals: Partial<Record<BandBaselineName, PriceBands>>;
  /** Forecast variance of each step's log move, per band model. */
  variance: Partial<Record<'model' | BandBaselineName, number[]>>;
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
  bands: BandReport;
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
  const bandFitters = Object.values(baselineFitters(config.horizon));
  let bandModels: Partial<Record<BandBaselineName, BandModel>> = {};
  let servedBands: BandModel | undefined;
  const servedNames = new Set<string>();
  const bandForecasts: Record<'model' | BandBaselineName, Array<BandForecast | undefined>> = { model: [], static: [], ewma: [], garch: [] };
  try {
    for (const [i, t] of originIdx.entries()) {
      if (i % retrainEvery === 0) {
        if (current) disposeModel(current.model);
        current = undefined;
        const trainBars = input.bars.slice(Math.max(0, t + 1 - maxBars), t + 1); // nothing after the origin
        const result = await train({ ticker: input.ticker, bars: trainBars, config });
        current = { model: await deserializeModel(result.artifact), result };
        fits.push({ origin: at(dates, t), alpha: result.alpha, skill: result.skill, epochs: result.epochs_run, duration_ms: result.duration_ms });
        bandModels = fitBandModels(bandFitters, trainBars);
        servedBands = input.bandModel?.fit(trainBars) ?? servedOf(result.bands);
        servedNames.add(input.bandModel?.name ?? (result.bands ? (loadBands(result.bands)?.served ?? 'version') : 'version'));
      }
      const { model, result } = current!;
      const history = input.bars.slice(0, t + 1);
      const point = forecast(model, result.scaler, result.config, result.alpha, history, input.horizon);
      const recent = input.bars.slice(Math.max(0, t + 1 - maxBars), t + 1);
      const served = servedBands ? widenWithHorizon(servedBands.forecast(recent, input.horizon)) : versionBands(intervalsFor(result.intervals, closes.slice(Math.max(0, t - 60), t + 1), point), point);
      const bands = priceBands(served, point);
      bandForecasts.model.push(served);
      const baseline_intervals: OriginResult['baseline_intervals'] = {};
      const variance: OriginResult['variance'] = { model: served.variance };
      for (const name of BAND_BASELINE_NAMES) {
        const f = bandModels[name]?.forecast(recent, input.horizon);
        bandForecasts[name].push(f);
        if (f) {
          baseline_intervals[name] = priceBands(f, point);
          variance[name] = f.variance;
        }
      }
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
        intervals: bands,
        mae: maeByForecaster,
        baseline_intervals,
        variance,
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
    bands: bandReport(input.bars, originIdx, perOrigin, bandForecasts, input.horizon, stride, [...servedNames].join('+')),
    fits,
    per_origin: perOrigin,
    duration_ms: Math.round(performance.now() - started),
    backend: tf.getBackend(),
  };
}

/** The band model a version serves (its stored choice); undefined for versions without band models. */
function servedOf(stored: TrainResult['bands']): BandModel | undefined {
  const loaded = stored ? loadBands(stored) : undefined;
  return loaded?.models[loaded.served];
}

/** Fits each band model on the training bars; one that cannot fit on them (too short) is left out. */
function fitBandModels(fitters: readonly BandModelFitter[], trainBars: readonly DailyBar[]): Partial<Record<BandBaselineName, BandModel>> {
  const out: Partial<Record<BandBaselineName, BandModel>> = {};
  for (const fitter of fitters) {
    try {
      out[fitter.name as BandBaselineName] = fitter.fit(trainBars);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
    }
  }
  return out;
}

/**
 * The version's own bands as a BandForecast: log distances from the point; the variance is the
 * Gaussian one implied by the 95% band's width (the version has no variance of its own).
 */
function versionBands(bands: ReturnType<typeof intervalsFor>, point: readonly number[]): BandForecast {
  const q = (key: keyof (typeof bands)[number]) => bands.map((b, k) => Math.log(b[key] / at(point, k)));
  const lower95 = q('lower95');
  const upper95 = q('upper95');
  return { variance: upper95.map((u, k) => ((u - at(lower95, k)) / (2 * 1.959964)) ** 2), lower80: q('lower80'), upper80: q('upper80'), lower95, upper95 };
}

function bandReport(
  bars: readonly DailyBar[], originIdx: readonly number[], perOrigin: readonly OriginResult[],
  forecasts: Record<'model' | BandBaselineName, Array<BandForecast | undefined>>, horizon: number, stride: number, served: string,
): BandReport {
  // Log moves around the served point, the quantity every band is centred on.
  const pointMoves = new Map(originIdx.map((t, i) => [t, at(perOrigin, i).forecasts.model.map((p) => Math.log(p / at(perOrigin, i).last_close))]));
  const actual = centredMoves(bars, originIdx, horizon, (t, k) => at(pointMoves.get(t)!, k - 1));
  const complete = (name: 'model' | BandBaselineName) => (forecasts[name].every((f) => f) ? (forecasts[name] as BandForecast[]) : undefined);
  return {
    served,
    per_step: Array.from({ length: horizon }, (_, j) => {
      const step = j + 1;
      const losses = Object.fromEntries((['model', ...BAND_BASELINE_NAMES] as const).map((name) => {
        const f = complete(name);
        return [name, f ? stepLosses(f, actual, step) : undefined];
      })) as Record<'model' | BandBaselineName, ReturnType<typeof stepLosses> | undefined>;
      // Forecasts from origins closer than `step` sessions apart overlap: DM's lag follows.
      const overlap = Math.ceil(step / stride);
      return {
        step,
        models: Object.fromEntries(Object.entries(losses).map(([name, l]) => [name, l ? summarise(l, step, overlap) : null])) as Record<'model' | BandBaselineName, StepSummary | null>,
        dm: Object.fromEntries(BAND_BASELINE_NAMES.map((name) => [name, losses[name] && losses.model && originIdx.length >= 3 ? compareSteps(losses.model, losses[name]!, overlap) : null])) as Record<BandBaselineName, StepComparison | null>,
      };
    }),
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
  lines.push(`bands (${r.bands.served} bands beside baselines; log moves around the served point; DM p two-sided, served vs baseline):`);
  lines.push(`${'step  bands'.padEnd(16)}${pad('cov80', 8)}${pad('cov95', 8)}${pad('IS80', 9)}${pad('IS95', 9)}${pad('QLIKE', 9)}${pad('p IS80', 8)}${pad('p IS95', 8)}${pad('p QLIKE', 8)}`);
  for (const s of r.bands.per_step) {
    for (const [name, m] of Object.entries(s.models)) {
      if (!m) continue;
      const dm = name === 'model' ? undefined : s.dm[name as BandBaselineName];
      lines.push(`${`${String(s.step).padEnd(6)}${name}`.padEnd(16)}${pad(f(m.coverage80, 3), 8)}${pad(f(m.coverage95, 3), 8)}${pad(f(m.interval_score80, 4), 9)}${pad(f(m.interval_score95, 4), 9)}${pad(f(m.qlike, 3), 9)}${pad(dm ? f(dm.is80.two_sided, 3) : '', 8)}${pad(dm ? f(dm.is95.two_sided, 3) : '', 8)}${pad(dm ? f(dm.qlike.two_sided, 3) : '', 8)}`);
    }
  }
  lines.push(`mean alpha ${f(r.fits.reduce((s, x) => s + x.alpha, 0) / r.fits.length, 3)}, mean validation skill ${f(r.fits.reduce((s, x) => s + x.skill, 0) / r.fits.length, 4)}`);
  return lines.join('\n');
}
