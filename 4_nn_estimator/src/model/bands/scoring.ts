/**
 * Scores for band forecasts, all on the log-return scale r_{t,k} = log(close[t+k] / close[t]):
 * coverage, the interval score of Gneiting & Raftery (2007, JASA 102, eq. 43), QLIKE (Patton 2011)
 * and the one Diebold-Mariano test of the project (points and bands alike).
 */
import jstatPkg from 'jstat';

const { jStat } = jstatPkg;

/** 1 where the actual is inside its [lower, upper], else 0. */
export function coverageHits(lower: readonly number[], upper: readonly number[], actual: readonly number[]): number[] {
  sameLength(lower, upper, actual);
  return actual.map((y, i) => (y >= lower[i]! && y <= upper[i]! ? 1 : 0));
}

/** Share of actuals inside their [lower, upper]. */
export function coverageOf(lower: readonly number[], upper: readonly number[], actual: readonly number[]): number {
  return actual.length ? meanOf(coverageHits(lower, upper, actual)) : Number.NaN;
}

/**
 * Two-sided p-value of "the band covers `nominal` of the time" from its hits (1 inside, 0 outside)
 * at consecutive origins. At one step the hits of a calibrated band are independent and this is the
 * binomial score test (Kupiec's unconditional coverage, in its normal form); h-step windows from
 * consecutive days share h - 1 days, so their hits are not, and the variance adds their
 * autocovariances up to lag h - 1 (beyond it a calibrated band's hits are uncorrelated; as in
 * dieboldMariano, Bartlett weights only if the sum is not positive). The variance at lag 0 is the
 * null's nominal(1 - nominal), so a band that covers every window is not "no evidence" for want of
 * variation. Without the lags, a calibrated 80% band over 450 overlapping 5-day windows would be
 * rejected about a quarter of the time (tested).
 */
export function coverageTest(hits: readonly number[], nominal: number, horizon = 1): number {
  const n = hits.length;
  if (n < 3) throw new RangeError(`a coverage test needs at least 3 windows, got ${n}`);
  if (!(nominal > 0 && nominal < 1)) throw new RangeError(`nominal coverage must be in (0, 1), got ${nominal}`);
  const d = hits.map((h) => h - nominal);
  const mean = meanOf(d);
  const atLagZero = nominal * (1 - nominal);
  let longRun = longRunVariance(d, mean, horizon, atLagZero);
  if (!(longRun > 0)) longRun = atLagZero;
  const z = mean / Math.sqrt(longRun / n);
  return Math.min(1, 2 * (1 - jStat.normal.cdf(Math.abs(z), 0, 1)));
}

/**
 * Interval score of a central (1 - alpha) interval: width plus 2/alpha times the miss.
 * Lower is better; a calibrated, sharper band scores lower. `level` in percent (80 -> alpha 0.2).
 */
export function intervalScore(lower: number, upper: number, actual: number, level: number): number {
  const alpha = 1 - level / 100;
  const below = actual < lower ? lower - actual : 0;
  const above = actual > upper ? actual - upper : 0;
  return upper - lower + (2 / alpha) * (below + above);
}

export function intervalScores(lower: readonly number[], upper: readonly number[], actual: readonly number[], level: number): number[] {
  sameLength(lower, upper, actual);
  return actual.map((y, i) => intervalScore(lower[i]!, upper[i]!, y, level));
}

/** Floor on forecast variances: (1 basis point)^2, so a degenerate forecast scores finite. */
const MIN_VARIANCE = 1e-8;

/**
 * QLIKE loss of a variance forecast against a realised return: r^2 / v + log v (Patton 2011's
 * robust loss, in the form that stays finite when r = 0). Its differences between two forecasts
 * equal those of the normalised form r^2/v - log(r^2/v) - 1.
 */
export function qlike(variance: number, actual: number): number {
  const v = Math.max(variance, MIN_VARIANCE);
  return (actual * actual) / v + Math.log(v);
}

export function qlikes(variances: readonly number[], actual: readonly number[]): number[] {
  sameLength(variances, actual);
  return actual.map((y, i) => qlike(variances[i]!, y));
}

