/**
 * The learned scale model ('model' among the band models): a small network (scale-network.ts) on
 * volatility features (volatility-features.ts) forecasts the variance of the cumulative log return
 * for every step, pooled in logs with EWMA(0.94)'s at a weight chosen on validation; the band edges
 * are that standard deviation times the empirical quantiles of the standardised residuals
 * z_{t,k} = r_{t,k} / sqrt(v_{t,k}) over every origin of the fit (filtered historical simulation):
 * thousands of windows instead of the few hundred a conformal factor is estimated on, so the 95%
 * edges are not at the mercy of 25 exceedances, and the tails and skew come from the data. The
 * variance level is recalibrated once: times the mean z^2 over the validation windows, which the
 * network was not trained on (the QLIKE-optimal factor, and the recent regime's level); the 80%
 * band's width also gets a conformal factor from those windows (bodyFactor).
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
import { ConformalBands, conformalQuantile } from './conformal.ts';
import { logDailyVariances, trainScaleNetwork, type ScaleNetworkWeights, type ScaleSamples, type ScaleTrainingOptions } from './scale-network.ts';
import { widenWithHorizon } from './fan.ts';
import { bandEdgesOf, type BandEdge } from './series.ts';
import { meanGaussianNll } from './likelihood.ts';
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
  horizon: 5,
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
/** Fewest out-of-sample windows behind a step's variance level. */
const MIN_LEVEL_WINDOWS = 20;
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
  /**
   * Share of EWMA(0.94) in the served daily log variance: log v_j = (1 - w) network_j + w log ewma
   * (a log-linear pool; the network reverts, the EWMA adapts at once). Chosen on validation; 0 before.
   */
  ewmaWeight: z.number().min(0).max(1).default(0),
  selection: z.object({
    chosen: z.object({ hidden: z.number(), l2: z.number() }),
    candidates: z.array(z.object({ hidden: z.number(), l2: z.number(), validation_nll: z.number(), epochs: z.number() })),
    n_train: z.number(),
    n_validation: z.number(),
    /** Validation NLL of each EWMA weight tried (fits stored before have none). */
    ewma_weights: z.array(z.object({ weight: z.number(), validation_nll: z.number() })).optional(),
    validation_start: z.string(),
    validation_end: z.string(),
  }),
});
export type LearnedScaleJson = z.infer<typeof LearnedScaleJsonSchema>;
const EWMA_FEATURE = VOLATILITY_FEATURE_NAMES.indexOf('log_ewma_var');
/** EWMA weights tried in the pool (chosen by validation NLL). */
export const EWMA_WEIGHTS = [0, 0.25, 0.5, 0.75, 1] as const;

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
    return pooledVariances(this.state, x, horizon, this.state.ewmaWeight);
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

/**
 * Cumulative variances of r_{t,k}, k = 1..horizon, from one row of raw features: the network's daily
 * log variances pooled with EWMA's (its raw feature is log(ewma / ref)), summed over the steps.
 */
export function pooledVariances(state: Pick<LearnedScaleJson, 'weights' | 'referenceVariance' | 'featureMean' | 'featureStd'>, raw: Float64Array, horizon: number, ewmaWeight: number): number[] {
  const logEwma = at(raw, EWMA_FEATURE);
  let sum = 0;
  return logDailyVariances(state.weights, standardise(raw, state), horizon).map((o) => (sum += Math.exp((1 - ewmaWeight) * o + ewmaWeight * logEwma) * state.referenceVariance));
}

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
    quantiles: StepQuantilesSchema.extend({ level: z.array(z.number().positive()), n: z.array(z.number()) }).optional(),
    conformal: ConformalFactorsSchema.optional(),
  })
  .refine((j) => (j.quantiles === undefined) !== (j.conformal === undefined), { message: 'learned bands store either residual quantiles or conformal factors' });
/** Per step: band-edge quantiles of z / rms(z) over every window, the out-of-sample mean of z^2 (`level`), windows behind them. */
export type ResidualQuantiles = StepQuantiles & { level: number[]; n: number[] };

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
    const variance = this.base.variances(bars, horizon).map((v, j) => v * at(q.level, Math.min(j, last)));
    const edge = (e: BandEdge) => variance.map((v, j) => Math.sqrt(v) * at(q[e], Math.min(j, last)));
    return widenWithHorizon({ variance, lower80: edge('lower80'), upper80: edge('upper80'), lower95: edge('lower95'), upper95: edge('upper95') });
  }

  toJSON(): z.infer<typeof LearnedBandsJsonSchema> {
    return { name: 'model', base: this.base.toJSON(), ...(this.quantiles ? { quantiles: this.quantiles } : { conformal: this.conformal! }) };
  }
}

/**
 * Band-edge quantiles, per step k = 1..steps, of z_{t,k} = r_{t,k} / sqrt(v_{t,k}) over every origin
 * t of `bars` whose k-step target ends at or before `lastKnown` (an index into bars), scaled to unit
 * mean square, the 80% edges times their conformal factor over the origins from `levelFrom` on
 * (bodyFactor); and the variance level, the mean z^2 over those origins. Steps with
 * too few residuals stop the table (later steps reuse the last measured one).
 */
