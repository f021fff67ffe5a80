import { createReadStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DailyBar } from '@stocks/common';
import { collectBars } from '../../2_load_data/src/csv.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Small real histories the tests ship (cut from the shared files; test/fixtures/market-data/SOURCES.md). */
export const MARKET_DATA_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'market-data');
/** The full histories beside the repository: benches only (a fresh clone has none). */
export const SHARED_MARKET_DATA_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'market-data');

/** The bars of `<TICKER>.csv` in `dir` (default the test fixtures), optionally only the last `lastN`. */
export async function readMarketData(ticker: string, lastN?: number, dir = MARKET_DATA_DIR): Promise<DailyBar[]> {
  const { bars } = await collectBars(createReadStream(path.join(dir, `${ticker}.csv`)));
  return lastN ? bars.slice(-lastN) : bars;
}
