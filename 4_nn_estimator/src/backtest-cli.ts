/** Walk-forward backtest from the command line (also inside the estimator image); USAGE says how. */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { collectBars, type DailyBar } from '@stocks/common';
import { initBackend, isBackendName } from './training/backend.ts';
import { type BacktestProgress, formatBacktest, runBacktest } from './model/backtest.ts';
import type { ModelConfig } from './model/config.ts';

const USAGE = `Walk-forward backtest of the LSTM beside the naive, drift and moving-average baselines.

  npm run backtest -- --ticker AAPL [options]
  in the stack: docker compose exec 4_nn_estimator npm run backtest -- --ticker AAPL

  --ticker T          ticker to test (required)
  --csv FILE          a Yahoo CSV file instead of the database (nothing is stored)
  --origins N         forecast origins, the most recent ones (default 20)
  --horizon N         trading days forecast from each origin (default 5)
  --retrain-every N   retrain every N origins (default: once, at the first)
  --stride N          trading days between origins (default 1)
  --window N, --units N, --epochs N
                      model settings (default: the service's)
  --max-bars N        most recent bars a training uses (default 2520)
  --json              print the result as JSON on stdout
  --help              this text

Without --csv it reads the stored prices from DATABASE_URL and stores the result
(GET /backtests?ticker=T). Progress goes to stderr after each fit and every 10 s.`;

const OPTIONS = {
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
  help: { type: 'boolean', default: false },
} as const;

function parse() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number, got ${value}`);
  return n;
}

/** A line on stderr after each fit, and otherwise at most every 10 s. */
function progressPrinter(started = Date.now()) {
  let last = 0;
  let fits = 0;
  return (p: BacktestProgress) => {
    const now = Date.now();
    const fitted = p.fits !== fits;
    fits = p.fits;
    if (!fitted && now - last < 10_000 && p.done !== p.total) return;
    last = now;
    const elapsed = (now - started) / 1000;
    const eta = p.done ? (elapsed / p.done) * (p.total - p.done) : NaN;
    console.error(`backtest: origin ${p.done}/${p.total} (${p.origin}), ${p.fits} fit(s), ${elapsed.toFixed(0)} s${Number.isFinite(eta) && p.done < p.total ? `, ~${eta.toFixed(0)} s left` : ''}`);
  };
}

async function main(): Promise<void> {
  const values = parse();
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const ticker = values.ticker?.trim().toUpperCase();
  if (!ticker) throw new Error(`--ticker is required\n\n${USAGE}`);
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
    console.error(`backtest: ${ticker}, ${bars.length} bars, backend ${backend}`);
    const result = await runBacktest({
      ticker,
      bars,
      origins: int('origins', values.origins)!,
      horizon: int('horizon', values.horizon)!,
      retrainEvery: int('retrain-every', values['retrain-every']),
      stride: int('stride', values.stride),
      trainMaxBars: int('max-bars', values['max-bars']),
      config,
      onProgress: progressPrinter(),
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
