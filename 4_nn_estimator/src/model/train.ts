/**
 * Training orchestration: full training (fresh seeded model) or fine-tuning (warm start from the
 * champion, keeping its scaler and config), both with early stopping that restores the best weights,
 * a validation-fitted shrinkage alpha, and metrics beside naive/drift/moving-average baselines.
 */
import * as tf from '@tensorflow/tfjs';
import type { DailyBar } from '@stocks/common';
import { driftForecast, forecastWindows, movingAverageForecast, naiveForecast } from './baselines.ts';
import { resolveModelConfig, type ModelConfig } from './config.ts';
import { buildDataset, minimumBarsForTraining, requiredHistory, type Dataset, type DateRange, type ValidationSet } from './dataset.ts';
import { at } from './features.ts';
import { movesToPrices, predictLogReturnMoves } from './forecast.ts';
import { buildModel, compileModel, deserializeModel, disposeModel, serializeModel, type ModelArtifact } from './lstm.ts';
import { chooseBands } from './bands/choice.ts';
import type { StoredBands } from './bands/band-schemas.ts';
import { fitIntervals, recentVolatility, type IntervalModel } from './intervals.ts';
import { evaluate, type Evaluation } from './metrics.ts';
import { mulberry32 } from './random.ts';
import { StandardScaler, type ScalerJSON } from './scaler.ts';
import { fitShrinkage, servedAlpha } from './shrinkage.ts';

export interface WarmStart {
  artifact: ModelArtifact;
  scaler: ScalerJSON;
  config: ModelConfig;
  /** Champion's served alpha; when absent it is refitted on the comparison window. */
  alpha?: number;
  /** Champion's train_range.end: fine-tuning uses the bars after it (plus window context). */
  trainedThrough?: string;
  /**
   * The champion's band models, carried over unchanged instead of refitted (the nightly fine-tune:
   * their forecasts read the newest bars at serving time; the periodic full training refits them).
   * Absent: fitted afresh on the bars, as a full training does.
   */
  bands?: StoredBands;
}

export interface TrainInput {
  ticker: string;
  bars: DailyBar[];
  /** Full training: any field. Fine-tuning: only schedule fields (FINE_TUNE_OVERRIDABLE) apply. */
  config?: Partial<ModelConfig>;
  warmStart?: WarmStart;
}

export interface TrainResult {
  ticker: string;
  mode: 'full' | 'fine_tune';
  artifact: ModelArtifact;
  scaler: ScalerJSON;
  config: ModelConfig;
  alpha: number;
  /** Shrunk model on the validation windows: top-level = step 1, plus per_step and all_steps. */
  metrics: Evaluation;
  /** Naive (last value) on the same windows. */
  baseline: Evaluation;
  baselines: { naive: Evaluation; drift: Evaluation; moving_average: Evaluation };
  /** Conformal prediction-interval quantiles per step, fitted on the validation residuals (versions without `bands`). */
  intervals: IntervalModel;
  /** Every band model (static, EWMA, GARCH-t, learned) fitted on the bars, and the one served; absent when the history is too short. */
  bands?: StoredBands;
  /** 1 - model_mae / naive_mae at step 1 (> 0: beats naive). */
  skill: number;
  /** Same over all steps 1..horizon. */
  skill_all_steps: number;
  /** Fine-tune only: the warm-start model evaluated on the same validation windows. */
  championMetricsOnSameWindow?: Evaluation;
  champion_alpha?: number;
  epochs_run: number;
  /** Epoch whose weights were restored (0 = the initial/warm-start weights). */
  best_epoch: number;
  /** Training / validation loss (scaled MSE) of the restored weights. */
  final_loss: number;
  final_val_loss: number;
  duration_ms: number;
  train_range: DateRange;
  validation_range: DateRange;
  n_train: number;
  n_val: number;
  backend: string;
}

/** Config fields a caller may change when fine-tuning (architecture and scaling must stay the champion's). */
export const FINE_TUNE_OVERRIDABLE = ['fineTuneEpochs', 'fineTuneLearningRate', 'batchSize', 'patience', 'validationFraction', 'seed'] as const;

/**
 * Fallback fine-tuning slice: about half a year of windows (when few bars are new or trainedThrough
 * is unknown). Enough to adapt to the recent regime and to judge the challenger against the
 * champion on its most recent fifth, while a nightly fine-tune stays a small fraction of a full
 * training (bench:train).
 */
const RECENT_WINDOWS = 126;
/** Improvements smaller than this (relative) do not reset early-stopping patience. */
const MIN_RELATIVE_IMPROVEMENT = 1e-4;

export async function trainModel(input: TrainInput): Promise<TrainResult> {
  return input.warmStart ? fineTune(input, input.warmStart) : fullTraining(input);
}

async function fullTraining(input: TrainInput): Promise<TrainResult> {
  const started = performance.now();
  const config = resolveModelConfig(input.config);
  const dataset = buildDataset(input.bars, config);
  const model = buildModel(config, dataset.nFeatures);
  try {
    compileModel(model, config.learningRate);
    const fit = await fitWithEarlyStopping(model, dataset, config.epochs, config);
    return await finishTraining({ input, mode: 'full', model, dataset, config, fit, started });
  } finally {
    disposeModel(model);
  }
}

