import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from '@stocks/common';
import { models, monitoring, prices, type ModelSummary } from '@stocks/db';
import type { z } from 'zod';
import { returnsDrift } from './drift.ts';
import type { driftSchema, liveRowSchema, monitoringResponseSchema } from './schemas.ts';

/** Live-error windows: the last 20 and 60 trading days of stored prices (by target date), and all time. */
export const LIVE_WINDOWS: Array<number | null> = [20, 60, null];
/** The window the "champion worse than naive" judgement uses. */
export const DECISION_WINDOW = 20;
export const windowLabel = (days: number | null) => (days === null ? 'all' : `${days}d`);

export interface MonitorOptions {
  driftThreshold: number;
  driftRecentDays: number;
  minRealised: number;
  log: FastifyBaseLogger;
  /** Called after each write attempt (metrics). */
  onRecorded?: (outcome: 'stored' | 'error', points: number) => void;
}

/** A forecast as served: its first `steps` points are what the client got. */
export interface ServedForecast {
  ticker: string;
  model_version: number;
  last_date: string;
  forecast: readonly monitoring.ServedPoint[];
}

export type LiveRow = z.infer<typeof liveRowSchema>;
export type DriftView = z.infer<typeof driftSchema>;
export type MonitoringReport = z.infer<typeof monitoringResponseSchema>;

const finite = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const fmt = (x: number) => (Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));

/**
 * Live monitoring of the served forecasts: records each GET /predict answer once (deduplicated
 * in memory, so the hot path does no database write after the first), and reports realised
 * errors beside naive, interval coverage and returns drift.
 */
export class Monitor {
  /** (ticker, version, origin) -> most steps already stored. */
  private readonly recorded = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly driftCache = new Map<string, DriftView>();
  constructor(private readonly pool: Pool, readonly opts: MonitorOptions) {}

  /**
   * Called by the forecast service with each GET /predict answer; returns at once. Only a
   * (ticker, version, origin) not stored yet, or stored with fewer steps, causes a write, later.
   */
  noteServed(served: ServedForecast, steps: number): void {
    const { ticker, model_version, last_date } = served;
    const key = `${ticker}|${model_version}|${last_date}`;
    const before = this.recorded.get(key);
    if ((before ?? 0) >= steps) return;
    if (this.recorded.size > 10_000) this.recorded.clear();
    this.recorded.set(key, steps);
    const points = served.forecast.slice(0, steps);
    setImmediate(() => {
      const write = monitoring
        .recordServedForecast(this.pool, { ticker, model_version, origin_date: last_date, points })
        .then((stored) => this.opts.onRecorded?.('stored', stored))
        .catch((err: Error) => {
          // Forget it so the next request retries.
          if (before === undefined) this.recorded.delete(key); else this.recorded.set(key, before);
          this.opts.onRecorded?.('error', 0);
          this.opts.log.warn({ err: err.message, ticker, model_version }, 'could not record a served forecast');
        });
      this.pending.add(write);
      void write.finally(() => this.pending.delete(write));
    });
  }

