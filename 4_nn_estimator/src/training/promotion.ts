/**
 * Who becomes a ticker's champion: the rule a trained challenger must pass, and the manual
 * promotion and rollback. Every change is recorded in model_events; the trigger on `models`
 * (migration 005) announces it to every replica.
 */
import { HttpError, type Pool, withTransaction } from '@stocks/common';
import { models } from '@stocks/db';
import { relativeMase } from '../model/metrics.ts';
import type { TrainResult } from '../model/train.ts';
import type { ChampionChange } from '../schemas.ts';


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
    return { ticker, champion_version: version, previous_version: previous, action };
  });
}

/**
 * Full training replaces the champion (someone asked for a new model). A fine-tuned challenger
 * is promoted only when its MASE (MAE / naive MAE, over steps 1..horizon) on the most recent
 * validation window is not worse than the champion's on the very same window; otherwise it is
 * kept as 'rejected' with the reason.
 */
export function promotionDecision(
  result: Pick<TrainResult, 'metrics' | 'baseline' | 'championMetricsOnSameWindow' | 'validation_range'>,
  isFineTune: boolean,
): { promote: boolean; reason: string } {
  if (!isFineTune || !result.championMetricsOnSameWindow) return { promote: true, reason: 'full training' };
  const naive = result.baseline.all_steps.mae;
  const challenger = relativeMase(result.metrics.all_steps.mae, naive);
  const champion = relativeMase(result.championMetricsOnSameWindow.all_steps.mae, naive);
  const steps = result.metrics.per_step.length;
  const window = `${result.validation_range.start}..${result.validation_range.end}, steps 1..${steps}`;
  return Number.isFinite(challenger) && Number.isFinite(champion) && challenger <= champion
    ? { promote: true, reason: `fine-tune not worse than champion on ${window}: MASE ${fmt(challenger)} <= ${fmt(champion)}` }
    : { promote: false, reason: `fine-tune worse than champion on ${window}: MASE ${fmt(challenger)} > ${fmt(champion)}` };
}

const fmt = (x: number) => x.toPrecision(5);
