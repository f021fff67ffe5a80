/** Helpers the band models share: returns of a bar series and quantile bands of samples. */
import type { DailyBar } from '@stocks/common';
import quickselect from 'quickselect';
import { closesOf } from '../features.ts';
import { quantileSorted } from '../intervals.ts';
import type { BandForecast } from './types.ts';

/** Quantile probabilities of the served bands' edges. */
export const BAND_PROBABILITIES = { lower80: 0.1, upper80: 0.9, lower95: 0.025, upper95: 0.975 } as const;
export type BandEdge = keyof typeof BAND_PROBABILITIES;
export const BAND_EDGES = Object.keys(BAND_PROBABILITIES) as BandEdge[];

/** Daily log returns of the last `count` bars' closes (or all), oldest first. */
export function dailyLogReturns(bars: readonly DailyBar[], count = bars.length): number[] {
  const closes = closesOf(bars.slice(-(count + 1)));
  const out = new Array<number>(closes.length - 1);
  for (let i = 1; i < closes.length; i++) out[i - 1] = Math.log(closes[i]! / closes[i - 1]!);
  return out;
}

/**
 * The four band edges of a sample. Only the order statistics the edges read are put in their
 * sorted places (quickselect, linear time), not the whole sample sorted: the values are the ones
 * a full sort gives, several times faster (GARCH reads 30 steps x 4,000 simulated paths per
 * forecast). The sample is reordered in place. A sample holding NaN is sorted as before, so NaN
 * keeps sorting last.
 */
export function bandEdgesOf(sample: number[] | Float64Array): Record<BandEdge, number> {
  if (holdsNaN(sample)) {
    if (sample instanceof Float64Array) sample.sort();
    else sample.sort((a, b) => a - b);
  } else {
    placeOrderStatistics(sample, edgeRanks(sample.length));
  }
  return {
    lower80: quantileSorted(sample, BAND_PROBABILITIES.lower80),
    upper80: quantileSorted(sample, BAND_PROBABILITIES.upper80),
    lower95: quantileSorted(sample, BAND_PROBABILITIES.lower95),
    upper95: quantileSorted(sample, BAND_PROBABILITIES.upper95),
  };
}

function holdsNaN(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (values[i] !== values[i]) return true;
  return false;
}

/** The ranks quantileSorted reads for the band edges of n values (both neighbours it interpolates), ascending. */
function edgeRanks(n: number): number[] {
  const ranks = new Set<number>();
  for (const p of Object.values(BAND_PROBABILITIES)) {
    const pos = p * (n - 1);
    ranks.add(Math.floor(pos));
    ranks.add(Math.ceil(pos));
  }
  return [...ranks].filter((k) => k >= 0 && k < n).sort((a, b) => a - b);
}

/**
 * Reorders `values` so that each of `ranks` (ascending) holds the value a sort would put there.
 * After placing rank k, every value left of it is <= and every value right of it >=, so the next
 * rank is selected among the values right of k only.
 */
export function placeOrderStatistics(values: number[] | Float64Array, ranks: readonly number[]): void {
  let left = 0;
  for (const k of ranks) {
    quickselect(values as number[], k, left, values.length - 1);
    left = k + 1;
  }
}

/** A BandForecast from one variance and one set of edges per step. */
export function bandForecastOf(steps: ReadonlyArray<{ variance: number } & Record<BandEdge, number>>): BandForecast {
  return {
    variance: steps.map((s) => s.variance),
    lower80: steps.map((s) => s.lower80),
    upper80: steps.map((s) => s.upper80),
    lower95: steps.map((s) => s.lower95),
    upper95: steps.map((s) => s.upper95),
  };
}

export function checkHorizon(horizon: number, max = Number.POSITIVE_INFINITY): void {
  if (!Number.isInteger(horizon) || horizon < 1 || horizon > max) throw new RangeError(`horizon must be a whole number in 1..${max}, got ${horizon}`);
}
