import pg from 'pg';
import * as tf from '@tensorflow/tfjs';
import type { FastifyBaseLogger } from 'fastify';
import { type DailyBar, nextTradingDays, type Pool } from '@stocks/common';
import { models, prices } from '@stocks/db';
import { compileModel, type MovePredictor, TfjsPredictor, verifyCompiled, type VerifyResult } from './model/compiled.ts';
import { SimdLstm } from './model/simd.ts';
import type { ModelConfig } from './model/config.ts';
import { requiredHistory } from './model/dataset.ts';
import { closesOf } from './model/features.ts';
import { encodeLastWindows, movesToPrices, NotEnoughHistoryError, predictLogReturnMoves } from './model/forecast.ts';
import { forecastPoints, isIntervalModel, type IntervalBand, type IntervalModel } from './model/intervals.ts';
import { deserializeModel, disposeModel } from './model/lstm.ts';
import { StandardScaler, type ScalerJSON } from './model/scaler.ts';

/** Postgres channel on which a promotion is announced to every estimator replica. */
export const CHAMPION_CHANNEL = 'champion_changed';
/** Postgres channel on which a trigger on `prices` announces each changed ticker (migration 003). */
export const PRICES_CHANNEL = 'prices_changed';

/** Largest max-abs difference between the compiled forward pass and TF.js accepted at load. */
export const COMPILED_TOLERANCE = 1e-5;

export interface LoadedChampion {
  ticker: string;
  version: number;
  model: tf.LayersModel;
  /** What forecasts run on: the compiled forward pass when it matched TF.js at load, else TF.js. */
  predictor: MovePredictor;
  scaler: StandardScaler;
  config: ModelConfig;
  alpha: number;
  /** Bars a forecast needs (window plus feature warm-up). */
  history: number;
  skill: number | null;
  /** Prediction-interval quantiles fitted on validation (absent for older versions). */
  intervals?: IntervalModel;
}

export interface Forecast {
  ticker: string;
  model_version: number;
  backend: string;
  last_date: string;
  alpha: number;
  skill_vs_naive: number | null;
  forecast: Array<{ date: string; close: number } & Partial<IntervalBand>>;
}

export interface ChampionCacheHooks {
  /** After each load: which engine serves the version, and why. */
  onEngine?(info: { ticker: string; version: number; engine: MovePredictor['engine']; check?: VerifyResult; reason?: string }): void;
  /** TF.js only (tests and benches that want the reference path). */
  disableCompiled?: boolean;
  /** Override COMPILED_TOLERANCE (tests force the fallback with a negative one). */
  compiledTolerance?: number;
}

/** One forecast request of a batch: the client's closes (oldest first) and its last date. */
export interface ForecastRequest {
  closes: readonly number[];
  lastDate: string;
  horizon: number;
}

/**
 * Champions kept in memory, loaded from Postgres once per version and dropped when a
 * NOTIFY says the ticker has a new one, so no request ever loads a model.
 */
export class ChampionCache {
  private readonly loaded = new Map<string, Promise<LoadedChampion | undefined>>();

  constructor(private readonly pool: Pool, private readonly backend: string, private readonly hooks: ChampionCacheHooks = {}) {}

