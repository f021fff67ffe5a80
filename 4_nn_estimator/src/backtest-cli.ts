/**
 * npm run backtest -- --ticker AAPL [--csv path/to/AAPL.csv] [--origins 20] [--horizon 5]
 *   [--retrain-every 10] [--stride 1] [--window 60] [--units 32] [--epochs 30] [--json]
 * With --csv: runs on a Yahoo CSV file, no database. Without: reads the stored prices from
 * DATABASE_URL and stores the result (listed by GET /backtests?ticker=).
 */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { DailyBar } from '@stocks/common';
import { collectBars } from '../../2_load_data/src/csv.ts';
import { initBackend, isBackendName } from './training/backend.ts';
import { formatBacktest, runBacktest } from './model/backtest.ts';
import type { ModelConfig } from './model/config.ts';

const { values } = parseArgs({
  options: {
    ticker: { type: 'string' },
    csv: { type: 'string' },
    origins: { type: 'string', default: '20' },
    horizon: { type: 'string', default: '5' },
    'retrain-every': { type: 'string' },
    stride: { type: 'string', default: '1' },
    window: { type: 'string' },
    units: { type: 'string' },
    epochs: { type: 'string' },
    'max-bars': { type: 'string', default: '2520' },
    json: { type: 'boolean', default: false },
  },
});

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const ticker = values.ticker?.trim().toUpperCase();
  if (!ticker) throw new Error('--ticker is required, e.g. npm run backtest -- --ticker AAPL [--csv ../shared/market-data/AAPL.csv]');
  const config: Partial<ModelConfig> = {};
  for (const key of ['window', 'units', 'epochs'] as const) {
    const v = int(key, values[key]);
    if (v !== undefined) config[key] = v;
  }
  const backend = await initBackend(isBackendName(process.env.TF_BACKEND) ? process.env.TF_BACKEND : undefined);
  let bars: DailyBar[];
  let store: ((r: Awaited<ReturnType<typeof runBacktest>>) => Promise<number>) | undefined;
  let close = async () => {};
  if (values.csv) {
    bars = (await collectBars(createReadStream(values.csv))).bars;
  } else {
    const { createPool } = await import('@stocks/common');
    const { backtests, migrate, prices } = await import('@stocks/db');
    const { toBacktestRow } = await import('./training/worker.ts');
    const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/stocks';
    await migrate(url);
    const pool = createPool(url, { application_name: 'nn_estimator-backtest-cli' });
    close = () => pool.end();
    bars = await prices.getRecentPrices(pool, ticker, 1_000_000);
    if (bars.length === 0) throw new Error(`no stored prices for ${ticker} in ${url.replace(/\/\/[^@]*@/, '//')}; load some, or pass --csv`);
    store = (r) => backtests.insertBacktest(pool, toBacktestRow(r, null, 'cli'));
  }
  try {
    const result = await runBacktest({
      ticker,
      bars,
      origins: int('origins', values.origins)!,
      horizon: int('horizon', values.horizon)!,
      retrainEvery: int('retrain-every', values['retrain-every']),
      stride: int('stride', values.stride),
      trainMaxBars: int('max-bars', values['max-bars']),
      config,
    });
    const id = store ? await store(result) : undefined;
    if (values.json) console.log(JSON.stringify({ id, ...result }, null, 2));
    else {
      console.log(`${ticker}: ${bars.length} bars, backend ${backend}${id ? `, stored as backtest ${id}` : ''}`);
      console.log(formatBacktest(result));
    }
  } finally {
    await close();
  }
}

main().catch((err: Error) => {
  console.error(`backtest failed: ${err.message}`);
  process.exitCode = 1;
});
