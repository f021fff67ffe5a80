import { HttpError } from '@stocks/common';

/** 404 for a ticker with no stored prices, saying how to get some (training, backtests, forecasts, monitoring). */
export function noStoredPrices(ticker: string): HttpError {
  return new HttpError(404, `No stored prices for ${ticker}. Load some first: POST /load on 2_load_data.`);
}
