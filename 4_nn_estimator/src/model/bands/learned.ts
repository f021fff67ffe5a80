/**
 * The learned scale model ('model' among the band models): a small network (scale-network.ts) on
 * volatility features (volatility-features.ts) forecasts the variance of the cumulative log return
 * for every step; the band edges are that standard deviation times the empirical quantiles of the
 * standardised residuals z_{t,k} = r_{t,k} / sqrt(v_{t,k}) over every origin of the fit (filtered
 * historical simulation): thousands of windows instead of the few hundred a conformal factor is
 * estimated on, so the 95% edges are not at the mercy of 25 exceedances, and the tails and skew
 * come from the data.
 *
 * Inside each fit, chronologically: the first TRAIN_SHARE of the origins train the candidates, the
 * rest (after a purge of `horizon` origins, so no training target overlaps a validation one) are
 * validation. Its first half (purged again) chooses: early stopping and the choice among CANDIDATES
 * (lowest validation NLL). Its second half, the holdout, is seen by no choice of the fit: the
 * champion/challenger test (choice.ts) scores the network there, with residual quantiles taken
 * from the windows before it. Nothing after the last training bar is seen.
 */
import type { DailyBar } from '@stocks/common';
import { z } from 'zod';
import { at } from '../features.ts';
import { ConformalBands } from './conformal.ts';
import { cumulativeVariances, trainScaleNetwork, type ScaleNetworkWeights, type ScaleSamples, type ScaleTrainingOptions } from './scale-network.ts';
import { widenWithHorizon } from './fan.ts';
import { bandEdgesOf, BAND_EDGES, type BandEdge } from './series.ts';
import type { StepQuantiles } from './ewma.ts';
import type { BandForecast, BandModel, BandModelFitter } from './types.ts';
import { dailyVariances, meanSquaredReturn, N_VOLATILITY_FEATURES, VOLATILITY_FEATURE_NAMES, VOLATILITY_WARMUP, volatilityFeatures, type DailyVariances } from './volatility-features.ts';

export interface LearnedScaleOptions {
  /**
   * Steps the network is trained on: the NLL averages over them, so a long horizon would trade the
   * short steps users read most for distant ones. Served horizons beyond it follow the same reverting path.
   */
  horizon: number;
  /** Most recent bars a fit uses. */
  maxBars: number;
  seed: number;
  /** Settings tried; the one with the lowest validation NLL is kept. */
  candidates: ReadonlyArray<Pick<ScaleTrainingOptions, 'hidden' | 'l2'>>;
}

export const DEFAULT_LEARNED_OPTIONS: LearnedScaleOptions = {
  horizon: 10,
  maxBars: 2520,
  seed: 42,
  candidates: [
    { hidden: 0, l2: 1e-2 },
    { hidden: 8, l2: 1e-2 },
    { hidden: 8, l2: 1e-1 },
  ],
};

const TRAIN_SHARE = 0.7;
const TRAINING = { learningRate: 0.005, maxEpochs: 600, patience: 6 } as const;
/** Bars fed to the features at serving: the EWMA's start is forgotten (0.94^400 ~ 2e-11) long before. */
const SERVING_BARS = 400;
/** Steps whose residual quantiles are measured (the longest served forecast); later steps reuse the last. */
const QUANTILE_STEPS = 30;
/** Fewest residuals behind a step's quantiles (a 2.5% quantile of fewer is mostly noise). */
const MIN_RESIDUALS = 200;
/** Fewest validation windows that give usable 2.5% / 97.5% quantiles. */
const MIN_VALIDATION_WINDOWS = 80;

export class NotEnoughBarsForBandsError extends RangeError {
  override readonly name = 'NotEnoughBarsForBandsError';
}

export const LearnedScaleJsonSchema = z.object({
  kind: z.literal('learned_scale'),
  version: z.literal(1),
  horizon: z.number().int().positive(),
  referenceVariance: z.number().positive(),
  featureMean: z.array(z.number()).length(N_VOLATILITY_FEATURES),
  featureStd: z.array(z.number().positive()).length(N_VOLATILITY_FEATURES),
  weights: z.object({
    nFeatures: z.literal(N_VOLATILITY_FEATURES),
    hidden: z.number().int().min(0),
    w1: z.array(z.number()),
    b1: z.array(z.number()),
    w2: z.array(z.number()),
    wSkip: z.array(z.number()),
    b: z.array(z.number()).length(2),
    rhoLogit: z.number(),
  }),
  selection: z.object({
    chosen: z.object({ hidden: z.number(), l2: z.number() }),
    candidates: z.array(z.object({ hidden: z.number(), l2: z.number(), validation_nll: z.number(), epochs: z.number() })),
    n_train: z.number(),
    n_validation: z.number(),
    validation_start: z.string(),
    validation_end: z.string(),
  }),
});
export type LearnedScaleJson = z.infer<typeof LearnedScaleJsonSchema>;

