/**
 * A champion's forecasts: closes and dates for the next trading days after a history, with the
 * champion's prediction bands. Pure computation on a loaded champion; nothing here touches the
 * database or the cache.
 */
import { type DailyBar, nextTradingDays } from '@stocks/common';
import { closesOf } from '../model/features.ts';
import { type ForecastInput, forecastCloses, NotEnoughHistoryError } from '../model/forecast.ts';
import { forecastPoints } from '../model/intervals.ts';
import type { PredictResponse } from '../schemas.ts';
import type { LoadedChampion } from './champion-cache.ts';

/** A forecast as GET and POST /predict serve it, before it is stamped with when and whether cached. */
export type Forecast = Omit<PredictResponse, 'computed_at' | 'cached'>;

/** One forecast request of a batch: the model's input plus the date of its last close. */
export interface ForecastRequest extends ForecastInput {
  lastDate: string;
}

/** Closes for the next `horizon` trading days after the last bar. */
export function forecastFrom(champion: LoadedChampion, bars: readonly DailyBar[], horizon: number): Forecast {
  const last = bars.at(-1);
  if (!last) throw new NotEnoughHistoryError(champion.history, 0);
  const [result] = forecastMany(champion, [{ closes: closesOf(bars), lastDate: last.date, horizon }]);
  if (result instanceof Error) throw result;
  return result!;
}

/**
 * Many forecasts of one champion with ONE forward pass (the micro-batch of POST /predict, the
 * cache's precompute), through the same model function backtests use; this adds only the trading
 * dates and the bands. A request that fails (too short, bad horizon, non-finite output) gets its Error.
 */
export function forecastMany(champion: LoadedChampion, requests: readonly ForecastRequest[]): Array<Forecast | Error> {
  const paths = forecastCloses(champion.predictor, champion.scaler, champion.config, champion.alpha, requests);
  return paths.map((closes, i) => {
    if (closes instanceof Error) return closes;
    const r = requests[i]!;
    try {
      return {
        ticker: champion.ticker,
        model_version: champion.version,
        backend: champion.backend,
        last_date: r.lastDate,
        alpha: champion.alpha,
        skill_vs_naive: champion.skill,
        forecast: forecastPoints(champion.intervals, r.closes, nextTradingDays(champion.ticker, r.lastDate, r.horizon), closes),
      };
    } catch (err) {
      return err as Error;
    }
  });
}
