import { type CsvInput, type DailyBar, parseYahooCsv, type Pool, type PoolClient, toDailyBar, withTransaction } from '@stocks/common';
import { corporateActions, prices, tickers } from '@stocks/db';
import { cleanBars, mergeRejected } from './quality.ts';
import type { ImportResponse, LoadResponse } from './schemas.ts';
import type { FetchResult, MarketDataSource } from './sources/types.ts';

type SourceName = LoadResponse['source'];

/**
 * Fetch a range from the source and store it in one transaction: the bars (one bulk upsert)
 * and the corporate actions seen with them. A failure anywhere leaves the table as it was.
 *
 * Yahoo's series is split-adjusted as of the day it is fetched. A split we have not recorded
 * yet, with stored bars before it, means those bars are on the old scale: the ticker's whole
 * stored span (plus the requested range) is re-fetched and replaces the stored history in the
 * same transaction, and the ticker is flagged for a full retrain.
 */
export async function ingestRange(
  pool: Pool,
  source: MarketDataSource,
  request: { ticker: string; start_date: string; end_date: string },
): Promise<LoadResponse> {
  const { ticker, start_date: start, end_date: end } = request;
  const fetched = await source.fetchDaily(ticker, start, end);
  const span = await rewriteSpan(pool, ticker, fetched, start, end);
  if (!span) return storeFetched(pool, source.name, ticker, fetched);
  // All fetching happens before the transaction opens: no connection is held while Yahoo is slow.
  const full = await source.fetchDaily(ticker, span.from, span.to);
  const merged: FetchResult = {
    bars: full.bars,
    rejected: full.rejected, // the full span covers the requested range: don't count twice
    splits: uniqueByDate([...fetched.splits, ...full.splits]),
    dividends: uniqueByDate([...fetched.dividends, ...full.dividends]),
  };
  return storeFetched(pool, source.name, ticker, merged, { rewrite: true });
}

/** The span to re-fetch when a split we did not know of falls after the first stored bar. */
async function rewriteSpan(pool: Pool, ticker: string, fetched: FetchResult, start: string, end: string) {
  if (fetched.splits.length === 0) return undefined;
  const coverage = await prices.getCoverage(pool, ticker);
  if (!coverage) return undefined;
  const known = new Set(
    (await corporateActions.listCorporateActions(pool, ticker)).filter((a) => a.kind === 'split').map((a) => a.date),
  );
  const rescaled = fetched.splits.some((s) => !known.has(s.date) && s.date > coverage.first_date);
  if (!rescaled) return undefined;
  return {
    from: coverage.first_date < start ? coverage.first_date : start,
    to: coverage.last_date > end ? coverage.last_date : end,
  };
}

export async function storeFetched(
  pool: Pool,
  sourceName: SourceName,
  ticker: string,
  fetched: FetchResult,
  opts: { rewrite?: boolean } = {},
): Promise<LoadResponse> {
  const { bars } = fetched;
  const actions = [
    ...fetched.splits.map((s) => ({ date: s.date, kind: 'split' as const, numerator: s.numerator, denominator: s.denominator })),
    ...fetched.dividends.map((d) => ({ date: d.date, kind: 'dividend' as const, amount: d.amount })),
  ];
  const counts = await withTransaction(pool, async (tx) => {
    await prices.lockTickerForWrite(tx, ticker);
    let written: prices.UpsertResult & { deleted: number };
    if (opts.rewrite) {
      written = await prices.replacePriceHistory(tx, ticker, sourceName, bars);
      await tickers.markHistoryRewritten(tx, ticker);
    } else {
      written = { ...(await prices.upsertPrices(tx, ticker, sourceName, bars)), deleted: 0 };
    }
    await corporateActions.recordCorporateActions(tx, ticker, actions);
    return written;
  });
  return {
    ticker,
    source: sourceName,
    fetched: bars.length,
    inserted: counts.inserted,
    updated: counts.updated,
    rejected: fetched.rejected,
    first_date: bars[0]?.date ?? null,
    last_date: bars.at(-1)?.date ?? null,
    splits: fetched.splits.length,
    dividends: fetched.dividends.length,
    history_rewritten: opts.rewrite ?? false,
    deleted: counts.deleted,
  };
}

function uniqueByDate<T extends { date: string }>(items: T[]): T[] {
  return [...new Map(items.map((i) => [i.date, i])).values()].sort((a, b) => a.date.localeCompare(b.date));
}

// ---------------------------------------------------------------------------------------------
// CSV import (POST /import and `npm run import`).

export interface ImportOptions {
  /** Rows per upsert statement; memory stays at about one chunk whatever the file's length. */
  chunkRows?: number;
}

/**
 * Stream a Yahoo-format CSV into the ticker's prices, `chunkRows` bars per upsert, all chunks in
 * ONE transaction: a parse error on the last line, an oversized body or a dropped connection
 * rolls everything back, so the previous data stays intact. The quality rule runs per chunk;
 * a date repeated across chunks is counted as duplicate_date and the later row wins, as within one.
 */
export async function importCsv(pool: Pool, ticker: string, input: CsvInput, opts: ImportOptions = {}): Promise<ImportResponse> {
  const chunkRows = opts.chunkRows ?? 5_000;
  return withTransaction(pool, async (tx) => {
    // The transaction stays open while the client uploads: a stalled upload must not keep a pool
    // connection (and the ticker's write lock) forever. Postgres ends the session after 60 s
    // without a statement; the import then fails and rolls back.
    await tx.query(`SET LOCAL idle_in_transaction_session_timeout = '60s'`);
    let locked = false;
    const result: ImportResponse = {
      ticker, source: 'import', read: 0, stored: 0, inserted: 0, updated: 0, rejected: {}, first_date: null, last_date: null,
    };
    const seen = new Set<string>(); // ~40 bytes per date: 100 years of bars is a few MB at most
    let chunk: DailyBar[] = [];
    const flush = async () => {
      if (!locked) {
        // Taken at the first write, not before the first chunk has arrived.
        await prices.lockTickerForWrite(tx, ticker);
        locked = true;
      }
      const cleaned = cleanBars(chunk);
      chunk = [];
      mergeRejected(result.rejected, cleaned.rejected);
      for (const b of cleaned.bars) {
        // Seen in an earlier chunk: this later row is upserted over it, as cleanBars would do.
        if (seen.has(b.date)) mergeRejected(result.rejected, { duplicate_date: 1 });
        else seen.add(b.date);
      }
      await upsertChunk(tx, ticker, cleaned.bars, result);
    };
    for await (const row of parseYahooCsv(input)) {
      result.read += 1;
      const bar = toDailyBar(row);
      if (!bar) mergeRejected(result.rejected, { null_bar: 1 });
      else chunk.push(bar);
      if (chunk.length >= chunkRows) await flush();
    }
    await flush();
    return result;
  });
}

async function upsertChunk(tx: PoolClient, ticker: string, bars: DailyBar[], result: ImportResponse): Promise<void> {
  if (bars.length === 0) return;
  const { inserted, updated } = await prices.upsertPrices(tx, ticker, 'import', bars);
  result.inserted += inserted;
  result.updated += updated;
  result.stored += bars.length;
  const first = bars[0]!.date;
  const last = bars.at(-1)!.date;
  if (result.first_date === null || first < result.first_date) result.first_date = first;
  if (result.last_date === null || last > result.last_date) result.last_date = last;
}
