/** Manual promotion and rollback: both recorded in model_events and announced to every replica. */
import { HttpError, type Pool, withTransaction } from '@stocks/common';
import { models } from '@stocks/db';
import { CHAMPION_CHANNEL } from './serving.ts';

export interface ChampionChange {
  ticker: string;
  champion_version: number;
  previous_version: number | null;
  action: 'manual-promote' | 'rollback';
}

/** Make `version` its ticker's champion. 404 unknown version; 409 when it already is. */
export async function promoteVersion(pool: Pool, version: number): Promise<ChampionChange> {
  const row = await models.getModel(pool, version);
  if (!row) throw new HttpError(404, `No model version ${version}. List versions with GET /models?ticker=<TICKER>.`);
  if (row.is_champion) throw new HttpError(409, `Version ${version} is already the champion of ${row.ticker}.`);
  return changeChampion(pool, row.ticker, version, 'manual-promote', `promoted by hand (was ${row.status})`);
}

/** Back to the champion before the current one. 404 no model; 409 no earlier champion. */
export async function rollback(pool: Pool, ticker: string): Promise<ChampionChange> {
  const current = await models.getChampionVersion(pool, ticker);
  if (current === undefined) throw new HttpError(404, `${ticker} has no champion to roll back. Train one: POST /train {"ticker":"${ticker}"}.`);
  const previous = await models.previousChampionVersion(pool, ticker);
  if (previous === undefined) throw new HttpError(409, `${ticker} has had only one champion (version ${current}); there is nothing to roll back to.`);
  return changeChampion(pool, ticker, previous, 'rollback', `rolled back from version ${current}`);
}

async function changeChampion(pool: Pool, ticker: string, version: number, action: ChampionChange['action'], reason: string): Promise<ChampionChange> {
  return withTransaction(pool, async (tx) => {
    // Serialise concurrent promotions of one ticker (the unique index would reject the loser anyway).
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`champion:${ticker}`]);
    const previous = (await models.getChampionVersion(tx, ticker)) ?? null;
    await models.setChampion(tx, ticker, version, action, reason);
    await tx.query('SELECT pg_notify($1, $2)', [CHAMPION_CHANNEL, ticker]);
    return { ticker, champion_version: version, previous_version: previous, action };
  });
}
