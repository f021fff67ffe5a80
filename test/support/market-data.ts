import { createReadStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DailyBar } from '@stocks/common';
import { collectBars } from '../../2_load_data/src/csv.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Real daily histories shared beside the repository (never copied into it). */
export const MARKET_DATA_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'market-data');

/** The bars of `<TICKER>.csv`, optionally only the last `lastN`. */
export async function readMarketData(ticker: string, lastN?: number): Promise<DailyBar[]> {
  const { bars } = await collectBars(createReadStream(path.join(MARKET_DATA_DIR, `${ticker}.csv`)));
  return lastN ? bars.slice(-lastN) : bars;
}
