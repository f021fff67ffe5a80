import type { Queryable } from '@stocks/common';

export interface CorporateAction {
  date: string;
  kind: 'split' | 'dividend';
  numerator?: number | null;
  denominator?: number | null;
  amount?: number | null;
}

/** Record splits and dividends; seeing one again changes nothing. Returns how many were new. */
export async function recordCorporateActions(db: Queryable, ticker: string, actions: CorporateAction[]): Promise<number> {
  if (actions.length === 0) return 0;
  const { rowCount } = await db.query(
    `INSERT INTO corporate_actions (ticker, date, kind, numerator, denominator, amount)
     SELECT $1, t.date, t.kind, t.numerator, t.denominator, t.amount
       FROM unnest($2::date[], $3::text[], $4::float8[], $5::float8[], $6::float8[]) AS t(date, kind, numerator, denominator, amount)
     ON CONFLICT DO NOTHING`,
    [
      ticker,
      actions.map((a) => a.date),
      actions.map((a) => a.kind),
      actions.map((a) => a.numerator ?? null),
      actions.map((a) => a.denominator ?? null),
      actions.map((a) => a.amount ?? null),
    ],
  );
  return rowCount ?? 0;
}

export async function listCorporateActions(db: Queryable, ticker: string): Promise<CorporateAction[]> {
  const { rows } = await db.query<CorporateAction>(
    `SELECT date, kind, numerator, denominator, amount FROM corporate_actions WHERE ticker = $1 ORDER BY date`,
    [ticker],
  );
  return rows;
}
