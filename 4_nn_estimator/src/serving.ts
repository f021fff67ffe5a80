import pg from 'pg';
import * as tf from '@tensorflow/tfjs';
import type { FastifyBaseLogger } from 'fastify';
import { type DailyBar, nextTradingDays, type Pool } from '@stocks/common';
import { models } from '@stocks/db';
import type { ModelConfig } from './model/config.ts';
import { requiredHistory } from './model/dataset.ts';
import { forecast } from './model/forecast.ts';
import { deserializeModel, disposeModel } from './model/lstm.ts';
import { StandardScaler, type ScalerJSON } from './model/scaler.ts';

/** Postgres channel on which a promotion is announced to every estimator replica. */
export const CHAMPION_CHANNEL = 'champion_changed';

export interface LoadedChampion {
  ticker: string;
  version: number;
  model: tf.LayersModel;
  scaler: StandardScaler;
  config: ModelConfig;
  alpha: number;
  /** Bars a forecast needs (window plus feature warm-up). */
  history: number;
  skill: number | null;
}

export interface Forecast {
  ticker: string;
  model_version: number;
  backend: string;
  last_date: string;
  forecast: Array<{ date: string; close: number }>;
}

/**
 * Champions kept in memory, loaded from Postgres once per version and dropped when a
 * NOTIFY says the ticker has a new one, so no request ever loads a model.
 */
export class ChampionCache {
  private readonly loaded = new Map<string, Promise<LoadedChampion | undefined>>();

  constructor(private readonly pool: Pool, private readonly backend: string) {}

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
    return {
      ticker,
      version: row.version,
      model,
      scaler: StandardScaler.fromJSON(row.scaler as ScalerJSON),
      config,
      alpha: row.alpha,
      history: requiredHistory(config),
      skill: typeof row.evaluation.skill === 'number' ? row.evaluation.skill : null,
    };
  }

  /** Closes for the next `horizon` trading days after the last bar. */
  forecastFrom(champion: LoadedChampion, bars: readonly DailyBar[], horizon: number): Forecast {
    const closes = forecast(champion.model, champion.scaler, champion.config, champion.alpha, bars, horizon);
    const last = bars.at(-1)!.date;
    const dates = nextTradingDays(champion.ticker, last, horizon);
    return {
      ticker: champion.ticker,
      model_version: champion.version,
      backend: this.backend,
      last_date: last,
      forecast: closes.map((close, i) => ({ date: dates[i]!, close })),
    };
  }
}

/**
 * LISTEN for promotions on a dedicated connection, reconnecting after errors (Postgres restart).
 * On reconnect every champion is dropped, since NOTIFYs sent while we were away are lost.
 */
export function listenForChampionChanges(databaseUrl: string, cache: ChampionCache, log: FastifyBaseLogger): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
    c.on('notification', (msg) => {
      if (msg.channel === CHAMPION_CHANNEL && msg.payload) {
        log.info({ ticker: msg.payload }, 'champion changed; dropping cached model');
        cache.invalidate(msg.payload);
      }
    });
    c.on('error', (err) => {
      log.warn({ err }, 'champion listener lost its connection; reconnecting');
      void c.end().catch(() => {});
      schedule();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHAMPION_CHANNEL}`);
      client = c;
      cache.invalidateAll();
    } catch (err) {
      log.warn({ err }, 'champion listener could not connect; retrying');
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
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