export function meanOf(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : Number.NaN;
}

export interface DieboldMarianoResult {
  /** Mean loss difference (A - B): negative when A is better. */
  mean_difference: number;
  /** HLN-corrected statistic, t-distributed with n - 1 degrees of freedom under equal accuracy. */
  statistic: number;
  n: number;
  /** H1: A and B differ in accuracy. */
  p_two_sided: number;
  /** H1: A is more accurate (lower loss) than B. */
  p_a_better: number;
  /** H1: A is less accurate (higher loss) than B. */
  p_a_worse: number;
}

/**
 * Diebold-Mariano (1995) test of equal expected loss between forecasts A and B, from their losses
 * on the same targets in time order. The long-run variance of d = lossA - lossB sums its
 * autocovariances up to lag h - 1, as h-step forecasts from consecutive origins overlap (an
 * MA(h-1)): with Diebold & Mariano's uniform weights, which are unbiased for it (Newey-West's
 * Bartlett weights shrink those lags and over-reject: 11% at a nominal 5% with h = 5 in the tests),
 * falling back to Bartlett's when the uniform sum is not positive. The statistic gets the Harvey,
 * Leybourne & Newbold (1997) small-sample factor and a t(n-1) reference.
 * A zero-variance d (identical forecasts) gives statistic 0 and p-values 1 (two-sided) / 0.5.
 */
export function dieboldMariano(lossA: readonly number[], lossB: readonly number[], horizon = 1): DieboldMarianoResult {
  sameLength(lossA, lossB);
  const n = lossA.length;
  if (n < 3) throw new RangeError(`Diebold-Mariano needs at least 3 paired losses, got ${n}`);
  if (!Number.isInteger(horizon) || horizon < 1) throw new RangeError(`horizon must be a whole number >= 1, got ${horizon}`);
  const d = lossA.map((a, i) => a - lossB[i]!);
  const mean = meanOf(d);
  const longRun = longRunVariance(d, mean, horizon);
  if (!(longRun > 0) || !Number.isFinite(longRun)) {
    return { mean_difference: mean, statistic: 0, n, p_two_sided: 1, p_a_better: 0.5, p_a_worse: 0.5 };
  }
  const raw = mean / Math.sqrt(longRun / n);
  const hln = Math.sqrt(Math.max(0, (n + 1 - 2 * horizon + (horizon * (horizon - 1)) / n) / n));
  const statistic = raw * hln;
  const cdf = jStat.studentt.cdf(statistic, n - 1);
  return { mean_difference: mean, statistic, n, p_two_sided: Math.min(1, 2 * Math.min(cdf, 1 - cdf)), p_a_better: cdf, p_a_worse: 1 - cdf };
}

/**
 * Long-run variance of `d` for h-step forecasts from consecutive origins: its autocovariances up to
 * lag h - 1 with uniform weights, Bartlett's when that sum is not positive (may still be <= 0: the
 * caller decides). `atLagZero` replaces the sample variance (a test that uses the null's).
 */
function longRunVariance(d: readonly number[], mean: number, horizon: number, atLagZero = autocovariance(d, mean, 0)): number {
  const lag = Math.min(horizon - 1, d.length - 1);
  const gammas = Array.from({ length: lag }, (_, i) => autocovariance(d, mean, i + 1));
  const uniform = atLagZero + 2 * gammas.reduce((s, g) => s + g, 0);
  return uniform > 0 ? uniform : atLagZero + 2 * gammas.reduce((s, g, i) => s + (1 - (i + 1) / (lag + 1)) * g, 0);
}

function autocovariance(d: readonly number[], mean: number, k: number): number {
  let s = 0;
  for (let i = k; i < d.length; i++) s += (d[i]! - mean) * (d[i - k]! - mean);
  return s / d.length;
}

function sameLength(...arrays: ReadonlyArray<readonly number[]>): void {
  const n = arrays[0]!.length;
  if (arrays.some((a) => a.length !== n)) throw new RangeError(`arrays of different lengths: ${arrays.map((a) => a.length).join(', ')}`);
}
