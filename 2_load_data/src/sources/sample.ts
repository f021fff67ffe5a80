/**
 * The bundled sample: real S&P 500 daily history (2000-01-03..2020-04-17) from the npm package
 * vega-datasets, served as `^GSPC`. Lets the platform run with no network and no data folder.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { type DailyBar, type ParsedRow, parseYahooCsv, toDailyBar } from '@stocks/common';
import { cleanBars, mergeRejected } from '../quality.ts';
import { UnknownTickerError, type MarketDataSource } from './types.ts';

export const SAMPLE_TICKERS = ['^GSPC'] as const;

export function createSampleSource(): MarketDataSource {
  return {
    name: 'sample',
    async fetchDaily(ticker, start, end) {
      if (!(SAMPLE_TICKERS as readonly string[]).includes(ticker.toUpperCase())) {
        throw new UnknownTickerError(ticker, `the bundled sample only has ${SAMPLE_TICKERS.join(', ')}`);
      }
      const rows = await loadSample();
      const inRange: DailyBar[] = [];
      const rejected: Record<string, number> = {};
      for (const row of rows) {
        if (row.date < start || row.date > end) continue;
        const bar = toDailyBar(row);
        if (bar) inRange.push(bar);
        else rejected.null_bar = (rejected.null_bar ?? 0) + 1;
      }
      const cleaned = cleanBars(inRange);
      return { bars: cleaned.bars, rejected: mergeRejected(rejected, cleaned.rejected), splits: [], dividends: [] };
    },
  };
}

/** Parsed once per process; rows are cleaned per range so rejection counts describe that range. */
let cache: Promise<ParsedRow[]> | undefined;

function loadSample(): Promise<ParsedRow[]> {
  cache ??= readAll(sampleCsvPath()).catch((err: unknown) => {
    cache = undefined; // don't cache a failure
    throw err;
  });
  return cache;
}

async function readAll(file: string): Promise<ParsedRow[]> {
  const rows: ParsedRow[] = [];
  for await (const row of parseYahooCsv(createReadStream(file, { encoding: 'utf8' }))) rows.push(row);
  return rows;
}

/** vega-datasets' `exports` hides package.json, so resolve the entry point and walk up to the package root. */
export function sampleCsvPath(): string {
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve('vega-datasets'));
  while (!isPackageRoot(dir, 'vega-datasets')) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the vega-datasets package root');
    dir = parent;
  }
  return path.join(dir, 'data', 'sp500-2000.csv');
}

function isPackageRoot(dir: string, name: string): boolean {
  const manifest = path.join(dir, 'package.json');
  if (!existsSync(manifest)) return false;
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name;
}
