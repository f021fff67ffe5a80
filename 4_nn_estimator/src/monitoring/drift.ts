/**
 * Drift of daily returns (never prices: a price level is not a distribution a model sees, and
 * any two price windows years apart "differ"). Pure functions, tested without I/O.
 */

/** Daily log returns of closes (oldest first). */
export function logReturns(closes: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < closes.length; i++) {
    const a = closes[i - 1]!;
    const b = closes[i]!;
    if (a > 0 && b > 0) out.push(Math.log(b / a));
  }
  return out;
}

/** Kolmogorov's limiting distribution: P(sqrt(n) D > lambda). */
export function kolmogorovSurvival(lambda: number): number {
  if (lambda <= 0) return 1;
  if (lambda < 0.2) return 1; // the series below converges slowly there; the value is 1 to 1e-9
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = (j % 2 === 1 ? 2 : -2) * Math.exp(-2 * j * j * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
  }
  return Math.min(1, Math.max(0, sum));
}

export interface KsResult {
  statistic: number;
  p_value: number;
}

/**
 * Two-sample Kolmogorov–Smirnov test: D = sup |F_a - F_b|, p-value from the asymptotic
 * distribution with the effective size n·m/(n+m) (Stephens' small-sample correction).
 */
export function ksTwoSample(a: readonly number[], b: readonly number[]): KsResult {
  if (a.length === 0 || b.length === 0) return { statistic: Number.NaN, p_value: Number.NaN };
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  const ne = (x.length * y.length) / (x.length + y.length);
  const sq = Math.sqrt(ne);
  return { statistic: d, p_value: kolmogorovSurvival((sq + 0.12 + 0.11 / sq) * d) };
}

/**
 * Population stability index of `actual` against `expected`, on `bins` quantile bins of the
 * expected sample (so each holds ~1/bins of it). Empty bins are floored at 1e-4.
 */
export function psi(expected: readonly number[], actual: readonly number[], bins = 10): number {
  if (expected.length < bins || actual.length === 0) return Number.NaN;
  const sorted = [...expected].sort((p, q) => p - q);
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) edges.push(sorted[Math.floor((k * sorted.length) / bins)]!);
  const share = (sample: readonly number[]) => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of sample) {
      let k = 0;
      while (k < edges.length && v >= edges[k]!) k++;
      counts[k]!++;
    }
    return counts.map((c) => Math.max(c / sample.length, 1e-4));
  };
  const e = share(expected);
  const a = share(actual);
  return e.reduce((sum, ek, k) => sum + (a[k]! - ek) * Math.log(a[k]! / ek), 0);
}

export interface DriftInput {
  /** Closes of the training window, oldest first. */
  reference: readonly number[];
  /** Closes of the recent window, oldest first (recentDays + 1 closes give recentDays returns). */
  recent: readonly number[];
  /** Drift when the KS p-value is below this. */
  threshold: number;
}

export interface DriftResult {
  method: 'ks_returns';
  /** KS statistic of the returns, and of their absolute values (volatility). */
  ks_statistic: number;
  ks_abs_statistic: number;
  /** Bonferroni-combined p-value of both tests: min(1, 2 · min(p_returns, p_abs_returns)). */
  p_value: number;
  psi: number;
  threshold: number;
  detected: boolean;
  n_reference: number;
  n_recent: number;
  /** Standard deviations of daily log returns, for a human reading the result. */
  reference_volatility: number;
  recent_volatility: number;
}

export const MIN_RECENT_RETURNS = 20;
export const MIN_REFERENCE_RETURNS = 60;

const std = (xs: readonly number[]) => {
  if (xs.length < 2) return Number.NaN;
  const m = xs.reduce((s, v) => s + v, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1));
};

/**
 * Recent daily returns against the training window's. Two two-sample KS tests: on the returns
 * (their location and shape) and on their absolute values (volatility, which KS on raw returns
 * centred near 0 hardly sees: the 2020 crash's 2.5x volatility gives p ~ 0.01 on returns and
 * ~1e-6 on absolute returns). Drift when the Bonferroni-combined p-value is below the threshold.
 * PSI is reported beside, for reading, not for the decision (on 60 returns its noise is ~0.15).
 */
export function returnsDrift(input: DriftInput): DriftResult | undefined {
  const ref = logReturns(input.reference);
  const rec = logReturns(input.recent);
  if (ref.length < MIN_REFERENCE_RETURNS || rec.length < MIN_RECENT_RETURNS) return undefined;
  const ks = ksTwoSample(ref, rec);
  const ksAbs = ksTwoSample(ref.map(Math.abs), rec.map(Math.abs));
  const p = Math.min(1, 2 * Math.min(ks.p_value, ksAbs.p_value));
  return {
    method: 'ks_returns',
    ks_statistic: ks.statistic,
    ks_abs_statistic: ksAbs.statistic,
    p_value: p,
    psi: psi(ref, rec),
    threshold: input.threshold,
    detected: p < input.threshold,
    n_reference: ref.length,
    n_recent: rec.length,
    reference_volatility: std(ref),
    recent_volatility: std(rec),
  };
}
