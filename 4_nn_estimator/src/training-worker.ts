import { hostname } from 'node:os';
import type PgBoss from 'pg-boss';
import type { FastifyBaseLogger } from 'fastify';
import { type Pool, withTransaction } from '@stocks/common';
import { jobs, models, prices, tickers } from '@stocks/db';
import type { EstimatorMetrics } from './metrics.ts';
import { runTrainingInThread } from './model/train-runner.ts';
import type { TrainResult, WarmStart } from './model/train.ts';
import type { ModelConfig } from './model/config.ts';
import type { ScalerJSON } from './model/scaler.ts';
import { TRAINING_QUEUE, type TrainingJobData } from './queue.ts';
import { CHAMPION_CHANNEL } from './serving.ts';

export interface TrainingWorkerDeps {
  pool: Pool;
  boss: PgBoss;
  log: FastifyBaseLogger;
  metrics: EstimatorMetrics;
  backend: string;
  modelOverrides: Partial<ModelConfig>;
  trainMaxBars: number;
}

const WORKER_ID = `${hostname()}:${process.pid}`;

/**
 * Take training jobs from the queue, one at a time (TF.js fits must not overlap in a process).
 * The fit itself runs in a worker thread; this thread only moves data and writes the result.
 */
export async function startTrainingWorker(deps: TrainingWorkerDeps): Promise<void> {
  await deps.boss.work<TrainingJobData>(
    TRAINING_QUEUE,
    { batchSize: 1, pollingIntervalSeconds: 1, includeMetadata: true },
    async ([job]) => {
      if (!job) return;
      const final = job.retryCount >= job.retryLimit;
      const stop = deps.metrics.trainingDuration.startTimer({ kind: job.data.kind });
      try {
        const version = await runJob(deps, job.data);
        deps.metrics.jobsFinished.inc({ kind: job.data.kind, status: 'succeeded' });
        stop();
        return { model_version: version };
      } catch (err) {
        const message = (err as Error).message;
        deps.log.error({ err, job_id: job.data.job_id, ticker: job.data.ticker, final }, 'training job failed');
        await jobs.markJobFailed(deps.pool, job.data.job_id, message, final);
        if (final) deps.metrics.jobsFinished.inc({ kind: job.data.kind, status: 'failed' });
        throw err; // pg-boss retries with backoff until retryLimit
      }
    },
  );
}

async function runJob(deps: TrainingWorkerDeps, data: TrainingJobData): Promise<number> {
  const { pool, log } = deps;
  await jobs.markJobRunning(pool, data.job_id, WORKER_ID);
  log.info({ job_id: data.job_id, kind: data.kind, ticker: data.ticker }, 'training job started');

  const bars = await prices.getRecentPrices(pool, data.ticker, deps.trainMaxBars, data.end_date);
  if (bars.length === 0) throw new Error(`no stored prices for ${data.ticker}${data.end_date ? ` up to ${data.end_date}` : ''}`);

  const champion = await models.getChampion(pool, data.ticker);
  // A rewritten history (split) invalidates the champion's scale: fine-tuning becomes full training.
  const fullRetrainNeeded = await tickers.needsFullRetrain(pool, data.ticker);
  const warmStart: WarmStart | undefined =
    data.kind === 'fine-tune' && champion && !fullRetrainNeeded
      ? {
          artifact: { topology: champion.topology as object, weightSpecs: champion.weight_specs as object[], weights: new Uint8Array(champion.weights) },
          scaler: champion.scaler as ScalerJSON,
          config: champion.config as ModelConfig,
          alpha: champion.alpha,
          trainedThrough: champion.train_end,
        }
      : undefined;

  const result = await runTrainingInThread({ ticker: data.ticker, bars, config: deps.modelOverrides, warmStart }, { backend: deps.backend });
  const decision = promotionDecision(result, warmStart !== undefined);

  const version = await withTransaction(pool, async (tx) => {
    const v = await models.insertModelVersion(tx, toNewVersion(data, result, warmStart ? champion!.version : null), decision);
    if (decision.promote) {
      await tickers.clearFullRetrain(tx, data.ticker);
      await tx.query('SELECT pg_notify($1, $2)', [CHAMPION_CHANNEL, data.ticker]);
    }
    await jobs.markJobSucceeded(tx, data.job_id, v);
    return v;
  });
  deps.metrics.finalLoss.set({ ticker: data.ticker }, result.final_loss);
  log.info(
    { job_id: data.job_id, ticker: data.ticker, version, promoted: decision.promote, reason: decision.reason, mae: result.metrics.mae, naive_mae: result.baseline.mae, ms: result.duration_ms },
    'training job finished',
  );
  return version;
}

/**
 * Full training replaces the champion (someone asked for a new model). A fine-tuned challenger
 * is promoted only when its error on the most recent validation window is not worse than the
 * champion's on the very same window (MAE; MASE orders models the same on one window).
 */
export function promotionDecision(result: TrainResult, isFineTune: boolean): { promote: boolean; reason: string } {
  if (!isFineTune || !result.championMetricsOnSameWindow) return { promote: true, reason: 'full training' };
  const challenger = result.metrics.mae;
  const champion = result.championMetricsOnSameWindow.mae;
  return challenger <= champion
    ? { promote: true, reason: `fine-tune not worse than champion on ${result.validation_range.start}..${result.validation_range.end}: MAE ${fmt(challenger)} <= ${fmt(champion)}` }
    : { promote: false, reason: `fine-tune worse than champion on ${result.validation_range.start}..${result.validation_range.end}: MAE ${fmt(challenger)} > ${fmt(champion)}` };
}

const fmt = (x: number) => x.toPrecision(5);
const pick = (e: { mae: number; rmse: number; mape: number }) => ({ mae: e.mae, rmse: e.rmse, mape: e.mape });

function toNewVersion(data: TrainingJobData, r: TrainResult, parent: number | null): models.NewModelVersion {
  return {
    ticker: data.ticker,
    kind: parent === null ? 'train' : 'fine-tune',
    parent_version: parent,
    job_id: data.job_id,
    topology: r.artifact.topology,
    weight_specs: r.artifact.weightSpecs,
    weights: r.artifact.weights,
    scaler: r.scaler,
    config: r.config as unknown as Record<string, unknown>,
    alpha: r.alpha,
    metrics: pick(r.metrics),
    baseline: pick(r.baseline),
    evaluation: {
      skill: r.skill,
      skill_all_steps: r.skill_all_steps,
      metrics: r.metrics,
      baselines: r.baselines,
      champion_on_same_window: r.championMetricsOnSameWindow ?? null,
      n_train: r.n_train,
      n_val: r.n_val,
      best_epoch: r.best_epoch,
      final_val_loss: r.final_val_loss,
      mode: r.mode,
    },
    train_start: r.train_range.start,
    train_end: r.train_range.end,
    validation_start: r.validation_range.start,
    validation_end: r.validation_range.end,
    epochs: r.epochs_run,
    final_loss: r.final_loss,
    duration_ms: r.duration_ms,
    backend: r.backend,
  };
}