export function residualQuantiles(base: LearnedScaleModel, bars: readonly DailyBar[], lastKnown: number, levelFrom: number, steps = QUANTILE_STEPS): ResidualQuantiles {
  const { referenceVariance } = base.state;
  const series = dailyVariances(bars);
  const origins = Array.from({ length: Math.max(0, lastKnown - VOLATILITY_WARMUP) }, (_, i) => VOLATILITY_WARMUP + i);
  const x = volatilityFeatures(series, origins, referenceVariance);
  const z = Array.from({ length: steps }, () => [] as number[]);
  const recent = Array.from({ length: steps }, () => [] as number[]);
  origins.forEach((t, row) => {
    const reach = Math.min(steps, lastKnown - t);
    const v = pooledVariances(base.state, x.subarray(row * N_VOLATILITY_FEATURES, (row + 1) * N_VOLATILITY_FEATURES), reach, base.state.ewmaWeight);
    let sum = 0;
    for (let k = 0; k < reach; k++) {
      sum += at(series.returns, t + k + 1);
      const zk = sum / Math.sqrt(at(v, k));
      z[k]!.push(zk);
      if (t >= levelFrom) recent[k]!.push(zk);
    }
  });
  const out: ResidualQuantiles = { lower80: [], upper80: [], lower95: [], upper95: [], level: [], n: [] };
  for (const [k, sample] of z.entries()) {
    const held = recent[k]!;
    if (sample.length < MIN_RESIDUALS || held.length < MIN_LEVEL_WINDOWS) break;
    // Shape from every window (scaled to unit mean square), level from the out-of-sample ones.
    const rms = Math.sqrt(sample.reduce((s, x) => s + x * x, 0) / sample.length);
    const level = held.reduce((s, x) => s + x * x, 0) / held.length;
    const edges = bandEdgesOf(sample);
    const factor80 = bodyFactor(held, edges.lower80 / rms, edges.upper80 / rms, Math.sqrt(level));
    out.lower80.push((factor80 * edges.lower80) / rms);
    out.upper80.push((factor80 * edges.upper80) / rms);
    out.lower95.push(edges.lower95 / rms);
    out.upper95.push(edges.upper95 / rms);
    out.level.push(level);
    out.n.push(sample.length);
  }
  if (out.n.length === 0) throw new NotEnoughBarsForBandsError(`the learned bands need at least ${MIN_RESIDUALS} residuals for their quantiles, got ${z[0]!.length}`);
  return out;
}

/**
 * The split-conformal factor of the 80% band on the out-of-sample residuals `held`: the band
 * [lower, upper] x sd (z units), scaled about 0 (the point, so the skew stays), just covers
 * ceil((n + 1) 0.8) of them. Why the 80% band gets its own factor: the level (mean z^2) is set
 * mostly by the tails, and when the recent windows' tails are lighter than those of the whole fit,
 * their body is wider than the fit's shape says and the 80% band under-covers (seen at 5 days). A
 * fifth of the windows fall outside it, enough for a factor; the 95% band's 1 in 40 would make its
 * factor mostly noise, so it keeps the level alone.
 */
function bodyFactor(held: readonly number[], lower: number, upper: number, sd: number): number {
  if (!(lower < 0 && upper > 0 && sd > 0)) return 1;
  return conformalQuantile(held.map((z) => (z >= 0 ? z / (upper * sd) : z / (lower * sd))), 80);
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
  const pooled = choosePool(prepared, best.fit.weights, choosingOrigins, horizon);
  const dateOf = (t: number) => at(prepared.bars, t).date;
  const base = new LearnedScaleModel({
    kind: 'learned_scale',
    version: 1,
    horizon,
    referenceVariance: prepared.referenceVariance,
    featureMean: prepared.featureMean,
    featureStd: prepared.featureStd,
    weights: best.fit.weights,
    ewmaWeight: pooled.weight,
    selection: {
      chosen: { ...best.candidate },
      candidates: fits.map(({ candidate, fit }) => ({ ...candidate, validation_nll: fit.validationNll, epochs: fit.epochs })),
      n_train: train.n,
      n_validation: validation.n,
      ewma_weights: pooled.tried,
      validation_start: dateOf(at(choosingOrigins, 0)),
      validation_end: dateOf(at(choosingOrigins, choosingOrigins.length - 1)),
    },
  });
  const { bars } = prepared;
  // The variance level comes from windows the network was not trained on: every validation window for
  // the served bands, the choosing ones for the holdout comparison.
  const firstValidation = at(prepared.validationOrigins, 0);
  const bands = new LearnedBands(base, residualQuantiles(base, bars, bars.length - 1, firstValidation));
  const firstHoldout = at(holdoutOrigins, 0);
  return {
    bands,
    base,
    holdout: { bars, origins: holdoutOrigins, horizon },
    bandsBeforeHoldout: () => new LearnedBands(base, residualQuantiles(base, bars, firstHoldout, firstValidation)),
  };
}

/** The EWMA weight of the pool with the lowest Gaussian NLL over steps 1..horizon on the choosing windows. */
function choosePool(prepared: Prepared, weights: LearnedScaleJson['weights'], origins: readonly number[], horizon: number): { weight: number; tried: Array<{ weight: number; validation_nll: number }> } {
  const state = { weights, referenceVariance: prepared.referenceVariance, featureMean: prepared.featureMean, featureStd: prepared.featureStd };
  const x = volatilityFeatures(prepared.series, origins, prepared.referenceVariance);
  const returns = origins.map((t) => {
    let sum = 0;
    return Array.from({ length: horizon }, (_, k) => (sum += at(prepared.series.returns, t + k + 1)));
  });
  const tried = EWMA_WEIGHTS.map((weight) => ({
    weight,
    validation_nll: meanGaussianNll(returns, origins.map((_, row) => pooledVariances(state, x.subarray(row * N_VOLATILITY_FEATURES, (row + 1) * N_VOLATILITY_FEATURES), horizon, weight))),
  }));
  return { weight: tried.reduce((a, b) => (b.validation_nll < a.validation_nll ? b : a)).weight, tried };
}

export function learnedScaleFitter(options: LearnedScaleOptions = DEFAULT_LEARNED_OPTIONS): BandModelFitter {
  return { name: 'model', fit: (trainBars) => fitLearnedScale(trainBars, options).bands };
}
