/**
 * Inputs of the learned scale model: what carries information about the next days' volatility.
 * Per day t (causal: reads bars[0..t] only):
 * - squared close-to-close log returns, averaged over 1, 5, 22 and 66 days (HAR: day/week/month/quarter);
 * - a range variance per day, overnight gap^2 + Garman-Klass (0.5 ln(H/L)^2 - (2 ln2 - 1) ln(C/O)^2),
 *   averaged over the same lags: ranges are a far less noisy measure of a day's variance than r^2;
 * - EWMA(0.94) of r^2 (RiskMetrics);
 * - the last return and the last week's return in units of the EWMA volatility (leverage: falls raise
 *   volatility more than rises).
 * Variance features enter as logs relative to a reference variance (the fit's long-run mean r^2), so
 * they are scale-free. A bar without a usable open/high/low (null, zero, inconsistent) falls back to r^2.
 */
import type { DailyBar } from '@stocks/common';
import { at } from '../features.ts';

export const HAR_LAGS = [1, 5, 22, 66] as const;
export const EWMA_LAMBDA = 0.94;
export const VOLATILITY_FEATURE_NAMES = [
  ...HAR_LAGS.map((lag) => `log_r2_${lag}d`),
  ...HAR_LAGS.map((lag) => `log_range_var_${lag}d`),
  'log_ewma_var',
  'return_1d_over_ewma_vol',
  'return_5d_over_ewma_vol',
] as const;
export const N_VOLATILITY_FEATURES = VOLATILITY_FEATURE_NAMES.length;
/** First day with every feature defined (the 66-day averages need 66 returns). */
export const VOLATILITY_WARMUP = Math.max(...HAR_LAGS);
/** Log variances are floored at this share of the reference variance (a flat day has r^2 = 0). */
const FLOOR_SHARE = 0.02;
const GK_CLOSE_WEIGHT = 2 * Math.LN2 - 1;

/** Daily series the features are built from. */
export interface DailyVariances {
  /** log(close_t / close_{t-1}); NaN at t = 0. */
  returns: Float64Array;
  /** Range-based variance of day t (gap^2 + Garman-Klass), r^2 when the bar has no usable range. */
  rangeVariances: Float64Array;
}

function usableRange(bar: DailyBar): bar is DailyBar & { open: number; high: number; low: number } {
  const { open, high, low, close } = bar;
  if (open === null || high === null || low === null) return false;
  if (!(open > 0 && high > 0 && low > 0)) return false;
  // Yahoo has rows where the open is 0 or missing (old ^GSPC) and O=H=L=C days: no range information.
  if (high < Math.max(open, close) * (1 - 1e-9) || low > Math.min(open, close) * (1 + 1e-9)) return false;
  return high > low;
}

export function dailyVariances(bars: readonly DailyBar[]): DailyVariances {
  const n = bars.length;
  const returns = new Float64Array(n).fill(Number.NaN);
  const rangeVariances = new Float64Array(n).fill(Number.NaN);
  for (let t = 1; t < n; t++) {
    const bar = at(bars, t);
    const previousClose = at(bars, t - 1).close;
    const r = Math.log(bar.close / previousClose);
    returns[t] = r;
    if (usableRange(bar)) {
      const gap = Math.log(bar.open / previousClose);
      const highLow = Math.log(bar.high / bar.low);
      const openClose = Math.log(bar.close / bar.open);
      rangeVariances[t] = gap * gap + 0.5 * highLow * highLow - GK_CLOSE_WEIGHT * openClose * openClose;
    } else {
      rangeVariances[t] = r * r;
    }
  }
  return { returns, rangeVariances };
}

/** Mean of r_t^2 over the bars (the long-run variance a fit measures everything against). */
export function meanSquaredReturn(returns: Float64Array, from = 1, to = returns.length): number {
  let sum = 0;
  let count = 0;
  for (let t = Math.max(1, from); t < to; t++) {
    const r = at(returns, t);
    sum += r * r;
    count++;
  }
  if (count === 0 || !(sum > 0)) throw new RangeError('need at least one non-zero daily return to measure variance');
  return sum / count;
}

/**
 * Row-major [days.length, N_VOLATILITY_FEATURES] for the requested day indices (each >= VOLATILITY_WARMUP).
 * `referenceVariance` scales the log variances (the fit's long-run mean r^2).
 */
export function volatilityFeatures(series: DailyVariances, days: readonly number[], referenceVariance: number): Float64Array {
  const { returns, rangeVariances } = series;
  const n = returns.length;
  // Prefix sums make every window mean O(1); EWMA runs once over the whole series.
  const r2Prefix = new Float64Array(n + 1);
  const rangePrefix = new Float64Array(n + 1);
  const ewma = new Float64Array(n).fill(Number.NaN);
  for (let t = 0; t < n; t++) {
    const r = t === 0 ? 0 : at(returns, t);
    r2Prefix[t + 1] = at(r2Prefix, t) + r * r;
    rangePrefix[t + 1] = at(rangePrefix, t) + (t === 0 ? 0 : at(rangeVariances, t));
    ewma[t] = t === 0 ? referenceVariance : EWMA_LAMBDA * at(ewma, t - 1) + (1 - EWMA_LAMBDA) * r * r;
  }
  const floor = FLOOR_SHARE * referenceVariance;
  const logRelative = (v: number) => Math.log(Math.max(v, floor) / referenceVariance);
  const out = new Float64Array(days.length * N_VOLATILITY_FEATURES);
  days.forEach((t, row) => {
    if (t < VOLATILITY_WARMUP || t >= n) throw new RangeError(`feature day ${t} outside ${VOLATILITY_WARMUP}..${n - 1}`);
    let f = row * N_VOLATILITY_FEATURES;
    for (const lag of HAR_LAGS) out[f++] = logRelative((at(r2Prefix, t + 1) - at(r2Prefix, t + 1 - lag)) / lag);
    for (const lag of HAR_LAGS) out[f++] = logRelative((at(rangePrefix, t + 1) - at(rangePrefix, t + 1 - lag)) / lag);
    // The EWMA known after day t's close is the one-step forecast for day t+1.
    const ewmaVariance = at(ewma, t);
    out[f++] = logRelative(ewmaVariance);
    const volatility = Math.sqrt(Math.max(at(ewma, t - 1), floor));
    out[f++] = clip(at(returns, t) / volatility, 6);
    let weekReturn = 0;
    for (let j = 0; j < 5; j++) weekReturn += at(returns, t - j);
    out[f++] = clip(weekReturn / (volatility * Math.sqrt(5)), 6);
  });
  return out;
}

function clip(x: number, limit: number): number {
  return Math.max(-limit, Math.min(limit, x));
}
