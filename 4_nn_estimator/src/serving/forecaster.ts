/**
 * A champion's forecasts: closes and dates for the next trading days after a history, with the
 * champion's prediction bands. Pure computation on a loaded champion; nothing here touches the
 * database or the cache.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type DailyBar, HttpError, nextTradingDays } from '@stocks/common';
import { priceBands } from '../model/bands/evaluate.ts';
import { widenWithHorizon } from '../model/bands/fan.ts';
import type { BandModelName } from '../model/bands/types.ts';
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
  /** The bars themselves when they carry open/high/low (the learned bands read ranges and gaps). */
  bars?: readonly DailyBar[];
  /** A band model other than the version's served one. */
  intervalModel?: BandModelName;
}

/** Closes for the next `horizon` trading days after the last bar. */
export function forecastFrom(champion: LoadedChampion, bars: readonly DailyBar[], horizon: number, intervalModel?: BandModelName): Forecast {
  const last = bars.at(-1);
  if (!last) throw new NotEnoughHistoryError(champion.history, 0);
  const [result] = forecastMany(champion, [{ closes: closesOf(bars), lastDate: last.date, horizon, bars, ...(intervalModel ? { intervalModel } : {}) }]);
  if (result instanceof Error) throw result;
  return result!;
}

/**
 * Many forecasts of one champion with ONE forward pass (the cache's precompute), through the same
 * model function backtests use; this adds only the trading dates and the bands. A request that
 * fails (too short, bad horizon, non-finite output) gets its Error.
 */
export function forecastMany(champion: LoadedChampion, requests: readonly ForecastRequest[]): Array<Forecast | Error> {
  const paths = forecastCloses(champion.predictor, champion.scaler, champion.config, champion.alpha, requests);
  return paths.map((closes, i) => finish(champion, requests[i]!, closes));
}

/**
 * forecastMany for POST /predict's micro-batches: the same forward pass and the same results, but
 * the event loop gets a turn between one request's bands and the next (GARCH bands simulate
 * 4,000 paths per request), so a batch never holds /health/live and new connections for the sum.
 */
export async function forecastManyYielding(champion: LoadedChampion, requests: readonly ForecastRequest[]): Promise<Array<Forecast | Error>> {
  const paths = forecastCloses(champion.predictor, champion.scaler, champion.config, champion.alpha, requests);
  const out: Array<Forecast | Error> = [];
  for (let i = 0; i < paths.length; i++) {
    if (i > 0) await yieldToEventLoop();
    out.push(finish(champion, requests[i]!, paths[i]!));
  }
  return out;
}

/** One request's forecast from its forward-pass closes: trading dates and bands. */
function finish(champion: LoadedChampion, r: ForecastRequest, closes: number[] | Error): Forecast | Error {
  if (closes instanceof Error) return closes;
  try {
    const banded = bandedPoints(champion, r, nextTradingDays(champion.ticker, r.lastDate, r.horizon), closes);
    return {
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
    return err as Error;
  }
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
  let forecast;
  try {
    forecast = model.forecast(history, points.length);
  } catch (err) {
    // Too short a history for this band model: the client can send more bars.
    if (err instanceof RangeError) throw new HttpError(422, `${name} bands: ${err.message}`);
    throw err;
  }
  const edges = priceBands(widenWithHorizon(forecast), points);
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