/** Validation windows kept for the champion/challenger comparison (origin index into the fit's bars). */
export interface ValidationWindows {
  /** The fit's bars (the most recent maxBars of the input). */
  bars: readonly DailyBar[];
  /** Origin indices into `bars` of the validation windows. */
  origins: number[];
  horizon: number;
}

export class LearnedScaleModel implements BandModel {
  readonly name = 'model' as const;

  constructor(readonly state: LearnedScaleJson) {}

  static fromJSON(json: unknown): LearnedScaleModel {
    return new LearnedScaleModel(LearnedScaleJsonSchema.parse(json));
  }

  toJSON(): LearnedScaleJson {
    return this.state;
  }

  /** Variances of r_{t,k}, k = 1..horizon, at the last bar. */
  variances(bars: readonly DailyBar[], horizon: number): number[] {
    const needed = VOLATILITY_WARMUP + 1;
    if (bars.length < needed) throw new NotEnoughBarsForBandsError(`the learned bands need at least ${needed} bars of history, got ${bars.length}`);
    const recent = bars.slice(-SERVING_BARS);
    const x = volatilityFeatures(dailyVariances(recent), [recent.length - 1], this.state.referenceVariance);
    return cumulativeVariances(this.state.weights, standardise(x, this.state), horizon, this.state.referenceVariance);
  }

  /** Gaussian bands of the forecast variance (before recalibration). */
  forecast(bars: readonly DailyBar[], horizon: number): BandForecast {
    const variance = this.variances(bars, horizon);
    const sd = variance.map(Math.sqrt);
    return {
      variance,
      lower80: sd.map((s) => -Z80 * s),
      upper80: sd.map((s) => Z80 * s),
      lower95: sd.map((s) => -Z95 * s),
      upper95: sd.map((s) => Z95 * s),
    };
  }
}

/** Standard normal quantiles of the band edges: the base bands conformal recalibration rescales. */
const Z80 = 1.2815515655446004;
const Z95 = 1.959963984540054;

function standardise(x: Float64Array, state: Pick<LearnedScaleJson, 'featureMean' | 'featureStd'>): Float64Array {
  return x.map((value, i) => (value - at(state.featureMean, i % N_VOLATILITY_FEATURES)) / at(state.featureStd, i % N_VOLATILITY_FEATURES));
}

interface Prepared {
  bars: readonly DailyBar[];
  series: DailyVariances;
  referenceVariance: number;
  trainOrigins: number[];
  validationOrigins: number[];
  featureMean: number[];
  featureStd: number[];
}

/** Chronological, purged split of the origins and the feature standardisation (training origins only). */
export function prepareFit(trainBars: readonly DailyBar[], options: Pick<LearnedScaleOptions, 'horizon' | 'maxBars'>): Prepared {
  const bars = trainBars.slice(-options.maxBars);
  const { horizon } = options;
  const last = bars.length - 1 - horizon;
  const nOrigins = last - VOLATILITY_WARMUP + 1;
  const minimum = Math.ceil(MIN_VALIDATION_WINDOWS / (1 - TRAIN_SHARE)) + horizon;
  if (nOrigins < minimum) {
    throw new NotEnoughBarsForBandsError(`the learned bands need at least ${minimum + VOLATILITY_WARMUP + horizon} bars to fit (horizon ${horizon}), got ${bars.length}`);
  }
  const firstValidation = VOLATILITY_WARMUP + Math.floor(nOrigins * TRAIN_SHARE);
  const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  // Purge: a training origin's targets run to t + horizon, which must precede the first validation target.
  const trainOrigins = range(VOLATILITY_WARMUP, firstValidation - horizon);
  const validationOrigins = range(firstValidation, last);
  const series = dailyVariances(bars);
  // The reference variance comes from the training part only (returns up to the first validation origin).
  const referenceVariance = meanSquaredReturn(series.returns, 1, firstValidation + 1);
  const x = volatilityFeatures(series, trainOrigins, referenceVariance);
  const featureMean: number[] = [];
  const featureStd: number[] = [];
  for (let f = 0; f < N_VOLATILITY_FEATURES; f++) {
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < trainOrigins.length; i++) {
      const v = at(x, i * N_VOLATILITY_FEATURES + f);
      sum += v;
      sumSq += v * v;
    }
    const m = sum / trainOrigins.length;
    featureMean.push(m);
    featureStd.push(Math.max(Math.sqrt(Math.max(0, sumSq / trainOrigins.length - m * m)), 1e-6));
  }
  return { bars, series, referenceVariance, trainOrigins, validationOrigins, featureMean, featureStd };
}

