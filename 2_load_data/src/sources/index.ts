/** Picks the market-data source the service runs with. */
import { createCsvSource } from './csv-source.ts';
import { createSampleSource } from './sample.ts';
import type { MarketDataSource } from './types.ts';
import { createYahooSource, type YahooSourceOptions } from './yahoo.ts';

export type SourceKind = MarketDataSource['name'];
export const SOURCE_KINDS: readonly SourceKind[] = ['yahoo', 'csv', 'sample'];

/** Yahoo's options (timeoutMs, maxRetries, concurrency, onRetry...) sit flat next to the others. */
export interface CreateSourceOptions extends Omit<YahooSourceOptions, 'baseUrl'> {
  /** Folder of `<TICKER>.csv` files for kind 'csv'. Default: env MARKET_DATA_DIR. */
  marketDataDir?: string;
  /** Where to send Yahoo requests instead of *.yahoo.com. Default: env YAHOO_BASE_URL. */
  yahooBaseUrl?: string;
}

export function createSource(kind: SourceKind, opts: CreateSourceOptions = {}): MarketDataSource {
  switch (kind) {
    case 'yahoo': {
      const { marketDataDir: _dir, yahooBaseUrl, ...yahoo } = opts;
      return createYahooSource({ ...yahoo, baseUrl: yahooBaseUrl ?? process.env.YAHOO_BASE_URL });
    }
    case 'csv': {
      const dir = opts.marketDataDir ?? process.env.MARKET_DATA_DIR;
      if (!dir) throw new Error("source 'csv' needs marketDataDir (or env MARKET_DATA_DIR)");
      return createCsvSource(dir);
    }
    case 'sample':
      return createSampleSource();
    default:
      throw new Error(`unknown market-data source ${String(kind satisfies never)}; expected one of ${SOURCE_KINDS.join(', ')}`);
  }
}

export { createCsvSource, createSampleSource, createYahooSource };
export type { YahooSourceOptions };
export * from './types.ts';
