/**
 * Ingestion bench: `npx tsx bench/ingest.ts` (or `npm run bench:ingest`). Needs the local Postgres.
 *
 * 1. Upsert 25,000 daily rows (10 tickers, ~10 years each) into a fresh database with the bulk
 *    path POST /load and the importer use (one `INSERT ... SELECT unnest(...)` per ticker), and the
 *    same rows with a row-by-row INSERT baseline (one prepared statement per row, one transaction),
 *    timed in the same run. Target: bulk < 1 s and >= 10x faster than the baseline.
 * 2. Memory while importing a 96-year file (^GSPC.csv, 24,114 rows) and a synthesised 125-year one
 *    streamed from a generator (never on disk, never whole in memory): RSS/heap before, peak, after.
 *
 * The rows come from the real files in ../shared/market-data. There are 8 files, so the 10 tickers
 * are: AAPL, MSFT, GOOG, AMZN, NVDA, TSLA (2,264 rows each, 2015-2023), BTC-USD (3,286 rows,
 * 7 days a week), and ^GSPC cut into three renamed slices of 2,710 consecutive rows
 * (^GSPC = the newest, GSPC-B and GSPC-C the two before): 13,584 + 3,286 + 8,130 = 25,000.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { type DailyBar, withTransaction } from '@stocks/common';
import { prices } from '@stocks/db';
import { createTestDatabase } from '@stocks/db/testing';
import { importCsv } from '../2_load_data/src/ingest.ts';
import { cleanBars } from '../2_load_data/src/quality.ts';
import { marketDataFile, readMarketData, SHARED_MARKET_DATA_DIR } from '../test/support/market-data.ts';

async function readBars(name: string): Promise<DailyBar[]> {
  return cleanBars(await readMarketData(name.replace(/\.csv$/, ''), undefined, SHARED_MARKET_DATA_DIR)).bars;
}

async function dataset(): Promise<Map<string, DailyBar[]>> {
  const set = new Map<string, DailyBar[]>();
  for (const t of ['AAPL', 'MSFT', 'GOOG', 'AMZN', 'NVDA', 'TSLA', 'BTC-USD']) set.set(t, await readBars(`${t}.csv`));
  const gspc = await readBars('^GSPC.csv');
  const slice = 2_710;
  set.set('^GSPC', gspc.slice(-slice));
  set.set('GSPC-B', gspc.slice(-2 * slice, -slice));
  set.set('GSPC-C', gspc.slice(-3 * slice, -2 * slice));
  return set;
}

const ms = (t0: number) => performance.now() - t0;
const fmt = (n: number) => `${n.toFixed(0)} ms`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

const db = await createTestDatabase('stocks_bench');
try {
  await speed();
  // --- memory: stream-import long files in chunks inside one transaction (the dataset above is garbage by now).
  await db.pool.query('TRUNCATE prices');
  await memory('^GSPC.csv (96 years, 24,114 rows) via importCsv', () => importCsv(db.pool, '^GSPC', createReadStream(marketDataFile('^GSPC', SHARED_MARKET_DATA_DIR))));
  await memory('synthetic SYNTH-USD, every day 1900-01-01..2024-12-31 (125 years), streamed from a generator',
    () => importCsv(db.pool, 'SYNTH-USD', Readable.from(syntheticCsv('1900-01-01', '2024-12-31'))));
} finally {
  await db.drop();
}

async function speed(): Promise<void> {
  const data = await dataset();
  const total = [...data.values()].reduce((n, bars) => n + bars.length, 0);
  console.log(`dataset: ${data.size} tickers, ${total} rows (${[...data].map(([t, b]) => `${t} ${b.length}`).join(', ')})`);
  await db.pool.query('SELECT 1'); // open a connection before timing

  // --- bulk upsert (what ingest uses), 3 runs on an empty table each time.
  const bulkRuns: number[] = [];
  for (let run = 0; run < 3; run++) {
    await db.pool.query('TRUNCATE prices');
    const t0 = performance.now();
    const inserted = await withTransaction(db.pool, async (tx) => {
      let n = 0;
      for (const [ticker, bars] of data) n += (await prices.upsertPrices(tx, ticker, 'bench', bars)).inserted;
      return n;
    });
    bulkRuns.push(ms(t0));
    if (inserted !== total) throw new Error(`bulk inserted ${inserted}, expected ${total}`);
  }
  const t1 = performance.now();
  const unchanged = await withTransaction(db.pool, async (tx) => {
    let n = 0;
    for (const [ticker, bars] of data) {
      const r = await prices.upsertPrices(tx, ticker, 'bench', bars);
      n += r.inserted + r.updated;
    }
    return n;
  });
  const reupsert = ms(t1);

  // --- baseline: one INSERT ... ON CONFLICT per row (prepared once), in one transaction.
  await db.pool.query('TRUNCATE prices');
  const t2 = performance.now();
  await withTransaction(db.pool, async (tx) => {
    for (const [ticker, bars] of data) {
      for (const b of bars) {
        await tx.query({
          name: 'bench-row-insert',
          text: `INSERT INTO prices (ticker, date, open, high, low, close, adj_close, volume, source)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'bench')
                 ON CONFLICT (ticker, date) DO UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
                   close = EXCLUDED.close, adj_close = EXCLUDED.adj_close, volume = EXCLUDED.volume`,
          values: [ticker, b.date, b.open, b.high, b.low, b.close, b.adj_close, b.volume === null ? null : Math.round(b.volume)],
        });
      }
    }
  });
  const baseline = ms(t2);
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM prices');
  if (rows[0]?.n !== total) throw new Error(`baseline stored ${rows[0]?.n}, expected ${total}`);

  const median = [...bulkRuns].sort((a, b) => a - b)[1]!;
  console.log(`bulk upsert (unnest, 1 statement/ticker): ${bulkRuns.map(fmt).join(', ')} -> median ${fmt(median)} `
    + `(${Math.round(total / (median / 1000)).toLocaleString('en-US')} rows/s)  target < 1000 ms: ${median < 1000 ? 'OK' : 'MISSED'}`);
  console.log(`re-upsert of the same rows (nothing changes, ${unchanged} rows touched): ${fmt(reupsert)}`);
  console.log(`row-by-row INSERT baseline: ${fmt(baseline)} (${Math.round(total / (baseline / 1000)).toLocaleString('en-US')} rows/s)`);
  console.log(`ratio baseline / bulk: ${(baseline / median).toFixed(1)}x  target >= 10x: ${baseline / median >= 10 ? 'OK' : 'MISSED'}`);
  if (median >= 1000 || baseline / median < 10) process.exitCode = 1;
}

async function memory(label: string, run: () => Promise<{ read: number; stored: number }>): Promise<void> {
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 5);
  const t0 = performance.now();
  const result = await run();
  const took = ms(t0);
  clearInterval(sampler);
  const afterwards = process.memoryUsage();
  console.log(`${label}: ${result.stored}/${result.read} rows in ${fmt(took)}; `
    + `RSS ${mb(before.rss)} -> peak ${mb(peakRss)} -> ${mb(afterwards.rss)}; heap ${mb(before.heapUsed)} -> peak ${mb(peakHeap)} -> ${mb(afterwards.heapUsed)}`);
}

/** A Yahoo-format CSV, one line at a time: a random walk, every calendar day in [from, to]. */
function* syntheticCsv(from: string, to: string): Generator<string> {
  yield 'Date,Open,High,Low,Close,Adj Close,Volume\n';
  let price = 10;
  let lines: string[] = [];
  for (let d = new Date(`${from}T00:00:00Z`); d.toISOString().slice(0, 10) <= to; d.setUTCDate(d.getUTCDate() + 1)) {
    const open = price;
    price = Math.max(0.01, price * (1 + (Math.random() - 0.5) * 0.02));
    const high = Math.max(open, price) * 1.005;
    const low = Math.min(open, price) * 0.995;
    lines.push(`${d.toISOString().slice(0, 10)},${open},${high},${low},${price},${price},${Math.round(Math.random() * 1e6)}`);
    if (lines.length === 1_000) {
      yield `${lines.join('\n')}\n`;
      lines = [];
    }
  }
  if (lines.length) yield `${lines.join('\n')}\n`;
}
