/** Price-forecast error metrics, per horizon step and over all steps. */
import { at } from './features.ts';

export interface ErrorMetrics {
  mae: number;
  rmse: number;
  /** Mean absolute percentage error, in percent. */
  mape: number;
}

export interface StepMetrics extends ErrorMetrics {
  step: number;
}

/** Top-level mae/rmse/mape are for step 1 (next trading day). */
export interface Evaluation extends ErrorMetrics {
  per_step: StepMetrics[];
  all_steps: ErrorMetrics;
}

export function mae(forecast: readonly number[], actual: readonly number[]): number {
  return meanOf(forecast, actual, (f, a) => Math.abs(f - a));
}

export function rmse(forecast: readonly number[], actual: readonly number[]): number {
  return Math.sqrt(meanOf(forecast, actual, (f, a) => (f - a) ** 2));
}

export function mape(forecast: readonly number[], actual: readonly number[]): number {
  return 100 * meanOf(forecast, actual, (f, a) => Math.abs((f - a) / a));
}

export function errorMetrics(forecast: readonly number[], actual: readonly number[]): ErrorMetrics {
  return { mae: mae(forecast, actual), rmse: rmse(forecast, actual), mape: mape(forecast, actual) };
}

/** `forecasts[w][k]` and `actuals[w][k]`: window w, step k+1. Steps = the shorter row length. */
export function evaluate(forecasts: readonly (readonly number[])[], actuals: readonly (readonly number[])[]): Evaluation {
  if (forecasts.length === 0 || forecasts.length !== actuals.length) {
    throw new RangeError(`need equally many, non-zero forecasts and actuals (got ${forecasts.length} and ${actuals.length})`);
  }
  const nSteps = Math.min(...forecasts.map((f) => f.length), ...actuals.map((a) => a.length));
  const per_step = Array.from({ length: nSteps }, (_, k) => ({
    step: k + 1,
    ...errorMetrics(
      forecasts.map((f) => at(f, k)),
      actuals.map((a) => at(a, k)),
    ),
  }));
  const all_steps = errorMetrics(
    forecasts.flatMap((f) => f.slice(0, nSteps)),
    actuals.flatMap((a) => a.slice(0, nSteps)),
  );
  const step1 = at(per_step, 0);
  return { mae: step1.mae, rmse: step1.rmse, mape: step1.mape, per_step, all_steps };
}

function meanOf(forecast: readonly number[], actual: readonly number[], error: (f: number, a: number) => number): number {
  if (forecast.length !== actual.length || forecast.length === 0) {
    throw new RangeError(`forecast and actual lengths differ or are empty (${forecast.length} vs ${actual.length})`);
  }
  let sum = 0;
  for (let i = 0; i < forecast.length; i++) sum += error(at(forecast, i), at(actual, i));
  return sum / forecast.length;
}

/**
 * MASE as used throughout this service: the model's MAE divided by the naive (last value)
 * forecast's MAE on exactly the same origins and steps. Naive scores 1 by construction; below 1
 * beats it. (Hyndman's MASE scales by the in-sample one-step naive MAE instead; on the same
 * windows both order models identically, and this one stays comparable across horizons.)
 */
export function relativeMase(modelMae: number, naiveMae: number): number {
  return naiveMae > 0 ? modelMae / naiveMae : Number.NaN;
}
