/**
 * What /predict answers from. GET: a forecast cache. A ticker's forecast only changes when its
 * prices change or its champion does, so it is computed once (the full horizon, for every ticker
 * with a champion, at start and after each change) and served from memory as ready-made JSON.
 * POST: micro-batching, so concurrent requests for one champion share one forward pass.
 *
 * Staleness: an entry belongs to (ticker, champion version, last bar date). Replicas learn of
 * changes by LISTEN (champion_changed from a trigger on `models`, prices_changed from one on `prices`);
 * each invalidation bumps the ticker's generation, and a computation that started before it is not
 * stored. While the listener is disconnected nothing is served from memory (a NOTIFY could be
 * missed), and on reconnect everything is dropped and recomputed.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { HttpError, type Pool } from '@stocks/common';
import { models, prices } from '@stocks/db';
import { MicroBatcher } from './batcher.ts';
import type { EstimatorMetrics } from '../metrics.ts';
import { forecastSchema, type PredictResponse } from '../schemas.ts';
import { noStoredPrices } from '../errors.ts';
import { checkHorizon } from '../model/forecast.ts';
import type { ChampionCache, LoadedChampion } from './champion-cache.ts';
import type { ChangeHandlers } from './change-listener.ts';
import { type Forecast, forecastFrom, forecastManyYielding, type ForecastRequest } from './forecaster.ts';
import type { BandModelName } from '../model/bands/types.ts';

/** Bars the band models read at a forecast: EWMA's and GARCH's filters run over the last 750 returns. */
const BAND_HISTORY = 751;

/** Where served forecasts go for live monitoring (monitoring/monitor.ts); must return at once. */
export interface ServedForecastRecorder {
  noteServed(forecast: Forecast, steps: number): void;
}

export interface ForecastServiceOptions {
  /** Coalesce bursts of notifications (a load of many tickers) before recomputing. */
  debounceMs?: number;
  maxBatch?: number;
  maxWaitMs?: number;
}

interface Entry {
  ticker: string;
  version: number;
  lastDate: string;
  computedAt: string;
  /** Full-horizon forecast; a shorter horizon is its prefix. */
  forecast: Forecast;
  /** Serialised hit responses per horizon, built on first use. */
  json: Map<number, string>;
}


export class ForecastService {
  private readonly entries = new Map<string, Entry>();
  private readonly generations = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private readonly batchers = new Map<string, MicroBatcher<ForecastRequest, Forecast>>();
  private readonly pendingPrecompute = new Set<string>();
  private precomputeTimer: NodeJS.Timeout | undefined;
  private precomputing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Set by the change listener: memory is trusted only while it is connected. */
  live: () => boolean = () => false;

  constructor(
    private readonly pool: Pool,
    private readonly champions: ChampionCache,
    private readonly metrics: EstimatorMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: ForecastServiceOptions = {},
    private readonly recorder?: ServedForecastRecorder,
  ) {}

  /**
   * GET /predict: the stored-prices forecast, from memory when current, recorded for live
   * monitoring. Returns JSON text (a hit, serialised once per horizon) or an object.
   */
  async stored(ticker: string, horizon: number, intervalModel?: BandModelName): Promise<string | PredictResponse> {
    const champion = await this.championOf(ticker);
    checkHorizon(horizon, champion.config);
    if (intervalModel && intervalModel !== champion.bands?.served) {
      // Another band model than the served one: computed per request (not recorded for monitoring,
      // which follows the served bands); the cache holds the served forecast.
      const forecast = forecastFrom(champion, await this.storedBars(ticker, champion), champion.config.horizon, intervalModel);
      return respond({ ticker, version: champion.version, lastDate: forecast.last_date, computedAt: new Date().toISOString(), forecast, json: new Map() }, horizon, false);
    }
    const cached = this.entries.get(ticker);
    const hit = cached !== undefined && cached.version === champion.version && this.live();
    if (hit) this.metrics.cacheHits.inc();
    else this.metrics.cacheMisses.inc();
    const entry = hit ? cached : await this.compute(ticker, champion);
    this.recorder?.noteServed(entry.forecast, horizon);
    return hit ? hitJson(entry, horizon) : respond(entry, horizon, false);
  }

  /** POST /predict: the client's history through this champion's micro-batcher. */
  async fromHistory(ticker: string, request: ForecastRequest): Promise<PredictResponse> {
    const champion = await this.championOf(ticker);
    const forecast = await this.batcherOf(champion).submit(request);
    return { ...forecast, computed_at: new Date().toISOString(), cached: false };
  }

  cachedTickers(): string[] {
    return [...this.entries.keys()];
  }

  /** Listener callbacks: what a replica does when told something changed. */
  handlers(): ChangeHandlers {
    const dropEverything = () => {
      this.champions.invalidateAll();
      for (const key of [...this.batchers.keys()]) this.dropBatchers(key.split('\u0000')[0]!);
      this.invalidateAll();
      void this.precomputeAll();
    };
    return {
      champion: (ticker) => {
        if (ticker === '*') return dropEverything();
        this.champions.invalidate(ticker);
        this.dropBatchers(ticker);
        this.invalidate(ticker);
        this.schedulePrecompute([ticker]);
      },
      prices: (ticker) => {
        if (ticker === '*') {
          this.invalidateAll();
          void this.precomputeAll();
          return;
        }
        this.invalidate(ticker);
        this.schedulePrecompute([ticker]);
      },
      reset: dropEverything,
      lost: () => this.invalidateAll(),
    };
  }

