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

/** A forecast asked of a model: closes oldest first (at least `requiredHistory(config)`), and how many steps. */
export interface ForecastInput {
  closes: readonly number[];
  horizon: number;
}

/** The horizon is not one this model forecasts (1..config.horizon). */
export class HorizonError extends RangeError {
  override readonly name = 'HorizonError';
  constructor(
    readonly horizon: number,
    readonly max: number,
  ) {
    super(`horizon must be a whole number in 1..${max} for this model, got ${horizon}`);
  }
}

/** The one horizon rule (1..config.horizon) as a value: the HorizonError, or undefined when the horizon is fine. */
export function invalidHorizon(horizon: number, config: Pick<ModelConfig, 'horizon'>): HorizonError | undefined {
  return Number.isInteger(horizon) && horizon >= 1 && horizon <= config.horizon ? undefined : new HorizonError(horizon, config.horizon);
}

/** The one horizon rule, thrown (HorizonError). */
export function checkHorizon(horizon: number, config: Pick<ModelConfig, 'horizon'>): void {
  const invalid = invalidHorizon(horizon, config);
  if (invalid) throw invalid;
}

/** Why `input` cannot be forecast by a model of this config, or undefined when it can. */
export function invalidForecastInput(input: ForecastInput, config: InferenceConfig): NotEnoughHistoryError | HorizonError | undefined {
  const needed = requiredHistory(config);
  if (input.closes.length < needed) return new NotEnoughHistoryError(needed, input.closes.length);
  return invalidHorizon(input.horizon, config);
}

/**
 * THE forecast: predicted closes for steps 1..horizon after each input's last close, with one
 * forward pass for all inputs. Serving (GET and POST /predict) and backtests both come through
 * here, so what is backtested is what is served. An input that cannot be forecast (too short, bad
 * horizon, a non-finite output) gets its Error and does not fail the others.
 */
export function forecastCloses(model: ModelLike, scaler: ScalerLike, config: InferenceConfig, alpha: number, inputs: readonly ForecastInput[]): Array<number[] | Error> {
  const results: Array<number[] | Error> = new Array(inputs.length);
  const runnable: number[] = [];
  inputs.forEach((input, i) => {
    const invalid = invalidForecastInput(input, config);
    if (invalid) results[i] = invalid;
    else runnable.push(i);
  });
  if (runnable.length === 0) return results;
  const needed = requiredHistory(config);
  const fitted = scaler instanceof StandardScaler ? scaler : StandardScaler.fromJSON(scaler);
  // Features of the last window need only `needed` closes.
  const windows = runnable.map((i) => at(inputs, i).closes.slice(-needed));
  const x = encodeLastWindows(windows, config, fitted);
  const moves = predictLogReturnMoves(model, x, windows.length, config, fitted);
  runnable.forEach((i, w) => {
    const input = at(inputs, i);
    try {
      results[i] = movesToPrices(at(input.closes, input.closes.length - 1), at(moves, w).slice(0, input.horizon), alpha);
    } catch (err) {
      results[i] = err as Error;
    }
  });
  return results;
}

/** Predicted closes for steps 1..horizon after the last bar (bars oldest first); throws what forecastCloses reports. */
export function forecast(model: ModelLike, scaler: ScalerLike, config: InferenceConfig, alpha: number, bars: readonly DailyBar[], horizon: number): number[] {
  return at(forecastBatch(model, scaler, config, alpha, [bars], horizon), 0);
}

/** Same as `forecast` for many histories, with a single predict call; throws the first failure. */
export function forecastBatch(
  model: ModelLike,
  scaler: ScalerLike,
  config: InferenceConfig,
  alpha: number,
  histories: readonly (readonly DailyBar[])[],
  horizon: number,
): number[][] {
  return forecastCloses(model, scaler, config, alpha, histories.map((bars) => ({ closes: closesOf(bars), horizon }))).map((r) => {
    if (r instanceof Error) throw r;
    return r;
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

function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
