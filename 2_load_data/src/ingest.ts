import { type Pool, withTransaction } from '@stocks/common';
import { corporateActions, prices } from '@stocks/db';
import type { LoadResponse } from './schemas.ts';
import type { FetchResult, MarketDataSource } from './sources/types.ts';

/**
 * Fetch a range from the source and store it in one transaction: the bars (one bulk upsert)
 * and the corporate actions seen with them. A failure anywhere leaves the table as it was.
 */
export async function ingestRange(
  pool: Pool,
  source: MarketDataSource,
  request: { ticker: string; start_date: string; end_date: string },
): Promise<LoadResponse> {
  const fetched = await source.fetchDaily(request.ticker, request.start_date, request.end_date);
  return storeFetched(pool, source.name, request.ticker, fetched);
}

export async function storeFetched(pool: Pool, sourceName: LoadResponse['source'], ticker: string, fetched: FetchResult): Promise<LoadResponse> {
  const { bars } = fetched;
  const actions = [
    ...fetched.splits.map((s) => ({ date: s.date, kind: 'split' as const, numerator: s.numerator, denominator: s.denominator })),
    ...fetched.dividends.map((d) => ({ date: d.date, kind: 'dividend' as const, amount: d.amount })),
  ];
  const counts = await withTransaction(pool, async (tx) => {
    const upserted = await prices.upsertPrices(tx, ticker, sourceName, bars);
    await corporateActions.recordCorporateActions(tx, ticker, actions);
    return upserted;
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
  };
}
