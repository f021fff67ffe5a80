/**
 * The one reader of real daily histories for tests and benches alike: the project's CSV reader
 * (@stocks/common) on a file stream, as the loader reads them. Tests read the small fixtures the
 * repository ships; benches pass SHARED_MARKET_DATA_DIR for the full histories beside it.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectBars, type DailyBar } from '@stocks/common';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Small real histories the tests ship (cut from the shared files; test/fixtures/market-data/SOURCES.md). */
export const MARKET_DATA_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'market-data');
/** The full histories beside the repository: benches only (a fresh clone has none). */
export const SHARED_MARKET_DATA_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'market-data');

/** The path of `<TICKER>.csv` (e.g. `^GSPC`, `BTC-USD`) in `dir` (default the test fixtures). */
export function marketDataFile(ticker: string, dir = MARKET_DATA_DIR): string {
  return path.join(dir, `${ticker}.csv`);
}

/** The bars of `<TICKER>.csv` in file order, optionally only the last `lastN`; `dir` as above. */
export async function readMarketData(ticker: string, lastN?: number, dir = MARKET_DATA_DIR): Promise<DailyBar[]> {
  const { bars } = await collectBars(createReadStream(marketDataFile(ticker, dir)));
  return lastN ? bars.slice(-lastN) : bars;
}