async function fineTune(input: TrainInput, warmStart: WarmStart): Promise<TrainResult> {
  const started = performance.now();
  const config = fineTuneConfig(warmStart.config, input.config);
  const scaler = StandardScaler.fromJSON(warmStart.scaler);
  const dataset = buildDataset(recentSlice(input.bars, config, warmStart.trainedThrough), config, scaler);
  const model = await deserializeModel(warmStart.artifact);
  try {
    // Evaluate the champion before its weights are touched, on the windows the challenger is judged on.
    const championMoves = predictValidationMoves(model, dataset.validation, config, scaler);
    const championAlpha = warmStart.alpha ?? fitShrinkage(championMoves, dataset.validation.targetLogReturns);
    const championMetrics = evaluate(toPrices(dataset.validation, championMoves, championAlpha), dataset.validation.futureCloses);
    compileModel(model, config.fineTuneLearningRate);
    const fit = await fitWithEarlyStopping(model, dataset, config.fineTuneEpochs, config);
    const result = await finishTraining({ input, mode: 'fine_tune', model, dataset, config, fit, started, bands: warmStart.bands });
    return { ...result, championMetricsOnSameWindow: championMetrics, champion_alpha: championAlpha };
  } finally {
    disposeModel(model);
  }
}

function fineTuneConfig(championConfig: ModelConfig, overrides: Partial<ModelConfig> | undefined): ModelConfig {
  const allowed = Object.fromEntries(FINE_TUNE_OVERRIDABLE.filter((key) => overrides?.[key] !== undefined).map((key) => [key, overrides?.[key]]));
  return resolveModelConfig({ ...championConfig, ...allowed });
}

/**
 * Bars after the champion's training end plus the context a window needs before them; if that is
 * too short for a train/validation split (or the end is unknown), the most recent slice instead.
 */
export function recentSlice(bars: DailyBar[], config: ModelConfig, trainedThrough?: string): DailyBar[] {
  const fallbackLength = Math.max(minimumBarsForTraining(config), requiredHistory(config) + RECENT_WINDOWS + config.horizon);
  const fallback = bars.slice(-fallbackLength);
  if (!trainedThrough) return fallback;
  const firstNew = bars.findIndex((bar) => bar.date > trainedThrough);
  if (firstNew < 0) return fallback;
  const sinceChampion = bars.slice(Math.max(0, firstNew - requiredHistory(config)));
  return sinceChampion.length >= minimumBarsForTraining(config) ? sinceChampion : fallback;
}

interface FitSummary {
  epochsRun: number;
  bestEpoch: number;
  bestLoss: number;
  bestValLoss: number;
}

/**
 * Epoch loop with seeded shuffling (tfjs's own shuffle uses Math.random, which breaks repeatability)
 * and early stopping that restores the best validation weights (tf.callbacks.earlyStopping cannot).
 * The starting weights count as epoch 0, so fine-tuning never ends worse than the champion on val loss.
 */
async function fitWithEarlyStopping(model: tf.LayersModel, dataset: Dataset, maxEpochs: number, config: ModelConfig): Promise<FitSummary> {
  const { train, validation } = dataset;
  const xTrain = tf.tensor3d(train.x, train.xShape);
  const yTrain = tf.tensor2d(train.y, train.yShape);
  const xVal = tf.tensor3d(validation.x, validation.xShape);
  const yVal = tf.tensor2d(validation.y, validation.yShape);
  const random = mulberry32(config.seed);
  // The starting training loss is only reported when no epoch beats the start, so it is computed
  // then (a forward pass over every training window: ~15% of a 2-epoch fine-tune).
  const best = new BestWeights(model, meanSquaredError(model, xVal, yVal), Number.NaN);
  let epochsRun = 0;
  try {
    for (let epoch = 1; epoch <= maxEpochs; epoch++) {
      const { loss, valLoss } = await fitOneEpoch(model, xTrain, yTrain, xVal, yVal, shuffledIndices(train.n, random), config.batchSize);
      epochsRun = epoch;
      if (valLoss < best.valLoss * (1 - MIN_RELATIVE_IMPROVEMENT)) best.replace(model, epoch, loss, valLoss);
      else if (epoch - best.epoch >= config.patience) break;
    }
    best.restoreInto(model);
    const bestLoss = best.epoch === 0 ? meanSquaredError(model, xTrain, yTrain) : best.loss;
    return { epochsRun, bestEpoch: best.epoch, bestLoss, bestValLoss: best.valLoss };
  } finally {
    best.dispose();
    tf.dispose([xTrain, yTrain, xVal, yVal]);
  }
}