  get(ticker: string): Promise<LoadedChampion | undefined> {
    let entry = this.loaded.get(ticker);
    if (!entry) {
      entry = this.load(ticker);
      this.loaded.set(ticker, entry);
      // A failed load (database down) must not stay cached.
      entry.catch(() => this.loaded.delete(ticker));
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
      model,
      predictor,
      scaler,
      config,
      alpha: row.alpha,
      history: requiredHistory(config),
      skill: typeof row.evaluation.skill === 'number' ? row.evaluation.skill : null,
      ...(isIntervalModel(row.evaluation.intervals) ? { intervals: row.evaluation.intervals } : {}),
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

  /** Closes for the next `horizon` trading days after the last bar. */
  forecastFrom(champion: LoadedChampion, bars: readonly DailyBar[], horizon: number): Forecast {
    const last = bars.at(-1);
    if (!last || bars.length < champion.history) throw new NotEnoughHistoryError(champion.history, bars.length);
    const [result] = this.forecastMany(champion, [{ closes: closesOf(bars), lastDate: last.date, horizon }]);
    if (result instanceof Error) throw result;
    return result!;
  }

  /**
   * Many forecasts of one champion with ONE forward pass (the micro-batch of POST /predict, the
   * cache's precompute). A request that fails (too short, non-finite output) gets its Error.
   */
  forecastMany(champion: LoadedChampion, requests: readonly ForecastRequest[]): Array<Forecast | Error> {
    const { config, scaler, history } = champion;
    const results: Array<Forecast | Error> = new Array(requests.length);
    const runnable: number[] = [];
    requests.forEach((r, i) => {
      if (r.closes.length < history) results[i] = new NotEnoughHistoryError(history, r.closes.length);
      else if (!Number.isInteger(r.horizon) || r.horizon < 1 || r.horizon > config.horizon) results[i] = new RangeError(`horizon must be an integer in 1..${config.horizon}, got ${r.horizon}`);
      else runnable.push(i);
    });
    if (runnable.length === 0) return results;
    const windows = runnable.map((i) => requests[i]!.closes.slice(-history));
    const x = encodeLastWindows(windows, config, scaler);
    const moves = predictLogReturnMoves(champion.predictor, x, windows.length, config, scaler);
    runnable.forEach((i, w) => {
      const r = requests[i]!;
      try {
        const closes = movesToPrices(r.closes.at(-1)!, moves[w]!.slice(0, r.horizon), champion.alpha);
        const dates = nextTradingDays(champion.ticker, r.lastDate, r.horizon);
        results[i] = {
          ticker: champion.ticker,
          model_version: champion.version,
          backend: this.backend,
          last_date: r.lastDate,
          alpha: champion.alpha,
          skill_vs_naive: champion.skill,
          forecast: forecastPoints(champion.intervals, r.closes, dates, closes),
        };
      } catch (err) {
        results[i] = err as Error;
      }
    });
    return results;
  }
}

export interface ChangeHandlers {
  /** A promotion (NOTIFY champion_changed, payload the ticker). */
  champion(ticker: string): void;
  /** New or changed prices (trigger on `prices`; '*' after a TRUNCATE). */
  prices(ticker: string): void;
  /** (Re)connected: notifications sent while we were away are lost, so drop everything. */
  reset(): void;
  /** The connection is gone: memory can no longer be trusted until `reset`. */
  lost?(): void;
}

export interface ChangeListener {
  /** True while LISTENing: only then is an in-memory forecast known to be current. */
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * LISTEN for promotions and price changes on one dedicated connection, reconnecting after errors
 * (Postgres restart). Every replica runs one, so each drops what a NOTIFY says is stale.
 */
export function listenForChanges(databaseUrl: string, handlers: ChangeHandlers, log: FastifyBaseLogger): ChangeListener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000, application_name: 'nn_estimator_listener' });
    c.on('notification', (msg) => {
      if (!msg.payload) return;
      if (msg.channel === CHAMPION_CHANNEL) {
        log.info({ ticker: msg.payload }, 'champion changed; dropping cached model and forecasts');
        handlers.champion(msg.payload);
      } else if (msg.channel === PRICES_CHANNEL) {
        log.debug({ ticker: msg.payload }, 'prices changed; dropping cached forecasts');
        handlers.prices(msg.payload);
      }
    });
    c.on('error', (err) => {
      log.warn({ err }, 'change listener lost its connection; reconnecting');
      if (client === c) client = undefined;
      handlers.lost?.();
      void c.end().catch(() => {});
      schedule();
    });
    c.on('end', () => {
      if (client === c) {
        client = undefined;
        handlers.lost?.();
        schedule();
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHAMPION_CHANNEL}; LISTEN ${PRICES_CHANNEL}`);
      if (closed) {
        await c.end().catch(() => {});
        return;
      }
      client = c;
      handlers.reset();
    } catch (err) {
      log.warn({ err }, 'change listener could not connect; retrying');
      void c.end().catch(() => {});
      schedule();
    }
  };
  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => { retry = undefined; void connect(); }, 2_000);
    retry.unref();
  };
  void connect();
  return {
    get connected() {
      return client !== undefined;
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
