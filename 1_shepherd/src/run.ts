import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import { lastCompletedTradingDay, type Pool } from '@stocks/common';
import { models, prices, runs, trySessionLock, type RunStatus, type RunTrigger } from '@stocks/db';
import { estimatorClient, type Job, loaderClient } from './clients/index.ts';
import type { ShepherdMetrics } from './metrics.ts';
import { planTicker } from './policy.ts';

export interface RunDeps {
  pool: Pool;
  log: FastifyBaseLogger;
  metrics: ShepherdMetrics;
  loadDataUrl: string;
  estimatorUrl: string;
  apiToken?: string;
  initialHistoryYears: number;
  jobWaitTimeoutMs: number;
  jobPollIntervalMs: number;
  now?: () => Date;
}

const HOST = `${hostname()}:${process.pid}`;
const RUN_LOCK = 'shepherd-run';
const TICKER_LOCK = 'shepherd-ticker';

/**
 * Record a run and carry it out in the background; returns its id at once. The run's
 * advisory lock tells other replicas it is alive (see closeAbandonedRuns).
 */
export async function startRun(deps: RunDeps, trigger: RunTrigger, watchlist: string[]): Promise<{ id: number; done: Promise<RunStatus> }> {
  const run = await runs.createRun(deps.pool, trigger, watchlist, HOST);
  const alive = await trySessionLock(deps.pool, RUN_LOCK, String(run.id));
  const done = executeRun(deps, run.id, watchlist)
    .catch(async (err: Error) => {
      deps.log.error({ err, run_id: run.id }, 'run failed');
      await runs.finishRun(deps.pool, run.id, 'failed', err.message).catch(() => {});
      return 'failed' as const;
    })
    .finally(() => alive?.release());
  return { id: run.id, done };
}

