/**
 * RiskMetrics EWMA variance (lambda 0.94): sigma^2_{t+1} = lambda sigma^2_t + (1 - lambda) r_t^2,
 * flat over the horizon, so Var(r_{t,k}) = k sigma^2_{t+1}. The k-step band edges are
 * sqrt(k sigma^2_{t+1}) times the empirical quantiles of the standardised k-step returns
 * r_{t,k} / sqrt(k sigma^2_{t+1|t}) over the training origins (filtered historical simulation):
 * heavy tails and skew come from the data, the scale from today's volatility.
 */
import type { DailyBar } from '@stocks/common';
import { bandEdgesOf, bandForecastOf, BAND_EDGES, checkHorizon, dailyLogReturns, type BandEdge } from './series.ts';
import type { BandForecast, BandModel, BandModelFitter } from './types.ts';

export const EWMA_LAMBDA = 0.94;
/** Returns the filter runs over at a forecast: lambda^750 ~ 1e-20, so older ones do not matter. */
const FILTER_SPAN = 750;
/** Returns whose mean square starts the filter; standardised residuals skip them. */
const BURN_IN = 50;
export const DEFAULT_MAX_HORIZON = 30;

/** sigma^2 forecasts: out[i] = variance of returns[i] made from returns[0..i-1] (out has length n + 1). */
export function ewmaVariances(returns: readonly number[], lambda = EWMA_LAMBDA): number[] {
  const start = returns.slice(0, BURN_IN);
  let s2 = start.reduce((s, r) => s + r * r, 0) / Math.max(1, start.length) || 1e-8;
  const out = [s2];
  for (const r of returns) {
    s2 = lambda * s2 + (1 - lambda) * r * r;
    out.push(s2);
  }
  return out;
}

export type StepQuantiles = Record<BandEdge, number[]>;

/** Per step k = 1..maxHorizon, the band-edge quantiles of r_{t,k} / sqrt(k * variance_t) over the origins. */
export function standardisedQuantiles(returns: readonly number[], variances: readonly number[], maxHorizon: number, burnIn = BURN_IN): StepQuantiles {
  const cum = [0];
  for (const r of returns) cum.push(cum.at(-1)! + r);
  const out = Object.fromEntries(BAND_EDGES.map((e) => [e, [] as number[]])) as StepQuantiles;
  for (let k = 1; k <= maxHorizon; k++) {
    const z: number[] = [];
    for (let t = burnIn; t + k <= returns.length; t++) z.push((cum[t + k]! - cum[t]!) / Math.sqrt(k * variances[t]!));
    if (z.length < 20) throw new RangeError(`too few training returns (${returns.length}) for ${k}-step quantiles`);
    const edges = bandEdgesOf(z);
    for (const e of BAND_EDGES) out[e].push(edges[e]);
  }
  return out;
}

export class EwmaBands implements BandModel {
  readonly name = 'ewma' as const;
  constructor(readonly lambda: number, readonly quantiles: StepQuantiles) {}

  get maxHorizon(): number {
    return this.quantiles.lower80.length;
  }

  /** sigma^2 of the next day's return, given bars up to the origin. */
  nextVariance(bars: readonly DailyBar[]): number {
    return ewmaVariances(dailyLogReturns(bars, FILTER_SPAN), this.lambda).at(-1)!;
  }

  forecast(bars: readonly DailyBar[], horizon: number): BandForecast {
    checkHorizon(horizon, this.maxHorizon);
    const s2 = this.nextVariance(bars);
    return bandForecastOf(Array.from({ length: horizon }, (_, j) => {
      const variance = (j + 1) * s2;
      const sd = Math.sqrt(variance);
      return { variance, ...Object.fromEntries(BAND_EDGES.map((e) => [e, sd * this.quantiles[e][j]!])) as Record<BandEdge, number> };
    }));
  }

  toJSON(): unknown {
    return { name: this.name, lambda: this.lambda, quantiles: this.quantiles };
  }
}

export function ewmaFitter(maxHorizon = DEFAULT_MAX_HORIZON, lambda = EWMA_LAMBDA): BandModelFitter {
  return {
    name: 'ewma',
    fit(trainBars) {
      const returns = dailyLogReturns(trainBars);
      return new EwmaBands(lambda, standardisedQuantiles(returns, ewmaVariances(returns, lambda), maxHorizon));
    },
  };
}
