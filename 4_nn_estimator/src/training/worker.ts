import { hostname } from 'node:os';
import type PgBoss from 'pg-boss';
import type { FastifyBaseLogger } from 'fastify';
import { type Pool, withTransaction } from '@stocks/common';
import { backtests, jobs, models, prices, tickers } from '@stocks/db';
import type { EstimatorMetrics } from '../metrics.ts';
import type { BacktestInput, BacktestResult } from '../model/backtest.ts';
import type { TrainInput, TrainResult, WarmStart } from '../model/train.ts';
import { type ModelConfig, resolveModelConfig } from '../model/config.ts';
import { minimumBarsForTraining } from '../model/dataset.ts';
import type { ScalerJSON } from '../model/scaler.ts';
import { storedBandsSchema, type StoredBands } from '../model/bands/band-schemas.ts';
import { promotionDecision } from './promotion.ts';
import { releaseJob, TRAINING_QUEUE, type TrainingJobData } from './queue.ts';
import { prewarmTrainingThread, runBacktestInThread, runTrainingInThread, TrainingAbortedError } from './runner.ts';

export interface TrainingWorkerDeps {
  pool: Pool;
  boss: PgBoss;
  log: FastifyBaseLogger;
  metrics: EstimatorMetrics;
  backend: string;
  modelOverrides: Partial<ModelConfig>;
  trainMaxBars: number;
  /** Refit the band models on a fine-tune instead of carrying the champion's over (FINE_TUNE_REFIT_BANDS). */
  fineTuneRefitBands?: boolean;
  /** How a fit runs; default a worker thread. Tests inject their own (e.g. a sabotaged fine-tune). */
  train?: (input: TrainInput, opts?: { signal?: AbortSignal }) => Promise<TrainResult>;
  /** How a backtest runs; default a worker thread. */
  backtest?: (input: BacktestInput, opts?: { signal?: AbortSignal }) => Promise<BacktestResult>;
}

const WORKER_ID = `${hostname()}:${process.pid}`;

/** A running worker; stop() is its graceful shutdown (server.ts calls it on SIGTERM). */
export interface TrainingWorker {
  /**
   * Stop taking jobs; abort the running fit (its thread is terminated), hand its job back to the
   * queue without spending a retry (another worker takes it after retryDelay, not after the lease)
   * and put its training_jobs row back to 'queued'. Resolves when the job has been released.
   */
  stop(): Promise<void>;
}

/** A job that no retry can make succeed (its data is missing): failed at once, not retried. */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

/** The abort reasons: the process is shutting down, or the attempt ran out of lease. */
class WorkerShutdown extends Error {
  override readonly name = 'WorkerShutdown';
}
class LeaseExpired extends Error {
  override readonly name = 'LeaseExpired';
}

/** What one attempt carries: its cancellation and, once running, the fence it writes under. */
interface Attempt {
  signal: AbortSignal;
  fence?: jobs.JobFence;
}

/** Reject as soon as `signal` aborts, even if `p` (e.g. an injected fit) ignores it. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new TrainingAbortedError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new TrainingAbortedError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

/**
 * Take training jobs from the queue, one at a time (TF.js fits must not overlap in a process).
 * The fit itself runs in a worker thread; this thread only moves data and writes the result.
 */