/** Runs still 'running' whose process is gone (no one holds their lock) are closed as failed. */
export async function closeAbandonedRuns(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM shepherd_runs WHERE status = 'running'`);
  let closed = 0;
  for (const { id } of rows) {
    const lock = await trySessionLock(pool, RUN_LOCK, String(id));
    if (!lock) continue;
    await runs.finishRun(pool, id, 'failed', 'abandoned: the shepherd process stopped during the run');
    await lock.release();
    closed++;
  }
  return closed;
}

async function executeRun(deps: RunDeps, runId: number, watchlist: string[]): Promise<RunStatus> {
  const log = deps.log.child({ run_id: runId });
  log.info({ watchlist }, 'run started');
  const outcomes: Array<'ok' | 'failed' | 'skipped'> = [];
  // One ticker at a time: the loader and the estimator are shared with other users.
  for (const ticker of watchlist) {
    outcomes.push(await shepherdTicker(deps, runId, ticker, log));
  }
  const failed = outcomes.filter((o) => o === 'failed').length;
  const status: RunStatus = failed === 0 ? 'succeeded' : failed === outcomes.length ? 'failed' : 'partial';
  await runs.finishRun(deps.pool, runId, status, failed ? `${failed} of ${outcomes.length} tickers failed` : undefined);
  deps.metrics.runs.inc({ status });
  log.info({ status }, 'run finished');
  return status;
}

async function shepherdTicker(deps: RunDeps, runId: number, ticker: string, log: FastifyBaseLogger): Promise<'ok' | 'failed' | 'skipped'> {
  const record = async (step: string, status: 'succeeded' | 'failed' | 'skipped', started: Date, detail: Record<string, unknown> = {}, error?: string) => {
    deps.metrics.steps.inc({ step, status });
    await runs.recordStep(deps.pool, { run_id: runId, ticker, step, status, detail, error, started_at: started });
  };
  const lockStarted = new Date();
  const lock = await trySessionLock(deps.pool, TICKER_LOCK, ticker);
  if (!lock) {
    await record('lock', 'skipped', lockStarted, {}, 'another shepherd is working on this ticker');
    return 'skipped';
  }
  let step = 'plan';
  let started = new Date();
  try {
    const coverage = await prices.getCoverage(deps.pool, ticker);
    const hasModel = (await models.getChampionVersion(deps.pool, ticker)) !== undefined;
    const planInput = {
      newestStored: coverage?.last_date,
      lastCompletedTradingDay: lastCompletedTradingDay(ticker, deps.now?.()),
      hasModel,
      initialHistoryYears: deps.initialHistoryYears,
    };
    const plan = planTicker(planInput);
    const ctx = { requestId: `shepherd-run-${runId}-${ticker}`, token: deps.apiToken };
    const estimator = estimatorClient(deps.estimatorUrl);
    let newBars = 0;
    if (plan.load) {
      step = 'load';
      started = new Date();
      const loaded = await loaderClient(deps.loadDataUrl).load({ ticker, ...plan.load }, ctx);
      newBars = loaded.inserted + loaded.updated;
      await record('load', 'succeeded', started, { ...plan.load, ...loaded });
    } else {
      await record('load', 'skipped', started, { newest_stored: coverage?.last_date }, undefined);
    }

    // New bars for a champion: ask the estimator's monitoring (drift, live error against naive)
    // whether a fine-tune is enough, then decide with the same pure policy.
    let decided = plan;
    let monitoringDetail: Record<string, unknown> = {};
    if (plan.training === 'fine-tune-if-new-data' && newBars > 0) {
      try {
        const m = await estimator.monitoring(ticker, { requestId: ctx.requestId });
        decided = planTicker({ ...planInput, monitoring: { fullRetrainAdvised: m.retrain.full_retrain_advised, reasons: m.retrain.reasons } });
        monitoringDetail = {
          monitoring: {
            drift_detected: m.drift.detected, drift_p_value: m.drift.p_value, drift_threshold: m.drift.threshold,
            champion_worse_than_naive: m.champion_live?.worse_than_naive ?? null,
          },
        };
      } catch (err) {
        // Monitoring is advice: without it the champion is fine-tuned as before.
        monitoringDetail = { monitoring_error: (err as Error).message };
      }
    }
    const kind = decided.training === 'train' || (decided.training === 'retrain-if-new-data' && newBars > 0)
      ? 'train'
      : decided.training === 'fine-tune-if-new-data' && newBars > 0 ? 'fine-tune' : undefined;
    if (!kind) {
      await record('train', 'skipped', new Date(), { reason: hasModel ? 'no new bars since the champion' : 'no model' });
      return 'ok';
    }
    const reason = decided.training === 'retrain-if-new-data'
      ? `full retrain instead of a fine-tune: ${decided.retrainReasons!.join('; ')}`
      : kind === 'train' ? 'no model yet'
        : 'monitoring_error' in monitoringDetail ? 'new bars (monitoring unavailable: fine-tune)' : 'new bars; no drift and the champion is not worse than naive';
    step = kind;
    started = new Date();
    const job = await estimator.submit(kind, { ticker }, ctx);
    const final = await waitForJob(deps, job.job_id, ctx.requestId);
    if (final.status !== 'succeeded') throw new Error(`job ${job.job_id} ${final.status}: ${final.error ?? 'no error given'}`);
    await record(kind, 'succeeded', started, { job_id: job.job_id, model_version: final.model_version, reason, ...monitoringDetail });
    return 'ok';
  } catch (err) {
    const message = (err as Error).message;
    log.warn({ ticker, step, err: message }, 'ticker step failed');
    await record(step, 'failed', started, {}, message);
    return 'failed';
  } finally {
    await lock.release();
  }
}

async function waitForJob(deps: RunDeps, jobId: string, requestId: string): Promise<Job> {
  const deadline = Date.now() + deps.jobWaitTimeoutMs;
  for (;;) {
    let status = 'unknown';
    try {
      const job = await estimatorClient(deps.estimatorUrl).job(jobId, { requestId });
      if (job.status === 'succeeded' || job.status === 'failed') return job;
      status = job.status;
    } catch (err) {
      // The estimator restarting is no reason to give up on a durable job: keep polling.
      status = `unreachable (${(err as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${status} after ${Math.round(deps.jobWaitTimeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, deps.jobPollIntervalMs));
  }
}