  /** Resolves when every write started so far has finished (tests, shutdown). */
  async flush(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  async report(ticker: string): Promise<MonitoringReport | undefined> {
    const coverage = await prices.getCoverage(this.pool, ticker);
    if (!coverage) return undefined;
    const versions = await models.listModels(this.pool, ticker, 200);
    const champion = versions.find((m) => m.is_champion);
    const rows = await monitoring.liveErrors(this.pool, ticker, LIVE_WINDOWS);
    const live: LiveRow[] = rows.map((r) => ({
      model_version: r.model_version,
      champion: r.model_version === champion?.version,
      window: windowLabel(r.window_days),
      window_days: r.window_days,
      n: r.n,
      mae: r.mae,
      mape: r.mape,
      naive_mae: r.naive_mae,
      naive_mape: r.naive_mape,
      skill_vs_naive: r.naive_mae > 0 ? 1 - r.mae / r.naive_mae : null,
      coverage80: finite(r.coverage80),
      coverage95: finite(r.coverage95),
      n_intervals: r.n_intervals,
      first_target: r.first_target,
      last_target: r.last_target,
    }));

    const decision = live.find((r) => r.champion && r.window_days === DECISION_WINDOW);
    const championLive = decision
      ? {
          window: decision.window,
          n: decision.n,
          mae: decision.mae,
          naive_mae: decision.naive_mae,
          min_realised: this.opts.minRealised,
          worse_than_naive: decision.n >= this.opts.minRealised && decision.mae > decision.naive_mae,
        }
      : null;
    const drift = await this.drift(ticker, champion, coverage.last_date);
    const reasons: string[] = [];
    if (drift.detected) {
      reasons.push(`drift: daily returns of the last ${drift.n_recent} days differ from the training window's (KS D=${fmt(drift.ks_statistic!)} on returns, ${fmt(drift.ks_abs_statistic!)} on absolute returns; p=${drift.p_value!.toExponential(2)} < ${drift.threshold}; volatility ${(100 * (drift.recent_volatility ?? NaN)).toFixed(2)}% vs ${(100 * (drift.reference_volatility ?? NaN)).toFixed(2)}% a day)`);
    }
    if (championLive?.worse_than_naive) {
      reasons.push(`live error: champion v${champion!.version} realised MAE ${fmt(championLive.mae)} > naive ${fmt(championLive.naive_mae)} over ${championLive.n} forecasts of the last ${DECISION_WINDOW} trading days`);
    }
    return {
      ticker,
      as_of: coverage.last_date,
      champion_version: champion?.version ?? null,
      live,
      champion_live: championLive,
      drift,
      retrain: { full_retrain_advised: reasons.length > 0, reasons },
    };
  }

  /** Recent daily returns against the champion's training window; cached per (champion, newest bar). */
  private async drift(ticker: string, champion: ModelSummary | undefined, newest: string): Promise<DriftView> {
    const base: DriftView = {
      method: 'ks_returns', threshold: this.opts.driftThreshold, recent_days: this.opts.driftRecentDays,
      reference_range: null, recent_range: null, ks_statistic: null, ks_abs_statistic: null, p_value: null, psi: null,
      n_reference: 0, n_recent: 0, reference_volatility: null, recent_volatility: null, detected: false, note: null,
    };
    if (!champion) return { ...base, note: 'no champion: nothing to compare with' };
    const key = `${ticker}|${champion.version}|${newest}`;
    const cached = this.driftCache.get(key);
    if (cached) return cached;
    const reference = await prices.getPrices(this.pool, ticker, { from: champion.train_start, to: champion.train_end });
    const recent = await prices.getRecentPrices(this.pool, ticker, this.opts.driftRecentDays + 1);
    const result = returnsDrift({ reference: reference.map((b) => b.close), recent: recent.map((b) => b.close), threshold: this.opts.driftThreshold });
    const view: DriftView = {
      ...base,
      reference_range: reference.length ? { start: reference[0]!.date, end: reference.at(-1)!.date } : null,
      recent_range: recent.length ? { start: recent[0]!.date, end: recent.at(-1)!.date } : null,
      ...(result
        ? {
            ks_statistic: result.ks_statistic, ks_abs_statistic: result.ks_abs_statistic, p_value: result.p_value, psi: finite(result.psi),
            n_reference: result.n_reference, n_recent: result.n_recent,
            reference_volatility: finite(result.reference_volatility), recent_volatility: finite(result.recent_volatility),
            detected: result.detected,
          }
        : { note: 'not enough returns to compare (at least 60 in the training window and 20 recent)' }),
    };
    if (this.driftCache.size > 1_000) this.driftCache.clear();
    this.driftCache.set(key, view);
    return view;
  }
}
