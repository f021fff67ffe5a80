/**
 * What a user reads as a fan chart: bands that never narrow as the horizon grows. A k-step return
 * cannot be less uncertain than a (k-1)-step one, but per-step quantiles estimated from a finite
 * sample (or a model whose level falls back quickly) can dip; each edge is held at least as far out
 * as the step before, and the variance at least as large.
 */
import type { BandForecast } from './types.ts';

export function widenWithHorizon(forecast: BandForecast): BandForecast {
  const running = (xs: readonly number[], outward: (a: number, b: number) => number) => {
    const out: number[] = [];
    xs.forEach((x, k) => out.push(k === 0 ? x : outward(x, out[k - 1]!)));
    return out;
  };
  return {
    variance: running(forecast.variance, Math.max),
    lower80: running(forecast.lower80, Math.min),
    upper80: running(forecast.upper80, Math.max),
    lower95: running(forecast.lower95, Math.min),
    upper95: running(forecast.upper95, Math.max),
  };
}
