/**
 * Split-conformal recalibration of any BandModel. On validation windows (origins before the
 * span the bands will be used on, in time order, each scored only against closes up to the end
 * of validation) the band of step k at each level is stretched or shrunk about its midpoint by
 * the factor that makes it cover the finite-sample conformal quantile of the windows:
 *   score_w = max((m - r) / (m - lower), (r - m) / (upper - m)),  m = (lower + upper) / 2,
 *   factor  = the ceil((n + 1) level)-th smallest score (Lei et al. 2018, Romano et al. 2019).
 * The variance of step k is multiplied by mean(r^2 / variance) over the windows, the scalar that
 * minimises QLIKE. Steps past the calibrated horizon reuse the last step's factors.
 */
import type { DailyBar } from '@stocks/common';
import { closesOf } from '../features.ts';
import { BAND_LEVELS, type BandForecast, type BandModel, type BandModelFitter } from './types.ts';

export interface ConformalFactors {
  /** Per step k (index k - 1). */
  scale80: number[];
  scale95: number[];
  variance: number[];
  /** Validation windows behind each step's factors. */
  n: number[];
}

export interface CalibrationOptions {
  /** The served point's log move per origin index and step (default 0: the naive point). */
  pointMove?: (originIndex: number, step: number) => number;
}

/** The conformal quantile of scores at a level in percent: the ceil((n + 1) p)-th smallest (capped at the largest). */
export function conformalQuantile(scores: readonly number[], levelPercent: number): number {
  const sorted = [...scores].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.ceil((sorted.length + 1) * (levelPercent / 100)));
  return sorted[Math.max(0, rank - 1)] ?? Number.NaN;
}

/** The factor by which [lower, upper] must be scaled about its midpoint to contain y (0 when it is the midpoint). */
export function nonconformity(lower: number, upper: number, y: number): number {
  const mid = (lower + upper) / 2;
  const half = Math.max((upper - lower) / 2, 1e-12);
  return Math.abs(y - mid) / half;
}

/**
 * Factors from `model`'s forecasts at `origins` (indices into `bars`; each needs `horizon` bars
 * after it inside `bars`).
 */
export function calibrate(model: BandModel, bars: readonly DailyBar[], origins: readonly number[], horizon: number, options: CalibrationOptions = {}): ConformalFactors {
  if (origins.length < 20) throw new RangeError(`conformal calibration needs at least 20 validation windows, got ${origins.length}`);
  const closes = closesOf(bars);
  const scores = Array.from({ length: horizon }, () => ({ s80: [] as number[], s95: [] as number[], ratio: [] as number[] }));
  for (const t of origins) {
    if (t + horizon >= bars.length) throw new RangeError(`validation origin ${t} has no ${horizon}-step target inside the ${bars.length} bars`);
    const f = model.forecast(bars.slice(0, t + 1), horizon);
    for (let j = 0; j < horizon; j++) {
      const y = Math.log(closes[t + j + 1]! / closes[t]!) - (options.pointMove?.(t, j + 1) ?? 0);
      const s = scores[j]!;
      s.s80.push(nonconformity(f.lower80[j]!, f.upper80[j]!, y));
      s.s95.push(nonconformity(f.lower95[j]!, f.upper95[j]!, y));
      s.ratio.push((y * y) / Math.max(f.variance[j]!, 1e-12));
    }
  }
  return {
    scale80: scores.map((s) => conformalQuantile(s.s80, BAND_LEVELS[0])),
    scale95: scores.map((s) => conformalQuantile(s.s95, BAND_LEVELS[1])),
    variance: scores.map((s) => s.ratio.reduce((a, b) => a + b, 0) / s.ratio.length),
    n: scores.map((s) => s.s80.length),
  };
}

export class ConformalBands implements BandModel {
  constructor(readonly base: BandModel, readonly factors: ConformalFactors) {}

  get name() {
    return this.base.name;
  }

  forecast(bars: readonly DailyBar[], horizon: number): BandForecast {
    const f = this.base.forecast(bars, horizon);
    const last = this.factors.scale80.length - 1;
    const factor = (xs: number[], j: number) => xs[Math.min(j, last)]!;
    const scaled = (lower: number[], upper: number[], xs: number[]) => {
      const mids = lower.map((l, j) => (l + upper[j]!) / 2);
      return {
        lower: lower.map((l, j) => mids[j]! - factor(xs, j) * (mids[j]! - l)),
        upper: upper.map((u, j) => mids[j]! + factor(xs, j) * (u - mids[j]!)),
      };
    };
    const b80 = scaled(f.lower80, f.upper80, this.factors.scale80);
    const b95 = scaled(f.lower95, f.upper95, this.factors.scale95);
    return {
      variance: f.variance.map((v, j) => v * factor(this.factors.variance, j)),
      lower80: b80.lower, upper80: b80.upper, lower95: b95.lower, upper95: b95.upper,
    };
  }

  toJSON(): unknown {
    return { name: this.name, conformal: this.factors, base: this.base.toJSON() };
  }
}

export interface ConformalFitterOptions extends CalibrationOptions {
  /** Validation windows at the end of the training bars (default 250, about a year). */
  windows?: number;
  /** Steps to calibrate. */
  horizon: number;
}

/**
 * A fitter whose models are `base` recalibrated: base is fitted on the training bars before the
 * last `windows + horizon` ones, then calibrated on the `windows` origins whose targets end at the
 * last training bar. Nothing after the training bars is seen.
 */
export function conformalFitter(base: BandModelFitter, options: ConformalFitterOptions): BandModelFitter {
  const windows = options.windows ?? 250;
  const { horizon } = options;
  return {
    name: base.name,
    fit(trainBars) {
      const firstOrigin = trainBars.length - horizon - windows;
      if (firstOrigin < 1) throw new RangeError(`conformal ${base.name}: ${trainBars.length} training bars leave no room for ${windows} validation windows of ${horizon} step(s)`);
      const model = base.fit(trainBars.slice(0, firstOrigin + 1));
      const origins = Array.from({ length: windows }, (_, i) => firstOrigin + i);
      return new ConformalBands(model, calibrate(model, trainBars, origins, horizon, options));
    },
  };
}
