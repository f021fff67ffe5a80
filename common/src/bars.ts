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