export async function startTrainingWorker(deps: TrainingWorkerDeps): Promise<TrainingWorker> {
  let stopping = false;
  let current: { controller: AbortController; done: Promise<unknown> } | undefined;

  // Take jobs only once the training thread is warm: a job's time (and lease) is then training.
  if (!deps.train) {
    await prewarmTrainingThread({ backend: deps.backend }).then(
      (backend) => deps.log.info({ backend }, 'training thread warm'),
      (err) => deps.log.warn({ err }, 'could not prewarm the training thread; the first job will start it'),
    );
  }

  await deps.boss.work<TrainingJobData>(
    TRAINING_QUEUE,
    { batchSize: 1, pollingIntervalSeconds: 1, includeMetadata: true },
    async ([job]) => {
      if (!job) return;
      const controller = new AbortController();
      // Give up a little before pg-boss's lease ends: a fit still running then would race the
      // retry on another worker. (pg-boss also stops waiting at the lease, but cannot stop a fit.)
      const leaseMs = job.expireInSeconds * 1000;
      const lease = setTimeout(
        () => controller.abort(new LeaseExpired(`training exceeded its lease of ${job.expireInSeconds} s (JOB_TIMEOUT_SECONDS)`)),
        Math.max(leaseMs - Math.min(5_000, leaseMs / 10), 1_000),
      );
      lease.unref();
      if (stopping) controller.abort(new WorkerShutdown('the worker was stopping when it fetched the job'));
      const attempt: Attempt = { signal: controller.signal };
      const done = handle(job, attempt).finally(() => clearTimeout(lease));
      current = { controller, done };
      try {
        return await done;
      } finally {
        current = undefined;
      }
    },
  );

  async function handle(job: PgBoss.JobWithMetadata<TrainingJobData>, attempt: Attempt) {
    const final = job.retryCount >= job.retryLimit;
    const stop = deps.metrics.trainingDuration.startTimer({ kind: job.data.kind });
    try {
      attempt.fence = await jobs.markJobRunning(deps.pool, job.data.job_id, WORKER_ID);
      if (!attempt.fence) {
        // A redelivered message of a job that already succeeded (or failed for good): its result
        // is stored; training again would save a second version.
        deps.log.warn({ job_id: job.data.job_id, ticker: job.data.ticker }, 'job already finished; redelivery ignored');
        return { already_finished: true };
      }
      if (job.data.kind === 'backtest') {
        const id = await runBacktestJob(deps, job.data, attempt);
        deps.metrics.jobsFinished.inc({ kind: job.data.kind, status: 'succeeded' });
        stop();
        return { backtest_id: id };
      }
      const version = await runJob(deps, job.data, attempt);
      deps.metrics.jobsFinished.inc({ kind: job.data.kind, status: 'succeeded' });
      stop();
      return { model_version: version };
    } catch (err) {
      const message = (err as Error).message;
      if (attempt.signal.reason instanceof WorkerShutdown) {
        // Interrupted, not failed: back to the queue for another worker, retries untouched.
        deps.log.warn({ job_id: job.data.job_id, ticker: job.data.ticker }, 'worker stopping: training job released to the queue');
        await jobs.markJobFailed(deps.pool, job.data.job_id, 'released: the worker shut down during the attempt; another worker will retry it', false, attempt.fence);
        await releaseJob(deps.boss, job.id, 'worker shut down');
        throw err;
      }
      if (err instanceof jobs.JobLostError) {
        deps.log.warn({ job_id: job.data.job_id, ticker: job.data.ticker }, message);
        throw err; // another attempt owns the job; this one writes nothing
      }
      const permanent = err instanceof PermanentJobError;
      deps.log.error({ err, job_id: job.data.job_id, ticker: job.data.ticker, final, permanent }, 'training job failed');
      await jobs.markJobFailed(deps.pool, job.data.job_id, message, final || permanent, attempt.fence);
      if (final || permanent) deps.metrics.jobsFinished.inc({ kind: job.data.kind, status: 'failed' });
      // An error that cannot go away (no prices up to end_date) is not retried: the job is done.
      if (permanent) return { failed: message };
      throw err; // pg-boss retries with backoff until retryLimit
    }
  }

  return {
    async stop() {
      stopping = true;
      await deps.boss.offWork(TRAINING_QUEUE);
      const running = current;
      if (!running) return;
      running.controller.abort(new WorkerShutdown('the worker is shutting down'));
      await running.done.catch(() => {});
    },
  };
}

