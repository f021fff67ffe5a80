/**
 * Walk-forward evaluation of band models: forecasts at given origins (each model refitted every
 * `refitEvery` origins on bars up to that origin only), scored per step and level on the centred
 * log moves, and compared with Diebold-Mariano tests.
 */
import type { DailyBar } from '@stocks/common';
import { closesOf } from '../features.ts';
import { coverageHits, coverageOf, coverageTest, dieboldMariano, intervalScores, meanOf, qlikes } from './scoring.ts';
import type { BandForecast, BandModel, BandModelFitter } from './types.ts';

export interface WalkForwardOptions {
  /** Indices into bars, increasing; each needs `horizon` bars after it. */
  origins: readonly number[];
  horizon: number;
  /** Refit every this many origins (default: once, at the first). */
  refitEvery?: number;
  /** Most recent bars a fit sees (default 2520). */
  maxTrainBars?: number;
}

/** Forecasts of one fitter at every origin; no fit or forecast sees a bar after its origin. */
export function walkForwardBands(bars: readonly DailyBar[], fitter: BandModelFitter, options: WalkForwardOptions): BandForecast[] {
  const { origins, horizon } = options;
  const refitEvery = options.refitEvery ?? origins.length;
  const maxTrainBars = options.maxTrainBars ?? 2520;
  let model: BandModel | undefined;
  return origins.map((t, i) => {
    if (i % refitEvery === 0) model = fitter.fit(bars.slice(Math.max(0, t + 1 - maxTrainBars), t + 1));
    return model!.forecast(bars.slice(Math.max(0, t + 1 - maxTrainBars), t + 1), horizon);
  });
}

/** Realised log moves r_{t,k} minus the served point's move (default naive: 0), per origin and step. */
export function centredMoves(bars: readonly DailyBar[], origins: readonly number[], horizon: number, pointMove?: (origin: number, step: number) => number): number[][] {
  const closes = closesOf(bars);
  return origins.map((t) => Array.from({ length: horizon }, (_, j) => Math.log(closes[t + j + 1]! / closes[t]!) - (pointMove?.(t, j + 1) ?? 0)));
}

/** Per-origin losses of one model at one step. */
export interface StepLosses {
  is80: number[];
  is95: number[];
  qlike: number[];
  covered80: number;
  covered95: number;
  /** 1 where the actual fell inside the band, per origin. */
  hits80: number[];
  hits95: number[];
}

export function stepLosses(forecasts: readonly BandForecast[], actual: readonly (readonly number[])[], step: number): StepLosses {
  const j = step - 1;
  const y = actual.map((a) => a[j]!);
  const col = (key: keyof BandForecast) => forecasts.map((f) => f[key][j]!);
  const hits80 = coverageHits(col('lower80'), col('upper80'), y);
  const hits95 = coverageHits(col('lower95'), col('upper95'), y);
  return {
    is80: intervalScores(col('lower80'), col('upper80'), y, 80),
    is95: intervalScores(col('lower95'), col('upper95'), y, 95),
    qlike: qlikes(col('variance'), y),
    covered80: coverageOf(col('lower80'), col('upper80'), y),
    covered95: coverageOf(col('lower95'), col('upper95'), y),
    hits80,
    hits95,
  };
}

export interface StepSummary {
  step: number;
  coverage80: number;
  coverage95: number;
  /** Two-sided p-value of "the band covers its nominal share" (coverageTest, lag overlap - 1); null under 3 windows. */
  coverage80_p: number | null;
  coverage95_p: number | null;
  /** Mean interval scores (log-return units). */
  interval_score80: number;
  interval_score95: number;
  qlike: number;
}

/** `overlap`: how many consecutive windows share a day's move (the step at one origin a day; fewer when origins are further apart). */
export function summarise(losses: StepLosses, step: number, overlap = step): StepSummary {
  return {
    step,
    coverage80: losses.covered80,
    coverage95: losses.covered95,
    coverage80_p: losses.hits80.length >= 3 ? coverageTest(losses.hits80, 0.8, overlap) : null,
    coverage95_p: losses.hits95.length >= 3 ? coverageTest(losses.hits95, 0.95, overlap) : null,
    interval_score80: meanOf(losses.is80),
    interval_score95: meanOf(losses.is95),
    qlike: meanOf(losses.qlike),
  };
}

export interface StepComparison {
  /** Diebold-Mariano p-values of A against B (A's loss minus B's), lag step - 1. */
  is80: { two_sided: number; a_better: number; a_worse: number };
  is95: { two_sided: number; a_better: number; a_worse: number };
  qlike: { two_sided: number; a_better: number; a_worse: number };
}

export function compareSteps(a: StepLosses, b: StepLosses, step: number): StepComparison {
  const test = (x: number[], y: number[]) => {
    const r = dieboldMariano(x, y, step);
    return { two_sided: r.p_two_sided, a_better: r.p_a_better, a_worse: r.p_a_worse };
  };
  return { is80: test(a.is80, b.is80), is95: test(a.is95, b.is95), qlike: test(a.qlike, b.qlike) };
}

/** Forecasts as price bands around served points: band = point * exp(q). */
export function priceBands(forecast: BandForecast, points: readonly number[]): { lower80: number[]; upper80: number[]; lower95: number[]; upper95: number[] } {
  const at = (q: number[]) => points.map((p, j) => p * Math.exp(q[j]!));
  return { lower80: at(forecast.lower80), upper80: at(forecast.upper80), lower95: at(forecast.lower95), upper95: at(forecast.upper95) };
}