/**
 * The network starts as (and its l2 penalty pulls towards) EWMA(0.94) at step 1 reverting to the
 * last quarter's mean r^2 (s = log EWMA variance, m = log 66-day variance): both adapt to the
 * regime, so a fit on a calm period does not pin later forecasts to that period's level.
 * Validation decides how far training may move it.
 */
export function priorStart(featureMean: readonly number[], featureStd: readonly number[]): Pick<ScaleNetworkWeights, 'wSkip' | 'b'> {
  const ewma = VOLATILITY_FEATURE_NAMES.indexOf('log_ewma_var');
  const quarter = VOLATILITY_FEATURE_NAMES.indexOf('log_r2_66d');
  const wSkip = new Array<number>(N_VOLATILITY_FEATURES * 2).fill(0);
  wSkip[ewma * 2] = at(featureStd, ewma);
  wSkip[quarter * 2 + 1] = at(featureStd, quarter);
  return { wSkip, b: [at(featureMean, ewma), at(featureMean, quarter)] };
}

function samples(prepared: Prepared, origins: readonly number[], horizon: number): ScaleSamples & { returns: number[][] } {
  const { series, referenceVariance } = prepared;
  const x = Float32Array.from(standardise(volatilityFeatures(series, origins, referenceVariance), prepared));
  const returns = origins.map((t) => {
    let sum = 0;
    return Array.from({ length: horizon }, (_, k) => (sum += at(series.returns, t + k + 1)));
  });
  const r2 = Float32Array.from(returns.flatMap((row) => row.map((r) => (r * r) / referenceVariance)));
  return { x, r2, n: origins.length, nFeatures: N_VOLATILITY_FEATURES, horizon, returns };
}

const ConformalFactorsSchema = z.object({ scale80: z.array(z.number()), scale95: z.array(z.number()), variance: z.array(z.number()), n: z.array(z.number()) });
const StepQuantilesSchema = z.object({ lower80: z.array(z.number()), upper80: z.array(z.number()), lower95: z.array(z.number()), upper95: z.array(z.number()) });
/**
 * `quantiles`: residual quantiles per step (filtered historical simulation, what fits store now);
 * `conformal`: Gaussian bands rescaled by conformal factors (versions stored before), still served as they were.
 */
export const LearnedBandsJsonSchema = z
  .object({
    name: z.literal('model'),
    base: LearnedScaleJsonSchema,
    quantiles: StepQuantilesSchema.extend({ n: z.array(z.number()) }).optional(),
    conformal: ConformalFactorsSchema.optional(),
  })
  .refine((j) => (j.quantiles === undefined) !== (j.conformal === undefined), { message: 'learned bands store either residual quantiles or conformal factors' });
export type ResidualQuantiles = StepQuantiles & { n: number[] };

/** The served learned bands: the network's standard deviation times its residual quantiles, widening with the horizon. */
export class LearnedBands implements BandModel {
  readonly name = 'model' as const;
  private readonly legacy?: ConformalBands;

  constructor(
    readonly base: LearnedScaleModel,
    readonly quantiles: ResidualQuantiles | undefined,
    readonly conformal?: z.infer<typeof ConformalFactorsSchema>,
  ) {
    if (!quantiles && !conformal) throw new TypeError('learned bands need residual quantiles or conformal factors');
    if (!quantiles && conformal) this.legacy = new ConformalBands(base, conformal);
  }

  static fromJSON(json: unknown): LearnedBands {
    const parsed = LearnedBandsJsonSchema.parse(json);
    return new LearnedBands(new LearnedScaleModel(parsed.base), parsed.quantiles, parsed.conformal);
  }

  forecast(bars: readonly DailyBar[], horizon: number): BandForecast {
    if (this.legacy) return widenWithHorizon(this.legacy.forecast(bars, horizon));
    const q = this.quantiles!;
    const last = q.lower80.length - 1;
    const variance = this.base.variances(bars, horizon);
    const edge = (e: BandEdge) => variance.map((v, j) => Math.sqrt(v) * at(q[e], Math.min(j, last)));
    return widenWithHorizon({ variance, lower80: edge('lower80'), upper80: edge('upper80'), lower95: edge('lower95'), upper95: edge('upper95') });
  }

  toJSON(): z.infer<typeof LearnedBandsJsonSchema> {
    return { name: 'model', base: this.base.toJSON(), ...(this.quantiles ? { quantiles: this.quantiles } : { conformal: this.conformal! }) };
  }
}

/**
 * Band-edge quantiles, per step k = 1..steps, of z_{t,k} = r_{t,k} / sqrt(v_{t,k}) over every origin
 * t of `bars` whose k-step target ends at or before `lastKnown` (an index into bars). Steps with fewer
 * than MIN_RESIDUALS residuals stop the table (later steps reuse the last measured one).
 */