async function runJob(deps: TrainingWorkerDeps, data: TrainingJobData, attempt: Attempt): Promise<number> {
  const { pool, log } = deps;
  log.info({ job_id: data.job_id, kind: data.kind, ticker: data.ticker }, 'training job started');

  const bars = await prices.getRecentPrices(pool, data.ticker, deps.trainMaxBars, data.end_date);
  const needed = minimumBarsForTraining(resolveModelConfig(deps.modelOverrides));
  if (bars.length < needed) {
    throw new PermanentJobError(`${data.ticker} has ${bars.length} stored bars${data.end_date ? ` up to ${data.end_date}` : ''}; training needs at least ${needed}`);
  }

  const champion = await models.getChampion(pool, data.ticker);
  if (data.kind === 'fine-tune' && champion && bars.at(-1)!.date <= models.lastBarSeen(champion)) {
    // Queued before a check could refuse it (or the bars were removed since): no new version for no new data.
    await withTransaction(pool, (tx) => jobs.markJobSucceeded(tx, data.job_id, champion.version, attempt.fence));
    log.info({ job_id: data.job_id, ticker: data.ticker, champion: champion.version }, 'fine-tune skipped: no bars after the champion\'s last one');
    return champion.version;
  }
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
          bands: carriedBands(champion.evaluation, deps.fineTuneRefitBands),
        }
      : undefined;

  const train = deps.train ?? ((input: TrainInput, o?: { signal?: AbortSignal }) => runTrainingInThread(input, { backend: deps.backend, signal: o?.signal }));
  const result = await untilAborted(train({ ticker: data.ticker, bars, config: deps.modelOverrides, warmStart }, { signal: attempt.signal }), attempt.signal);
  const decision = promotionDecision(result, warmStart !== undefined);

  const version = await withTransaction(pool, async (tx) => {
    const v = await models.insertModelVersion(tx, toNewVersion(data, result, warmStart ? champion!.version : null), decision);
    // A promotion is announced to every replica by the trigger on `models` (migration 005).
    if (decision.promote) await tickers.clearFullRetrain(tx, data.ticker);
    await jobs.markJobSucceeded(tx, data.job_id, v, attempt.fence);
    return v;
  });
  deps.metrics.finalLoss.set({ ticker: data.ticker }, result.final_loss);
  log.info(
    { job_id: data.job_id, ticker: data.ticker, version, promoted: decision.promote, reason: decision.reason, mae: result.metrics.mae, naive_mae: result.baseline.mae, ms: result.duration_ms },
    'training job finished',
  );
  return version;
}

/** The champion's stored band models when a fine-tune carries them over; undefined when they are to be refitted. */
function carriedBands(evaluation: Record<string, unknown>, refit: boolean | undefined): StoredBands | undefined {
  if (refit) return undefined;
  const parsed = storedBandsSchema.safeParse(evaluation.bands);
  return parsed.success ? parsed.data : undefined;
}

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
      intervals: r.intervals,
      bands: r.bands ?? null,
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

async function runBacktestJob(deps: TrainingWorkerDeps, data: TrainingJobData, attempt: Attempt): Promise<number> {
  const { pool, log } = deps;
  const origins = data.origins ?? 20;
  const horizon = data.horizon ?? 5;
  log.info({ job_id: data.job_id, ticker: data.ticker, origins, horizon }, 'backtest job started');
  // Enough for the first origin's training (trainMaxBars) plus the origins and their targets.
  const bars = await prices.getRecentPrices(pool, data.ticker, deps.trainMaxBars + origins + horizon);
  if (bars.length === 0) throw new PermanentJobError(`no stored prices for ${data.ticker}`);
  const input: BacktestInput = {
    ticker: data.ticker, bars, origins, horizon, retrainEvery: data.retrain_every, config: deps.modelOverrides, trainMaxBars: deps.trainMaxBars,
  };
  const run = deps.backtest ?? ((i: BacktestInput, o?: { signal?: AbortSignal }) => runBacktestInThread(i, { backend: deps.backend, signal: o?.signal }));
  const result = await untilAborted(run(input, { signal: attempt.signal }), attempt.signal);
  const id = await withTransaction(pool, async (tx) => {
    const row = await backtests.insertBacktest(tx, toBacktestRow(result, data.job_id, 'db'));
    await jobs.markJobSucceeded(tx, data.job_id, null, attempt.fence);
    return row;
  });
  log.info({ job_id: data.job_id, ticker: data.ticker, backtest_id: id, mase: result.aggregates.model.mase, ms: result.duration_ms }, 'backtest job finished');
  return id;
}

export function toBacktestRow(r: BacktestResult, jobId: string | null, source: string): import('@stocks/db').NewBacktest {
  return {
    ticker: r.ticker,
    job_id: jobId,
    source,
    params: r.params,
    config: r.config as unknown as Record<string, unknown>,
    first_origin: r.first_origin,
    last_origin: r.last_origin,
    n_origins: r.n_origins,
    retrains: r.retrains,
    aggregates: r.aggregates,
    coverage: r.coverage,
    bands: r.bands as unknown as Record<string, unknown>,
    fits: r.fits,
    per_origin: r.per_origin,
    duration_ms: r.duration_ms,
    backend: r.backend,
  };
}
