/** Classical benchmarks, evaluated on exactly the model's validation windows (same end days t). */
import { at, mean } from './features.ts';

export type Forecaster = (closes: readonly number[], t: number, window: number, horizon: number) => number[];

/** Random walk: every future close equals close[t]. The bar any model must beat. */
export const naiveForecast: Forecaster = (closes, t, _window, horizon) => new Array<number>(horizon).fill(at(closes, t));

/** Random walk with drift: extend the straight line from the window's first to its last close. */
export const driftForecast: Forecaster = (closes, t, window, horizon) => {
  const first = at(closes, t - window + 1);
  const last = at(closes, t);
  const slope = window > 1 ? (last - first) / (window - 1) : 0;
  return Array.from({ length: horizon }, (_, k) => Math.max(last + slope * (k + 1), Number.EPSILON));
};

/** Every future close equals the mean close over the input window. */
export const movingAverageForecast: Forecaster = (closes, t, window, horizon) =>
  new Array<number>(horizon).fill(mean(closes.slice(t - window + 1, t + 1)));

export function forecastWindows(forecaster: Forecaster, closes: readonly number[], endIndices: readonly number[], window: number, horizon: number): number[][] {
  return endIndices.map((t) => forecaster(closes, t, window, horizon));
}
