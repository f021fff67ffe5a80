/**
 * A champion's forecasts: closes and dates for the next trading days after a history, with the
 * champion's prediction bands. Pure computation on a loaded champion; nothing here touches the
 * database or the cache.
 */
import { type DailyBar, HttpError, nextTradingDays } from '@stocks/common';
import { priceBands } from '../model/bands/evaluate.ts';
import { widenWithHorizon } from '../model/bands/fan.ts';
import type { BandModelName } from '../model/bands/types.ts';
import { closesOf } from '../model/features.ts';
import { encodeLastWindows, movesToPrices, NotEnoughHistoryError, predictLogReturnMoves } from '../model/forecast.ts';
import { forecastPoints, type IntervalBand } from '../model/intervals.ts';
import type { LoadedChampion } from './champion-cache.ts';

export interface Forecast {
  ticker: string;
  model_version: number;
  backend: string;
  last_date: string;
  alpha: number;
  skill_vs_naive: number | null;
  /** Which band model drew the bands; null for versions trained before band models (20-day volatility bands). */
  interval_model: BandModelName | null;
  forecast: Array<{ date: string; close: number } & Partial<IntervalBand>>;
}

/** One forecast request of a batch: the client's closes (oldest first) and its last date. */
export interface ForecastRequest {
  closes: readonly number[];
  lastDate: string;
  horizon: number;
  /** The bars themselves when they carry open/high/low (the learned bands read ranges and gaps). */
  bars?: readonly DailyBar[];
  /** A band model other than the version's served one. */
  intervalModel?: BandModelName;
}

/** Closes for the next `horizon` trading days after the last bar. */
export function forecastFrom(champion: LoadedChampion, bars: readonly DailyBar[], horizon: number, intervalModel?: BandModelName): Forecast {
  const last = bars.at(-1);
  if (!last || bars.length < champion.history) throw new NotEnoughHistoryError(champion.history, bars.length);
  const [result] = forecastMany(champion, [{ closes: closesOf(bars), lastDate: last.date, horizon, bars, ...(intervalModel ? { intervalModel } : {}) }]);
  if (result instanceof Error) throw result;
  return result!;
}

/**
 * Many forecasts of one champion with ONE forward pass (the micro-batch of POST /predict, the
 * cache's precompute). A request that fails (too short, non-finite output) gets its Error.
 */
export function forecastMany(champion: LoadedChampion, requests: readonly ForecastRequest[]): Array<Forecast | Error> {
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
      const banded = bandedPoints(champion, r, dates, closes);
      results[i] = {
        ticker: champion.ticker,
        model_version: champion.version,
        backend: champion.backend,
        last_date: r.lastDate,
        alpha: champion.alpha,
        skill_vs_naive: champion.skill,
        interval_model: banded.name,
        forecast: banded.points,
      };
    } catch (err) {
      results[i] = err as Error;
    }
  });
  return results;
}

/**
 * The forecast path with the bands of the requested (else the version's served) band model around
 * each point: band = point * exp(q), held non-narrowing over the horizon. Versions trained before
 * band models keep their 20-day-volatility intervals.
 */
function bandedPoints(champion: LoadedChampion, r: ForecastRequest, dates: readonly string[], points: readonly number[]): { name: BandModelName | null; points: Forecast['forecast'] } {
  const { bands } = champion;
  if (!bands) {
    if (r.intervalModel) throw new HttpError(409, `${champion.ticker}'s model version ${champion.version} was trained before band models; retrain it (POST /train) to choose interval_model.`);
    return { name: null, points: forecastPoints(champion.intervals, r.closes, dates, points) };
  }
  const name = r.intervalModel ?? bands.served;
  const model = bands.models[name];
  if (!model) throw new HttpError(409, `interval_model ${name} could not be fitted for ${champion.ticker}'s model version ${champion.version} (too short a history); available: ${Object.keys(bands.models).join(', ')}.`);
  const history = r.bars ?? r.closes.map((close) => ({ date: '', open: null, high: null, low: null, close, adj_close: null, volume: null }));
  const edges = priceBands(widenWithHorizon(model.forecast(history, points.length)), points);
  return {
    name,
    points: points.map((close, k) => ({
      date: dates[k]!,
      close,
      lower80: Math.min(close, edges.lower80[k]!),
      upper80: Math.max(close, edges.upper80[k]!),
      lower95: Math.min(close, edges.lower95[k]!),
      upper95: Math.max(close, edges.upper95[k]!),
    })),
  };
}
