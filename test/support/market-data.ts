/**
 * The one reader of the real daily histories beside the repository (`../shared/market-data`, never
 * copied into it), for tests and benches alike: the project's CSV reader (@stocks/common) on a file
 * stream, as the loader reads them.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectBars, type DailyBar } from '@stocks/common';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Real daily histories shared beside the repository (never copied into it). */
export const MARKET_DATA_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'market-data');

/** The path of `<TICKER>.csv` (e.g. `^GSPC`, `BTC-USD`). */
export function marketDataFile(ticker: string): string {
  return path.join(MARKET_DATA_DIR, `${ticker}.csv`);
}

/** The bars of `<TICKER>.csv` in file order, optionally only the last `lastN`. */
export async function readMarketData(ticker: string, lastN?: number): Promise<DailyBar[]> {
  const { bars } = await collectBars(createReadStream(marketDataFile(ticker)));
  return lastN ? bars.slice(-lastN) : bars;
}
