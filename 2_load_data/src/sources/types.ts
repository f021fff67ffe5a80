import type { DailyBar } from '@stocks/common';

/** Result of one upstream fetch: the clean bars plus what was dropped and why. */
export interface FetchResult {
  bars: DailyBar[];
  /** Bars dropped because they were null or contradicted themselves, by reason. */
  rejected: Record<string, number>;
  /** Corporate actions seen in the range (empty for sources that don't know them). */
  splits: Array<{ date: string; numerator: number; denominator: number }>;
  dividends: Array<{ date: string; amount: number }>;
}

/** A place daily prices come from: Yahoo, a folder of Yahoo CSVs, or the bundled sample. */
export interface MarketDataSource {
  readonly name: 'yahoo' | 'csv' | 'sample';
  /** Bars with start <= date <= end (both inclusive, `YYYY-MM-DD`), oldest first. */
  fetchDaily(ticker: string, start: string, end: string): Promise<FetchResult>;
}

/** The ticker does not exist at the source (HTTP 404 to the caller). */
export class UnknownTickerError extends Error {
  override readonly name = 'UnknownTickerError';
  constructor(readonly ticker: string, reason: string) {
    super(`unknown ticker ${ticker}: ${reason}`);
  }
}

/**
 * The source failed: HTTP 502, or 503 when it asked us to back off (a Retry-After, or a 429
 * rate limit, which Yahoo usually sends without one).
 */
export class UpstreamError extends Error {
  override readonly name: string = 'UpstreamError';
  readonly rateLimited: boolean;
  constructor(message: string, readonly retryAfterSeconds?: number, options?: { cause?: unknown; rateLimited?: boolean }) {
    super(message, options);
    this.rateLimited = options?.rateLimited ?? false;
  }
}
