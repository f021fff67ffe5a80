/** Inference: last `window` days (+ feature warm-up) -> closes for steps 1..horizon in one predict call. */
import * as tf from '@tensorflow/tfjs';
import type { DailyBar } from '@stocks/common';
import type { ModelConfig } from './config.ts';
import { requiredHistory } from './dataset.ts';
import { at, closesOf, computeFeatures } from './features.ts';
import { encodeInputs } from './dataset.ts';
import { StandardScaler, type ScalerJSON } from './scaler.ts';
import { TfjsPredictor } from './compiled.ts';
import type { MovePredictor } from './predictor.ts';

export class NotEnoughHistoryError extends Error {
  override readonly name = 'NotEnoughHistoryError';
  constructor(
    readonly needed: number,
    readonly got: number,
  ) {
    super(`not enough history to forecast: need at least ${needed} bars, got ${got}`);
  }
}

type ScalerLike = StandardScaler | ScalerJSON;
type InferenceConfig = Pick<ModelConfig, 'window' | 'horizon'>;
/** A TF.js model, or any predictor of the same outputs (the compiled forward pass, model/compiled.ts). */
type ModelLike = tf.LayersModel | MovePredictor;

/** Predicted closes for steps 1..horizon after the last bar (bars oldest first). */
export function forecast(model: ModelLike, scaler: ScalerLike, config: InferenceConfig, alpha: number, bars: readonly DailyBar[], horizon: number): number[] {
  return at(forecastBatch(model, scaler, config, alpha, [bars], horizon), 0);
}

/** Same as `forecast` for many histories, with a single predict call. */
export function forecastBatch(
  model: ModelLike,
  scaler: ScalerLike,
  config: InferenceConfig,
  alpha: number,
  histories: readonly (readonly DailyBar[])[],
  horizon: number,
): number[][] {
  assertHorizon(horizon, config.horizon);
  const needed = requiredHistory(config);
  const fitted = scaler instanceof StandardScaler ? scaler : StandardScaler.fromJSON(scaler);
  const closesPerHistory = histories.map((bars) => {
    if (bars.length < needed) throw new NotEnoughHistoryError(needed, bars.length);
    return closesOf(bars.slice(-needed)); // features of the last window need only `needed` closes
  });
  if (closesPerHistory.length === 0) return [];
  const x = encodeLastWindows(closesPerHistory, config, fitted);
  const moves = predictLogReturnMoves(model, x, closesPerHistory.length, config, fitted);
  return moves.map((move, i) => {
    const closes = at(closesPerHistory, i);
    return movesToPrices(at(closes, closes.length - 1), move.slice(0, horizon), alpha);
  });
}

/** The encoded last window of each history (each exactly `requiredHistory(config)` closes). */
export function encodeLastWindows(closesPerHistory: readonly (readonly number[])[], config: InferenceConfig, scaler: StandardScaler): Float32Array {
  return concatFloat32(closesPerHistory.map((closes) => encodeInputs(computeFeatures(closes), [closes.length - 1], config.window, scaler)));
}

/** Unscaled predicted cumulative log returns [n][config.horizon] for encoded inputs x [n, window, nFeatures]. */
export function predictLogReturnMoves(model: ModelLike, x: Float32Array, n: number, config: InferenceConfig, scaler: StandardScaler): number[][] {
  const predictor = 'predictScaled' in model ? model : new TfjsPredictor(model, config.window);
  const scaled = predictor.predictScaled(x, n);
  return Array.from({ length: n }, (_, w) =>
    Array.from({ length: config.horizon }, (_, k) => scaler.unscaleTarget(at(scaled, w * config.horizon + k), k)),
  );
}

/** close_t * exp(alpha * move_k): alpha = 0 is the naive forecast, alpha = 1 the raw network. */
export function movesToPrices(lastClose: number, moves: readonly number[], alpha: number): number[] {
  return moves.map((move) => {
    const price = lastClose * Math.exp(alpha * move);
    if (!Number.isFinite(price) || price <= 0) throw new Error(`model produced a non-finite forecast (move ${move})`);
    return price;
  });
}

function assertHorizon(horizon: number, maxHorizon: number): void {
  if (!Number.isInteger(horizon) || horizon < 1 || horizon > maxHorizon) {
    throw new RangeError(`horizon must be an integer in 1..${maxHorizon}, got ${horizon}`);
  }
}

function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
