/**
 * A champion's forecasts: closes and dates for the next trading days after a history, with the
 * champion's prediction bands. Pure computation on a loaded champion; nothing here touches the
 * database or the cache.
 */
import { type DailyBar, nextTradingDays } from '@stocks/common';
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
  forecast: Array<{ date: string; close: number } & Partial<IntervalBand>>;
}

/** One forecast request of a batch: the client's closes (oldest first) and its last date. */
export interface ForecastRequest {
  closes: readonly number[];
  lastDate: string;
  horizon: number;
}

/** Closes for the next `horizon` trading days after the last bar. */
export function forecastFrom(champion: LoadedChampion, bars: readonly DailyBar[], horizon: number): Forecast {
  const last = bars.at(-1);
  if (!last || bars.length < champion.history) throw new NotEnoughHistoryError(champion.history, bars.length);
  const [result] = forecastMany(champion, [{ closes: closesOf(bars), lastDate: last.date, horizon }]);
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
      results[i] = {
        ticker: champion.ticker,
        model_version: champion.version,
        backend: champion.backend,
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