export function residualQuantiles(base: LearnedScaleModel, bars: readonly DailyBar[], lastKnown: number, steps = QUANTILE_STEPS): ResidualQuantiles {
  const { referenceVariance } = base.state;
  const series = dailyVariances(bars);
  const origins = Array.from({ length: Math.max(0, lastKnown - VOLATILITY_WARMUP) }, (_, i) => VOLATILITY_WARMUP + i);
  const x = standardise(volatilityFeatures(series, origins, referenceVariance), base.state);
  const z = Array.from({ length: steps }, () => [] as number[]);
  origins.forEach((t, row) => {
    const reach = Math.min(steps, lastKnown - t);
    const v = cumulativeVariances(base.state.weights, x.subarray(row * N_VOLATILITY_FEATURES, (row + 1) * N_VOLATILITY_FEATURES), reach, referenceVariance);
    let sum = 0;
    for (let k = 0; k < reach; k++) {
      sum += at(series.returns, t + k + 1);
      z[k]!.push(sum / Math.sqrt(at(v, k)));
    }
  });
  const out: ResidualQuantiles = { lower80: [], upper80: [], lower95: [], upper95: [], n: [] };
  for (const sample of z) {
    if (sample.length < MIN_RESIDUALS) break;
    const n = sample.length;
    const edges = bandEdgesOf(sample);
    for (const e of BAND_EDGES) out[e].push(edges[e]);
    out.n.push(n);
  }
  if (out.n.length === 0) throw new NotEnoughBarsForBandsError(`the learned bands need at least ${MIN_RESIDUALS} residuals for their quantiles, got ${z[0]!.length}`);
  return out;
}

export interface LearnedFit {
  /** Residual quantiles over every window of the fit: what is served. */
  bands: LearnedBands;
  base: LearnedScaleModel;
  /** Windows no choice of the fit has seen (the champion/challenger test scores them). */
  holdout: ValidationWindows;
  /** The network with residual quantiles from the windows before the holdout only. */
  bandsBeforeHoldout: () => LearnedBands;
}

/** Fit the network, choose among the candidates on the first half of validation, and measure its residual quantiles. */
export function fitLearnedScale(trainBars: readonly DailyBar[], options: LearnedScaleOptions = DEFAULT_LEARNED_OPTIONS): LearnedFit {
  const { horizon } = options;
  const prepared = prepareFit(trainBars, options);
  const half = Math.floor(prepared.validationOrigins.length / 2);
  // The choosing half's last targets must precede the holdout's first origin's targets.
  const choosingOrigins = prepared.validationOrigins.slice(0, Math.max(1, half - horizon));
  const holdoutOrigins = prepared.validationOrigins.slice(half);
  const train = samples(prepared, prepared.trainOrigins, horizon);
  const validation = samples(prepared, choosingOrigins, horizon);
  const start = priorStart(prepared.featureMean, prepared.featureStd);
  const fits = options.candidates.map((candidate) => ({ candidate, fit: trainScaleNetwork(train, validation, { ...TRAINING, ...candidate, seed: options.seed, start }) }));
  const best = fits.reduce((a, b) => (b.fit.validationNll < a.fit.validationNll ? b : a));
  const dateOf = (t: number) => at(prepared.bars, t).date;
  const base = new LearnedScaleModel({
    kind: 'learned_scale',
    version: 1,
    horizon,
    referenceVariance: prepared.referenceVariance,
    featureMean: prepared.featureMean,
    featureStd: prepared.featureStd,
    weights: best.fit.weights,
    selection: {
      chosen: { ...best.candidate },
      candidates: fits.map(({ candidate, fit }) => ({ ...candidate, validation_nll: fit.validationNll, epochs: fit.epochs })),
      n_train: train.n,
      n_validation: validation.n,
      validation_start: dateOf(at(choosingOrigins, 0)),
      validation_end: dateOf(at(choosingOrigins, choosingOrigins.length - 1)),
    },
  });
  const { bars } = prepared;
  const bands = new LearnedBands(base, residualQuantiles(base, bars, bars.length - 1));
  const firstHoldout = at(holdoutOrigins, 0);
  return {
    bands,
    base,
    holdout: { bars, origins: holdoutOrigins, horizon },
    bandsBeforeHoldout: () => new LearnedBands(base, residualQuantiles(base, bars, firstHoldout)),
  };
}

export function learnedScaleFitter(options: LearnedScaleOptions = DEFAULT_LEARNED_OPTIONS): BandModelFitter {
  return { name: 'model', fit: (trainBars) => fitLearnedScale(trainBars, options).bands };
}
