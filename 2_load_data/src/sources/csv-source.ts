/** A folder of Yahoo-format CSVs, one per ticker: `<dir>/<TICKER>.csv` (e.g. `^GSPC.csv`, `BTC-USD.csv`). */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { collectBars, TICKER_PATTERN } from '@stocks/common';
import { cleanBars, mergeRejected } from '../quality.ts';
import { UnknownTickerError, type FetchResult, type MarketDataSource } from './types.ts';

export function createCsvSource(dir: string): MarketDataSource {
  return {
    name: 'csv',
    async fetchDaily(ticker, start, end) {
      // The ticker becomes a file name: refuse anything that could leave `dir`.
      if (!TICKER_PATTERN.test(ticker.toUpperCase())) {
        throw new UnknownTickerError(ticker, 'not a valid ticker symbol');
      }
      const file = path.join(dir, `${ticker}.csv`);
      const handle = await openOrUnknown(file, ticker);
      try {
        return await readRange(handle.createReadStream({ encoding: 'utf8' }), start, end);
      } finally {
        await handle.close();
      }
    },
  };
}

async function openOrUnknown(file: string, ticker: string) {
  try {
    return await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UnknownTickerError(ticker, `no CSV file ${file}`);
    }
    throw err;
  }
}

async function readRange(stream: AsyncIterable<string>, start: string, end: string): Promise<FetchResult> {
  const collected = await collectBars(stream, { start, end });
  const cleaned = cleanBars(collected.bars);
  return {
    bars: cleaned.bars,
    rejected: mergeRejected({ ...collected.rejected }, cleaned.rejected),
    splits: [],
    dividends: [],
  };
}
