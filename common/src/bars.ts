/** One daily OHLCV bar as every service passes it around. Dates are exchange-local `YYYY-MM-DD`. */
export interface DailyBar {
  date: string;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number;
  adj_close: number | null;
  volume: number | null;
}

export const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Yahoo symbols: letters, digits, and . - ^ = (e.g. AAPL, BRK-B, ^GSPC, BTC-USD, EURUSD=X). */
export const TICKER_PATTERN = /^\^?[A-Z0-9][A-Z0-9.\-=]{0,14}$/;

/**
 * What a stored or sent bar may hold. Wider than anything traded, narrow enough that returns,
 * bands and bigint volumes never overflow (a close of 1e308 or a denormal 1e-320 passes "> 0").
 */
export const MIN_PRICE = 1e-9;
export const MAX_PRICE = 1e9;
export const MAX_VOLUME = 1e15;
/** The sane range of a bar's date: from 1900-01-01 to a week from today. */
export const EARLIEST_DATE = '1900-01-01';
let latest = { at: 0, date: '' };
/** (Recomputed at most once a second: it is checked once per bar of a request.) */
export const latestBarDate = (now = Date.now()): string => {
  if (now - latest.at > 1_000 || now < latest.at) latest = { at: now, date: new Date(now + 7 * 86_400_000).toISOString().slice(0, 10) };
  return latest.date;
};
