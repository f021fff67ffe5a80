import type * as tf from '@tensorflow/tfjs';
import type { Pool } from '@stocks/common';
import { models, prices } from '@stocks/db';
import { compileModel, TfjsPredictor, verifyCompiled, type VerifyResult } from '../model/compiled.ts';
import type { MovePredictor } from '../model/predictor.ts';
import { SimdLstm } from '../model/simd.ts';
import type { ModelConfig } from '../model/config.ts';
import { requiredHistory } from '../model/dataset.ts';
import { closesOf } from '../model/features.ts';
import { encodeLastWindows } from '../model/forecast.ts';
import { isIntervalModel, type IntervalModel } from '../model/intervals.ts';
import { loadBands, type LoadedBands } from '../model/bands/registry.ts';
import { deserializeModel, disposeModel } from '../model/lstm.ts';
import { StandardScaler, type ScalerJSON } from '../model/scaler.ts';

/** Largest max-abs difference between the compiled forward pass and TF.js accepted at load. */
export const COMPILED_TOLERANCE = 1e-5;

export interface LoadedChampion {
  ticker: string;
  version: number;
  /** TensorFlow.js backend of this process (reported with each forecast). */
  backend: string;
  model: tf.LayersModel;
  /** What forecasts run on: the compiled forward pass when it matched TF.js at load, else TF.js. */
  predictor: MovePredictor;
  scaler: StandardScaler;
  config: ModelConfig;
  alpha: number;
  /** Bars a forecast needs (window plus feature warm-up). */
  history: number;
  skill: number | null;
  /** Prediction-interval quantiles fitted on validation (versions trained before band models). */
  intervals?: IntervalModel;
  /** Band models stored with the version (static, EWMA, GARCH-t, learned) and the one served by default. */
  bands?: LoadedBands;
}

export interface ChampionCacheHooks {
  /** After each load: which engine serves the version, and why. */
  onEngine?(info: { ticker: string; version: number; engine: MovePredictor['engine']; check?: VerifyResult; reason?: string }): void;
  /** TF.js only (tests and benches that want the reference path). */
  disableCompiled?: boolean;
  /** Override COMPILED_TOLERANCE (tests force the fallback with a negative one). */
  compiledTolerance?: number;
}

/**
 * Champions kept in memory, loaded from Postgres once per version and dropped when a
 * NOTIFY says the ticker has a new one, so no request ever loads a model. A ticker without one is
 * asked of Postgres again on every request (one indexed row), until it has one.
 */
export class ChampionCache {
  private readonly loaded = new Map<string, Promise<LoadedChampion | undefined>>();

  constructor(private readonly pool: Pool, private readonly backend: string, private readonly hooks: ChampionCacheHooks = {}) {}

  get(ticker: string): Promise<LoadedChampion | undefined> {
    let entry = this.loaded.get(ticker);
    if (!entry) {
      const loading = this.load(ticker);
      entry = loading;
      this.loaded.set(ticker, loading);
      const forget = () => {
        if (this.loaded.get(ticker) === loading) this.loaded.delete(ticker);
      };
      // A failed load (database down) must not stay cached. Nor must "no champion": a first
      // training's job can read as succeeded before this replica has the NOTIFY, and a 404 "no
      // trained model yet" then would be wrong, where an older champion for a moment is not.
      loading.then((champion) => {
        if (!champion) forget();
      }, forget);
    }
    return entry;
  }

  /** Forget the ticker's champion; the next request loads the new one. */
  invalidate(ticker: string): void {
    const entry = this.loaded.get(ticker);
    this.loaded.delete(ticker);
    // Dispose after in-flight forecasts that already hold it have had time to finish.
    entry?.then((c) => c && setTimeout(() => disposeModel(c.model), 5_000).unref(), () => {});
  }

  invalidateAll(): void {
    for (const ticker of [...this.loaded.keys()]) this.invalidate(ticker);
  }

  cachedTickers(): string[] {
    return [...this.loaded.keys()];
  }

  private async load(ticker: string): Promise<LoadedChampion | undefined> {
    const row = await models.getChampion(this.pool, ticker);
    if (!row) return undefined;
    const model = await deserializeModel({
      topology: row.topology as object,
      weightSpecs: row.weight_specs as object[],
      weights: new Uint8Array(row.weights),
    });
    const config = row.config as unknown as ModelConfig;
    const scaler = StandardScaler.fromJSON(row.scaler as ScalerJSON);
    const { predictor } = await this.choosePredictor(ticker, row.version, model, config, scaler);
    return {
      ticker,
      version: row.version,
      backend: this.backend,
      model,
      predictor,
      scaler,
      config,
      alpha: row.alpha,
      history: requiredHistory(config),
      skill: typeof row.evaluation.skill === 'number' ? row.evaluation.skill : null,
      ...(isIntervalModel(row.evaluation.intervals) ? { intervals: row.evaluation.intervals } : {}),
      ...withBands(loadBands(row.evaluation.bands)),
    };
  }

  /**
   * The compiled forward pass when it reproduces TF.js (max abs difference <= COMPILED_TOLERANCE on
   * the ticker's own recent windows and on random ones), else TF.js itself.
   */
  private async choosePredictor(ticker: string, version: number, model: tf.LayersModel, config: ModelConfig, scaler: StandardScaler) {
    const tfjs = new TfjsPredictor(model, config.window);
    if (this.hooks.disableCompiled) {
      this.hooks.onEngine?.({ ticker, version, engine: 'tfjs', reason: 'compiled path disabled' });
      return { predictor: tfjs as MovePredictor, check: undefined };
    }
    const compiled = compileModel(model, config.window);
    if ('unsupported' in compiled) {
      this.hooks.onEngine?.({ ticker, version, engine: 'tfjs', reason: compiled.unsupported });
      return { predictor: tfjs as MovePredictor, check: undefined };
    }
    const real = await this.recentWindows(ticker, config, scaler).catch(() => undefined);
    const tolerance = this.hooks.compiledTolerance ?? COMPILED_TOLERANCE;
    // Fastest first: the WebAssembly SIMD kernel, then plain typed arrays, each only if it matches TF.js.
    const simd = SimdLstm.create(compiled.weights());
    if (simd) {
      const check = verifyCompiled(simd, model, real, { tolerance });
      if (check.ok) {
        this.hooks.onEngine?.({ ticker, version, engine: simd.engine, check });
        return { predictor: simd as MovePredictor, check };
      }
    }
    const check = verifyCompiled(compiled, model, real, { tolerance });
    this.hooks.onEngine?.({ ticker, version, engine: check.ok ? 'compiled' : 'tfjs', check, ...(check.ok ? {} : { reason: `compiled differs from TF.js by ${check.maxAbsDiff}` }) });
    return { predictor: (check.ok ? compiled : tfjs) as MovePredictor, check };
  }

  /** Up to 16 encoded windows ending on the ticker's last stored days (real inputs for the check). */
  private async recentWindows(ticker: string, config: ModelConfig, scaler: StandardScaler): Promise<Float32Array | undefined> {
    const needed = requiredHistory(config);
    const bars = await prices.getRecentPrices(this.pool, ticker, needed + 15);
    if (bars.length < needed) return undefined;
    const closes = closesOf(bars);
    const histories = [];
    for (let end = closes.length; end >= needed && histories.length < 16; end--) histories.push(closes.slice(end - needed, end));
    return encodeLastWindows(histories, config, scaler);
  }
}

function withBands(bands: LoadedBands | undefined): { bands?: LoadedBands } {
  return bands ? { bands } : {};
}