async function fitOneEpoch(
  model: tf.LayersModel,
  xTrain: tf.Tensor3D,
  yTrain: tf.Tensor2D,
  xVal: tf.Tensor3D,
  yVal: tf.Tensor2D,
  order: Int32Array,
  batchSize: number,
): Promise<{ loss: number; valLoss: number }> {
  const [x, y] = tf.tidy(() => {
    const indices = tf.tensor1d(order, 'int32');
    return [tf.gather(xTrain, indices), tf.gather(yTrain, indices)];
  });
  try {
    const history = await model.fit(x, y, { epochs: 1, batchSize, shuffle: false, validationData: [xVal, yVal], verbose: 0 });
    return { loss: lastHistoryValue(history, 'loss'), valLoss: lastHistoryValue(history, 'val_loss') };
  } finally {
    tf.dispose([x, y]);
  }
}

function lastHistoryValue(history: tf.History, key: string): number {
  const values = history.history[key];
  const value = values?.[values.length - 1];
  if (typeof value !== 'number') throw new Error(`training history has no numeric ${key}`);
  return value;
}

function meanSquaredError(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => tf.losses.meanSquaredError(y, model.predict(x) as tf.Tensor).dataSync()[0] ?? Number.NaN);
}

/** Owns clones of the best weights seen so far. */
class BestWeights {
  epoch = 0;
  private weights: tf.Tensor[];

  constructor(
    model: tf.LayersModel,
    public valLoss: number,
    public loss: number,
  ) {
    this.weights = model.getWeights().map((w) => w.clone());
  }

  replace(model: tf.LayersModel, epoch: number, loss: number, valLoss: number): void {
    tf.dispose(this.weights);
    this.weights = model.getWeights().map((w) => w.clone());
    Object.assign(this, { epoch, loss, valLoss });
  }

  restoreInto(model: tf.LayersModel): void {
    model.setWeights(this.weights);
  }

  dispose(): void {
    tf.dispose(this.weights);
    this.weights = [];
  }
}

interface FinishArgs {
  input: TrainInput;
  mode: TrainResult['mode'];
  model: tf.LayersModel;
  dataset: Dataset;
  config: ModelConfig;
  fit: FitSummary;
  started: number;
  /** Band models carried over from the warm start; otherwise fitted on the bars. */
  bands?: StoredBands;
}

async function finishTraining({ input, mode, model, dataset, config, fit, started, bands: carried }: FinishArgs): Promise<TrainResult> {
  const { validation } = dataset;
  const moves = predictValidationMoves(model, validation, config, dataset.scaler);
  const alpha = servedAlpha(config.shrinkage, moves, validation.targetLogReturns);
  const metrics = evaluate(toPrices(validation, moves, alpha), validation.futureCloses);
  const baselines = evaluateBaselines(dataset, config);
  const intervals = fitIntervals(
    moves.map((move) => move.map((m) => alpha * m)),
    validation.targetLogReturns,
    validation.endIndices.map((t) => recentVolatility(dataset.closes, t)),
  );
  const bands = carried ?? bandsFor(input.bars, config.horizon);
  return {
    ticker: input.ticker,
    mode,
    ...(bands ? { bands } : {}),
    artifact: await serializeModel(model),
    scaler: dataset.scaler.toJSON(),
    config,
    alpha,
    intervals,
    metrics,
    baseline: baselines.naive,
    baselines,
    skill: 1 - metrics.mae / baselines.naive.mae,
    skill_all_steps: 1 - metrics.all_steps.mae / baselines.naive.all_steps.mae,
    epochs_run: fit.epochsRun,
    best_epoch: fit.bestEpoch,
    final_loss: fit.bestLoss,
    final_val_loss: fit.bestValLoss,
    duration_ms: Math.round(performance.now() - started),
    train_range: dataset.trainRange,
    validation_range: dataset.validationRange,
    n_train: dataset.train.n,
    n_val: validation.n,
    backend: tf.getBackend(),
  };
}

/** The scale's champion/challenger; a history too short for any band model leaves the version without bands. */
function bandsFor(bars: readonly DailyBar[], horizon: number): StoredBands | undefined {
  try {
    return chooseBands(bars, horizon);
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

function predictValidationMoves(model: tf.LayersModel, validation: ValidationSet, config: ModelConfig, scaler: StandardScaler): number[][] {
  return predictLogReturnMoves(model, validation.x, validation.n, config, scaler);
}

function toPrices(validation: ValidationSet, moves: number[][], alpha: number): number[][] {
  return moves.map((move, w) => movesToPrices(at(validation.lastCloses, w), move, alpha));
}

function evaluateBaselines(dataset: Dataset, config: ModelConfig): TrainResult['baselines'] {
  const { closes, validation } = dataset;
  const run = (forecaster: typeof naiveForecast) =>
    evaluate(forecastWindows(forecaster, closes, validation.endIndices, config.window, config.horizon), validation.futureCloses);
  return { naive: run(naiveForecast), drift: run(driftForecast), moving_average: run(movingAverageForecast) };
}

function shuffledIndices(n: number, random: () => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = at(order, i);
    order[i] = at(order, j);
    order[j] = tmp;
  }
  return order;
}

