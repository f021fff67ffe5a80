/**
 * Close-only features (open/high/low/volume may be null in client-supplied history). All are
 * scale-free (returns, ratios), so one model generalises across price levels, and causal: the
 * feature row for day t reads closes[0..t] only.
 */
import type { DailyBar } from '@stocks/common';

export const FEATURE_NAMES = ['log_return_1d', 'log_return_5d', 'volatility_5d', 'log_close_over_ma20'] as const;
export const N_FEATURES = FEATURE_NAMES.length;

const VOLATILITY_DAYS = 5;
const MOMENTUM_DAYS = 5;
const MOVING_AVERAGE_DAYS = 20;

/** Index of the first day whose feature row is fully defined (the 20-day MA needs 19 earlier closes). */
export const FEATURE_WARMUP = Math.max(MOVING_AVERAGE_DAYS - 1, VOLATILITY_DAYS, MOMENTUM_DAYS);

/** Row-major [nDays, N_FEATURES]; rows before FEATURE_WARMUP are NaN. */
export interface FeatureMatrix {
  values: Float64Array;
  nDays: number;
  nFeatures: number;
}

export function closesOf(bars: readonly DailyBar[]): number[] {
  return bars.map((bar, i) => {
    if (!Number.isFinite(bar.close) || bar.close <= 0) {
      throw new RangeError(`bar ${i} (${bar.date}) has a non-positive or non-finite close: ${bar.close}`);
    }
    return bar.close;
  });
}

export function computeFeatures(closes: readonly number[]): FeatureMatrix {
  const nDays = closes.length;
  const values = new Float64Array(nDays * N_FEATURES).fill(Number.NaN);
  const logCloses = closes.map(Math.log);
  const logReturns = logCloses.map((v, t) => (t === 0 ? Number.NaN : v - at(logCloses, t - 1)));
  for (let t = FEATURE_WARMUP; t < nDays; t++) {
    const row = t * N_FEATURES;
    values[row] = at(logReturns, t);
    values[row + 1] = at(logCloses, t) - at(logCloses, t - MOMENTUM_DAYS);
    values[row + 2] = rangeStandardDeviation(logReturns, t - VOLATILITY_DAYS + 1, t + 1);
    values[row + 3] = Math.log(at(closes, t) / rangeMean(closes, t - MOVING_AVERAGE_DAYS + 1, t + 1));
  }
  return { values, nDays, nFeatures: N_FEATURES };
}

// mean / standardDeviation over xs[from, to) without copying (this runs per request on
// POST /predict); the same sums in the same order, so the values are bit-identical.
function rangeMean(xs: readonly number[], from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += at(xs, i);
  return sum / (to - from);
}

function rangeStandardDeviation(xs: readonly number[], from: number, to: number): number {
  const m = rangeMean(xs, from, to);
  let sum = 0;
  for (let i = from; i < to; i++) sum += (at(xs, i) - m) ** 2;
  return Math.sqrt(sum / (to - from));
}

/** Cumulative log returns log(close[t+k] / close[t]) for k = 1..horizon (needs t + horizon < closes.length). */
export function cumulativeLogReturns(closes: readonly number[], t: number, horizon: number): number[] {
  const base = at(closes, t);
  return Array.from({ length: horizon }, (_, k) => Math.log(at(closes, t + k + 1) / base));
}

export function mean(xs: readonly number[]): number {
  return rangeMean(xs, 0, xs.length);
}

/** Population standard deviation. */
export function standardDeviation(xs: readonly number[]): number {
  return rangeStandardDeviation(xs, 0, xs.length);
}

/** Checked index access (noUncheckedIndexedAccess): out of range is a programming error. */
export function at<T>(xs: ArrayLike<T>, i: number): T {
  const value = xs[i];
  if (value === undefined) throw new RangeError(`index ${i} out of range (length ${xs.length})`);
  return value;
}
