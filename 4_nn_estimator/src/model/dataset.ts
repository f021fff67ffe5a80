/**
 * Windowing and chronological train/validation split (jena-weather style, but with the split on
 * window end days and a purge gap so no training target overlaps the validation period).
 */
import type { DailyBar } from '@stocks/common';
import type { ModelConfig } from './config.ts';
import { at, closesOf, computeFeatures, cumulativeLogReturns, FEATURE_WARMUP, N_FEATURES, type FeatureMatrix } from './features.ts';
import { StandardScaler } from './scaler.ts';

export const MIN_TRAIN_WINDOWS = 20;
export const MIN_VALIDATION_WINDOWS = 5;

export interface DateRange {
  start: string;
  end: string;
}

/** Windows as flat Float32Arrays ready for tf.tensor3d / tensor2d (features and targets scaled). */
export interface WindowSet {
  x: Float32Array;
  y: Float32Array;
  xShape: [number, number, number];
  yShape: [number, number];
  n: number;
  /** Index (into bars) of each window's last input day t. */
  endIndices: number[];
}

export interface ValidationSet extends WindowSet {
  /** close[t] per window: the price the forecast starts from. */
  lastCloses: number[];
  /** close[t+1..t+horizon] per window. */
  futureCloses: number[][];
  /** Unscaled targets log(close[t+k]/close[t]). */
  targetLogReturns: number[][];
}

export interface Dataset {
  closes: number[];
  dates: string[];
  nFeatures: number;
  scaler: StandardScaler;
  train: WindowSet;
  validation: ValidationSet;
  /** First training input day .. last training target day. */
  trainRange: DateRange;
  /** First .. last day whose close is a validation target. */
  validationRange: DateRange;
}

export class NotEnoughBarsError extends Error {
  override readonly name = 'NotEnoughBarsError';
  constructor(
    readonly needed: number,
    readonly got: number,
  ) {
    super(`not enough bars to train: need at least ${needed}, got ${got}`);
  }
}

interface SplitPlan {
  trainEnds: number[];
  validationEnds: number[];
}

type WindowShape = Pick<ModelConfig, 'window' | 'horizon' | 'validationFraction'>;

/** Bars needed before the model can read its first full window (feature warm-up + window). */
export function requiredHistory(config: Pick<ModelConfig, 'window'>): number {
  return FEATURE_WARMUP + config.window;
}

/**
 * Chronological split over window end days t. Validation = the last `validationFraction` of the
 * windows; training windows must have t + horizon <= first validation t, which drops the
 * horizon - 1 windows in between (their targets would reach into the validation period).
 */
export function planSplit(nBars: number, config: WindowShape): SplitPlan | undefined {
  const firstEnd = requiredHistory(config) - 1;
  const lastEnd = nBars - 1 - config.horizon;
  const nWindows = lastEnd - firstEnd + 1;
  if (nWindows <= 0) return undefined;
  const nValidation = Math.max(1, Math.round(nWindows * config.validationFraction));
  const firstValidationEnd = lastEnd - nValidation + 1;
  const lastTrainEnd = firstValidationEnd - config.horizon;
  const nTrain = lastTrainEnd - firstEnd + 1;
  if (nTrain < MIN_TRAIN_WINDOWS || nValidation < MIN_VALIDATION_WINDOWS) return undefined;
  return { trainEnds: range(firstEnd, lastTrainEnd), validationEnds: range(firstValidationEnd, lastEnd) };
}

/** Smallest number of bars for which `planSplit` succeeds. */
export function minimumBarsForTraining(config: WindowShape): number {
  let n = requiredHistory(config) + config.horizon;
  while (!planSplit(n, config)) n++;
  return n;
}

/**
 * Builds scaled train/validation windows. The scaler is fitted on training windows only unless
 * one is given (fine-tuning keeps the champion's scaler so its weights stay meaningful).
 */
export function buildDataset(bars: readonly DailyBar[], config: ModelConfig, fixedScaler?: StandardScaler): Dataset {
  const plan = planSplit(bars.length, config);
  if (!plan) throw new NotEnoughBarsError(minimumBarsForTraining(config), bars.length);
  const closes = closesOf(bars);
  const dates = bars.map((b) => b.date);
  const features = computeFeatures(closes);
  const scaler = fixedScaler ?? fitScalerOnTraining(features, closes, plan.trainEnds, config);
  const train = encodeWindowSet(features, closes, plan.trainEnds, config, scaler);
  const validation = encodeValidationSet(features, closes, plan.validationEnds, config, scaler);
  const firstTrainEnd = at(plan.trainEnds, 0);
  const firstValidationEnd = at(plan.validationEnds, 0);
  return {
    closes,
    dates,
    nFeatures: N_FEATURES,
    scaler,
    train,
    validation,
    trainRange: { start: at(dates, firstTrainEnd - config.window + 1), end: at(dates, firstValidationEnd) },
    validationRange: { start: at(dates, firstValidationEnd + 1), end: at(dates, dates.length - 1) },
  };
}

function fitScalerOnTraining(features: FeatureMatrix, closes: number[], trainEnds: number[], config: ModelConfig): StandardScaler {
  const firstRow = at(trainEnds, 0) - config.window + 1;
  const lastRow = at(trainEnds, trainEnds.length - 1);
  const featureRows = features.values.subarray(firstRow * N_FEATURES, (lastRow + 1) * N_FEATURES);
  const targetRows = trainEnds.flatMap((t) => cumulativeLogReturns(closes, t, config.horizon));
  return StandardScaler.fit(featureRows, N_FEATURES, targetRows, config.horizon);
}

/** Scaled input windows [n, window, nFeatures] ending at each of `endIndices`. */
export function encodeInputs(features: FeatureMatrix, endIndices: readonly number[], window: number, scaler: StandardScaler): Float32Array {
  const x = new Float32Array(endIndices.length * window * N_FEATURES);
  endIndices.forEach((t, w) => {
    const firstRow = t - window + 1;
    if (firstRow < FEATURE_WARMUP) throw new RangeError(`window ending at ${t} starts before the feature warm-up`);
    for (let r = 0; r < window; r++) {
      for (let f = 0; f < N_FEATURES; f++) {
        x[(w * window + r) * N_FEATURES + f] = scaler.scaleFeature(at(features.values, (firstRow + r) * N_FEATURES + f), f);
      }
    }
  });
  return x;
}

function encodeWindowSet(features: FeatureMatrix, closes: number[], endIndices: number[], config: ModelConfig, scaler: StandardScaler): WindowSet {
  const n = endIndices.length;
  const y = new Float32Array(n * config.horizon);
  endIndices.forEach((t, w) => {
    cumulativeLogReturns(closes, t, config.horizon).forEach((value, k) => {
      y[w * config.horizon + k] = scaler.scaleTarget(value, k);
    });
  });
  return {
    x: encodeInputs(features, endIndices, config.window, scaler),
    y,
    xShape: [n, config.window, N_FEATURES],
    yShape: [n, config.horizon],
    n,
    endIndices,
  };
}

function encodeValidationSet(features: FeatureMatrix, closes: number[], endIndices: number[], config: ModelConfig, scaler: StandardScaler): ValidationSet {
  return {
    ...encodeWindowSet(features, closes, endIndices, config, scaler),
    lastCloses: endIndices.map((t) => at(closes, t)),
    futureCloses: endIndices.map((t) => closes.slice(t + 1, t + 1 + config.horizon)),
    targetLogReturns: endIndices.map((t) => cumulativeLogReturns(closes, t, config.horizon)),
  };
}

function range(first: number, last: number): number[] {
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => first + i);
}