  invalidate(ticker: string): void {
    this.generations.set(ticker, (this.generations.get(ticker) ?? 0) + 1);
    this.entries.delete(ticker);
    this.inflight.delete(ticker);
  }

  invalidateAll(): void {
    for (const ticker of new Set([...this.entries.keys(), ...this.inflight.keys(), ...this.generations.keys()])) this.invalidate(ticker);
  }

  /** Forecast every ticker that has a champion, one at a time, yielding between them. */
  precomputeAll(): Promise<void> {
    const run = this.precomputing.then(async () => {
      const rows = await models.listChampions(this.pool).catch((err) => {
        this.log.warn({ err }, 'could not list champions to precompute forecasts');
        return [];
      });
      await this.precompute(rows.map((r) => r.ticker));
    });
    this.precomputing = run.catch(() => {});
    return run;
  }

  /** Resolves when every scheduled precomputation has run (tests). */
  async settled(): Promise<void> {
    while (this.precomputeTimer || this.pendingPrecompute.size > 0) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.precomputing;
  }

  close(): void {
    this.closed = true;
    if (this.precomputeTimer) clearTimeout(this.precomputeTimer);
  }

  private schedulePrecompute(tickers: string[]): void {
    for (const t of tickers) this.pendingPrecompute.add(t);
    if (this.precomputeTimer || this.closed) return;
    this.precomputeTimer = setTimeout(() => {
      this.precomputeTimer = undefined;
      const batch = [...this.pendingPrecompute];
      this.pendingPrecompute.clear();
      const run = this.precomputing.then(() => this.precompute(batch));
      this.precomputing = run.catch(() => {});
    }, this.options.debounceMs ?? 100);
    this.precomputeTimer.unref();
  }

  private async precompute(tickers: readonly string[]): Promise<void> {
    for (const ticker of tickers) {
      if (this.closed) return;
      try {
        const champion = await this.champions.get(ticker);
        if (champion && !this.entries.has(ticker)) await this.compute(ticker, champion);
      } catch (err) {
        // Not enough stored bars yet, database hiccup: the next request computes it.
        this.log.debug({ err, ticker }, 'forecast not precomputed');
      }
      await yieldToEventLoop(); // a burst of tickers never holds the event loop for long
    }
  }

  private async championOf(ticker: string): Promise<LoadedChampion> {
    const champion = await this.champions.get(ticker);
    if (!champion) throw new HttpError(404, `${ticker} has no trained model yet. Train one: POST /train {"ticker":"${ticker}"}.`);
    return champion;
  }

  /** Compute (once for concurrent callers) and, if nothing changed meanwhile, keep it. */
  private compute(ticker: string, champion: LoadedChampion): Promise<Entry> {
    const running = this.inflight.get(ticker);
    if (running) return running;
    const generation = this.generations.get(ticker) ?? 0;
    const task = (async () => {
      const forecast = forecastFrom(champion, await this.storedBars(ticker, champion), champion.config.horizon);
      const entry: Entry = { ticker, version: champion.version, lastDate: forecast.last_date, computedAt: new Date().toISOString(), forecast, json: new Map() };
      const current = (this.generations.get(ticker) ?? 0) === generation;
      if (current && this.live()) this.entries.set(ticker, entry);
      return entry;
    })();
    this.inflight.set(ticker, task);
    const clear = () => { if (this.inflight.get(ticker) === task) this.inflight.delete(ticker); };
    task.then(clear, clear);
    return task;
  }

  /** The stored bars a forecast reads: the network's window, and the year and more the band models filter over. */
  private async storedBars(ticker: string, champion: LoadedChampion) {
    const bars = await prices.getRecentPrices(this.pool, ticker, champion.bands ? Math.max(champion.history, BAND_HISTORY) : champion.history);
    if (bars.length === 0) throw noStoredPrices(ticker);
    if (bars.length < champion.history) {
      throw new HttpError(404, `${ticker} has ${bars.length} stored bars; the model needs ${champion.history}.`);
    }
    return bars;
  }

  private batcherOf(champion: LoadedChampion): MicroBatcher<ForecastRequest, Forecast> {
    const key = `${champion.ticker}\u0000${champion.version}`;
    let batcher = this.batchers.get(key);
    if (!batcher) {
      batcher = new MicroBatcher<ForecastRequest, Forecast>((items) => forecastManyYielding(champion, items), {
        maxBatch: this.options.maxBatch ?? 64,
        maxWaitMs: this.options.maxWaitMs ?? 2,
        onBatch: (size) => {
          this.metrics.forecastBatches.inc();
          this.metrics.forecastBatchSize.observe(size);
        },
      });
      this.batchers.set(key, batcher);
    }
    return batcher;
  }

  private dropBatchers(ticker: string): void {
    // Requests already queued still finish on the batcher's own (old) champion.
    for (const key of [...this.batchers.keys()]) if (key.startsWith(`${ticker}\u0000`)) this.batchers.delete(key);
  }
}

/** The first `horizon` steps of the entry's full-horizon forecast (the horizon was checked by checkHorizon). */
function respond(entry: Entry, horizon: number, cached: boolean): PredictResponse {
  return { ...entry.forecast, forecast: entry.forecast.forecast.slice(0, horizon), computed_at: entry.computedAt, cached };
}

/** The serialised hit response (what the route's serializer would produce), built once per horizon. */
function hitJson(entry: Entry, horizon: number): string {
  let json = entry.json.get(horizon);
  if (json === undefined) {
    json = JSON.stringify(forecastSchema.parse(respond(entry, horizon, true)));
    entry.json.set(horizon, json);
  }
  return json;
}
