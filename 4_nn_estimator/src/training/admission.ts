/**
 * Which job requests are admitted to the queue, decided before anything is queued: a request
 * that cannot succeed (no prices, too few bars up to end_date, nothing new to fine-tune on) is
 * refused now instead of failing in the queue, and a request for a (ticker, kind) that already
 * has a queued or running job joins it only with the same parameters (the one-active-job unique
 * index of migration 007 makes concurrent submits meet on one row). The outcome is typed; the
 * routes turn it into an HTTP reply.
 */
import type PgBoss from 'pg-boss';
import type { Pool } from '@stocks/common';
import { type JobKind, models, prices } from '@stocks/db';
import { type ModelConfig, resolveModelConfig } from '../model/config.ts';
import { minimumBarsForTraining } from '../model/dataset.ts';
import type { BacktestRequest, FineTuneRequest, TrainRequest } from '../schemas.ts';
import { type JobParams, type QueueOptions, type SubmittedJob, submitJob } from './queue.ts';

/** Queued now (created), or joined the active job that has the same parameters. */
export interface Accepted { outcome: 'accepted'; job: SubmittedJob }
/** The ticker has no stored prices at all. */
export interface NoPrices { outcome: 'no-prices'; ticker: string }
/** Too few stored bars (up to end_date, when given) for what was asked. */
export interface TooFewBars { outcome: 'too-few-bars'; ticker: string; needed: number; got: number }
/** A fine-tune asked of a ticker without a champion. */
export interface NoChampion { outcome: 'no-champion'; ticker: string }
/** A fine-tune asked when no bar arrived after the last one the champion saw. */
export interface NothingNew { outcome: 'nothing-new'; ticker: string; champion_version: number; trained_through: string; newest_stored: string | null }
/** The (ticker, kind) has a queued or running job with other parameters. */
export interface Busy { outcome: 'busy'; kind: JobKind; ticker: string; active: SubmittedJob }

export type TrainAdmission = Accepted | NoPrices | TooFewBars | Busy;
export type FineTuneAdmission = Accepted | NoChampion | NothingNew | Busy;
export type BacktestAdmission = Accepted | NoPrices | TooFewBars | Busy;

export interface JobAdmissionDeps {
  pool: Pool;
  boss: PgBoss;
  queue: QueueOptions;
  modelOverrides: Partial<ModelConfig>;
}

export interface JobAdmission {
  train(request: TrainRequest): Promise<TrainAdmission>;
  fineTune(request: FineTuneRequest): Promise<FineTuneAdmission>;
  backtest(request: BacktestRequest): Promise<BacktestAdmission>;
}

export function createJobAdmission({ pool, boss, queue, modelOverrides }: JobAdmissionDeps): JobAdmission {
  const minTrain = minimumBarsForTraining(resolveModelConfig(modelOverrides));

  async function submit(kind: JobKind, ticker: string, params: JobParams): Promise<Accepted | Busy> {
    const job = await submitJob(pool, boss, { kind, ticker, params }, queue);
    if (!job.created && canonicalParams(job.params) !== canonicalParams(params)) return { outcome: 'busy', kind, ticker, active: job };
    return { outcome: 'accepted', job };
  }

  return {
    async train({ ticker, end_date }) {
      if (!(await prices.getCoverage(pool, ticker))) return { outcome: 'no-prices', ticker };
      const coverage = await prices.getCoverage(pool, ticker, end_date);
      if (!coverage || coverage.rows < minTrain) return { outcome: 'too-few-bars', ticker, needed: minTrain, got: coverage?.rows ?? 0 };
      return submit('train', ticker, end_date ? { end_date } : {});
    },

    async fineTune({ ticker }) {
      const champion = await models.getChampionSummary(pool, ticker);
      if (!champion) return { outcome: 'no-champion', ticker };
      const coverage = await prices.getCoverage(pool, ticker);
      const trainedThrough = models.lastBarSeen(champion);
      // Nothing to learn from: a fine-tune would only re-fit the same bars and store a copy as a new version.
      if (!coverage || coverage.last_date <= trainedThrough) {
        return { outcome: 'nothing-new', ticker, champion_version: champion.version, trained_through: trainedThrough, newest_stored: coverage?.last_date ?? null };
      }
      return submit('fine-tune', ticker, {});
    },

    async backtest({ ticker, origins, horizon, retrain_every }) {
      const coverage = await prices.getCoverage(pool, ticker);
      if (!coverage) return { outcome: 'no-prices', ticker };
      // The first origin needs a full training set, and the last origin's targets must exist.
      const needed = minTrain + origins - 1 + horizon;
      if (coverage.rows < needed) return { outcome: 'too-few-bars', ticker, needed, got: coverage.rows };
      return submit('backtest', ticker, { origins, horizon, ...(retrain_every ? { retrain_every } : {}) });
    },
  };
}

/** Parameters as comparable JSON: keys sorted, absent and undefined alike. */
export function canonicalParams(params: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b))));
}
