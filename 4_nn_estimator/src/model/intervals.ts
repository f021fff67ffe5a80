/**
 * Prediction intervals by split conformal prediction on the validation windows, scaled by recent
 * volatility. For each validation window (origin t) and step k the residual of the served log move,
 * e = log(close[t+k] / close[t]) - alpha * move_k, is divided by sigma_t (standard deviation of the
 * last VOLATILITY_DAYS daily log returns before t). Per step we keep the empirical quantiles of
 * these z-scores at 2.5/10/90/97.5 %; a forecast's band is close_k * exp(sigma_now * q_k).
 * Calm markets get narrow bands, turbulent ones wide, without refitting anything.
 */
import { at, standardDeviation } from './features.ts';

export const VOLATILITY_DAYS = 20;
export const INTERVAL_LEVELS = [80, 95] as const;

export interface IntervalModel {
  method: 'conformal_vol_scaled';
  volatility_days: number;
  /** Validation windows the quantiles come from. */
  n: number;
  /** Per step k (index 0 = step 1): z-score quantiles. */
  q025: number[];
  q10: number[];
  q90: number[];
  q975: number[];
}

export interface IntervalBand {
  lower80: number;
  upper80: number;
  lower95: number;
  upper95: number;
}

/** Standard deviation of the last `days` daily log returns ending at closes[t] (fewer if not available). */
export function recentVolatility(closes: readonly number[], t: number, days = VOLATILITY_DAYS): number {
  const first = Math.max(1, t - days + 1);
  const returns: number[] = [];
  for (let i = first; i <= t; i++) returns.push(Math.log(at(closes, i) / at(closes, i - 1)));
  if (returns.length < 2) return Number.NaN;
  const sigma = standardDeviation(returns);
  // A flat stretch would give zero-width bands: floor at 1 basis point a day.
  return Math.max(sigma, 1e-4);
}

/** Linear-interpolated empirical quantile of sorted values. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = Math.min(Math.max(p, 0), 1) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return at(sorted, lo) + (at(sorted, hi) - at(sorted, lo)) * (pos - lo);
}

/**
 * Fit from validation: `servedMoves[w][k]` = alpha * predicted log move, `actualMoves[w][k]` the
 * realised one, `sigmas[w]` the volatility at each window's origin.
 */
export function fitIntervals(servedMoves: readonly (readonly number[])[], actualMoves: readonly (readonly number[])[], sigmas: readonly number[]): IntervalModel {
  const nSteps = Math.min(...servedMoves.map((m) => m.length));
  const out: IntervalModel = { method: 'conformal_vol_scaled', volatility_days: VOLATILITY_DAYS, n: servedMoves.length, q025: [], q10: [], q90: [], q975: [] };
  for (let k = 0; k < nSteps; k++) {
    const z: number[] = [];
    servedMoves.forEach((moves, w) => {
      const sigma = at(sigmas, w);
      if (Number.isFinite(sigma) && sigma > 0) z.push((at(at(actualMoves, w), k) - at(moves, k)) / sigma);
    });
    z.sort((a, b) => a - b);
    // Finite-sample conformal correction: widen the tails by the (n+1)/n rank adjustment.
    const n = z.length;
    const tail = (p: number) => Math.min(1, Math.max(0, (Math.ceil((n + 1) * p) - 1) / Math.max(1, n - 1)));
    out.q025.push(quantileSorted(z, 1 - tail(0.975)));
    out.q10.push(quantileSorted(z, 1 - tail(0.9)));
    out.q90.push(quantileSorted(z, tail(0.9)));
    out.q975.push(quantileSorted(z, tail(0.975)));
  }
  return out;
}

/**
 * Bands around point forecasts `points[k]` (steps 1..n) made from `closes` (oldest first, the
 * last one being the origin). The point always lies inside its band.
 */
export function intervalsFor(model: IntervalModel, closes: readonly number[], points: readonly number[]): IntervalBand[] {
  const sigma = recentVolatility(closes, closes.length - 1, model.volatility_days);
  return points.map((point, k) => {
    const band = (q: number) => point * Math.exp(sigma * q);
    return {
      lower80: Math.min(point, band(at(model.q10, k))),
      upper80: Math.max(point, band(at(model.q90, k))),
      lower95: Math.min(point, band(at(model.q025, k))),
      upper95: Math.max(point, band(at(model.q975, k))),
    };
  });
}

/** Is the value inside [lower, upper]? For coverage counts. */
export function covers(lower: number, upper: number, actual: number): boolean {
  return actual >= lower && actual <= upper;
}

export function isIntervalModel(value: unknown): value is IntervalModel {
  const v = value as Partial<IntervalModel> | null;
  return !!v && v.method === 'conformal_vol_scaled' && Array.isArray(v.q10) && Array.isArray(v.q90) && Array.isArray(v.q025) && Array.isArray(v.q975);
}

/**
 * The served form of a forecast path: each step's close with its 80% / 95% band when the version
 * has an interval model (versions trained before intervals get none). `closes` oldest first.
 */
export function forecastPoints(
  model: IntervalModel | undefined,
  closes: readonly number[],
  dates: readonly string[],
  points: readonly number[],
): Array<{ date: string; close: number } & Partial<IntervalBand>> {
  const bands = model ? intervalsFor(model, closes.slice(-(VOLATILITY_DAYS + 1)), points) : undefined;
  return points.map((close, k) => ({ date: at(dates, k), close, ...(bands ? at(bands, k) : {}) }));
}
