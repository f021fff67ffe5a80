/**
 * Static empirical bands: at each origin, the quantiles of the overlapping k-day log returns of
 * the trailing two years (504 sessions); the variance is their mean square. No parameters, no
 * reaction to the current volatility: the reference every other band model must beat.
 */
import type { DailyBar } from '@stocks/common';
import { bandEdgesOf, bandForecastOf, checkHorizon, dailyLogReturns } from './series.ts';
import type { BandForecast, BandModel, BandModelFitter } from './types.ts';

export const STATIC_WINDOW = 504;

export class StaticBands implements BandModel {
  readonly name = 'static' as const;
  constructor(readonly window = STATIC_WINDOW) {}

  forecast(bars: readonly DailyBar[], horizon: number): BandForecast {
    checkHorizon(horizon);
    const returns = dailyLogReturns(bars, this.window);
    if (returns.length < 2 * horizon) throw new RangeError(`static bands need at least ${2 * horizon + 1} bars, got ${bars.length}`);
    // Prefix sums: the k-day return ending at day i is cum[i + 1] - cum[i + 1 - k].
    const cum = [0];
    for (const r of returns) cum.push(cum.at(-1)! + r);
    return bandForecastOf(Array.from({ length: horizon }, (_, j) => {
      const k = j + 1;
      const sample: number[] = [];
      let square = 0;
      for (let i = k; i < cum.length; i++) {
        const r = cum[i]! - cum[i - k]!;
        sample.push(r);
        square += r * r;
      }
      return { variance: square / sample.length, ...bandEdgesOf(sample) };
    }));
  }

  toJSON(): unknown {
    return { name: this.name, window: this.window };
  }
}

export const staticFitter: BandModelFitter = { name: 'static', fit: () => new StaticBands() };
