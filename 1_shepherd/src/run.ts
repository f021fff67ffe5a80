import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import { lastCompletedTradingDay, type Pool } from '@stocks/common';
import { models, prices, runs, trySessionLock, type RunStatus, type RunTrigger } from '@stocks/db';
import { estimatorClient, type Job, loaderClient } from './clients/index.ts';
import type { ShepherdMetrics } from './metrics.ts';
import { initialBackfill, planTicker } from './policy.ts';

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
  /** Tickers worked on at once (SHEPHERD_CONCURRENCY); each holds a ticker lock, i.e. one pool connection. Default 1. */
  concurrency?: number;
  /**
   * Full retrainings monitoring may ask for in one run (SHEPHERD_MAX_RETRAINS_PER_RUN); past it a
   * drifting champion is fine-tuned tonight and its retraining deferred to a later run. 0 = no limit.
   */
  maxRetrainsPerRun?: number;
  now?: () => Date;
}

const HOST = `${hostname()}:${process.pid}`;
const RUN_LOCK = 'shepherd-run';
const TICKER_LOCK = 'shepherd-ticker';

/** What starting a run gives back: the run now going on, either this call's or one already running. */
export interface StartedRun {
  id: number;
  tickers: string[];
  /** false when another run (of this or another replica) was already going: its id is answered. */
  started: boolean;
  /** Settles when this call's run has finished (undefined when `started` is false). */
  done?: Promise<RunStatus>;
}

/**
 * Record a run and carry it out in the background; returns its id at once. One run at a time
 * across replicas (a partial unique index): while one is running, its id is answered instead.
 * The run's advisory lock, taken before the row exists, tells other replicas it is alive (see
 * closeAbandonedRuns); a run found running with nobody holding its lock is closed as abandoned.
 */
export async function startRun(deps: RunDeps, trigger: RunTrigger, watchlist: string[]): Promise<StartedRun> {
  for (let attempt = 0; ; attempt++) {
    const id = await runs.nextRunId(deps.pool);
    const alive = await trySessionLock(deps.pool, RUN_LOCK, String(id));
    if (!alive) throw new Error(`run ${id}: its fresh lock is held by someone else`);
    const run = await runs.createRun(deps.pool, id, trigger, watchlist, HOST).catch(async (err: Error) => {
      await alive.release();
      throw err;
    });
    if (run) {
      const done = executeRun(deps, run.id, watchlist, alive.lost)
        .catch(async (err: Error) => {
          deps.log.error({ err, run_id: run.id }, 'run failed');
          await runs.finishRun(deps.pool, run.id, 'failed', err.message).catch(() => {});
          return 'failed' as const;
        })
        .finally(() => alive.release());
      return { id: run.id, tickers: watchlist, started: true, done };
    }
    await alive.release();
    const running = await runs.getRunningRun(deps.pool);
    if (running && !(await closeIfAbandoned(deps.pool, running.id))) {
      return { id: running.id, tickers: running.tickers, started: false };
    }
    // The running one finished or was abandoned in between: try again (bounded).
    if (attempt >= 3) throw new Error('could not start a run: runs kept starting and ending meanwhile');
  }
}

/** Runs still 'running' whose process is gone (no one holds their lock) are closed as failed. */
export async function closeAbandonedRuns(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM shepherd_runs WHERE status = 'running'`);
  let closed = 0;
  for (const { id } of rows) if (await closeIfAbandoned(pool, id)) closed++;
  return closed;
}

async function closeIfAbandoned(pool: Pool, id: number): Promise<boolean> {
  const lock = await trySessionLock(pool, RUN_LOCK, String(id));
  if (!lock) return false;
  try {
    return await runs.finishRun(pool, id, 'failed', 'abandoned: the shepherd process stopped during the run');
  } finally {
    await lock.release();
  }
}

type Outcome = 'ok' | 'failed' | 'skipped';

/** skipped: nothing was done (every ticker locked by another shepherd); failed: nothing succeeded. */
export function runStatus(outcomes: Outcome[]): Exclude<RunStatus, 'running'> {
  const failed = outcomes.filter((o) => o === 'failed').length;
  const ok = outcomes.filter((o) => o === 'ok').length;
  if (failed === 0) return ok === 0 ? 'skipped' : 'succeeded';
  return ok === 0 ? 'failed' : 'partial';
}

async function executeRun(deps: RunDeps, runId: number, watchlist: string[], runLockLost: AbortSignal): Promise<RunStatus> {
  const log = deps.log.child({ run_id: runId });
  const lanes = Math.max(1, Math.min(deps.concurrency ?? 1, watchlist.length));
  log.info({ watchlist, lanes }, 'run started');
  const outcomes: Outcome[] = [];
  let lostConnection: Error | undefined;
  let next = 0;
  const retrains = { budget: deps.maxRetrainsPerRun || Infinity, used: 0 };
  // `lanes` tickers at a time, each one load -> (monitoring) -> job -> wait: while one ticker waits
  // for its training, others load and queue theirs, so every estimator worker has a job to take.
  // A ticker that fails is recorded and its lane takes the next one: it never holds up the others.
  const lane = async () => {
    while (next < watchlist.length && !lostConnection) {
      const ticker = watchlist[next++]!;
      const outcome = await shepherdTicker(deps, runId, ticker, log, runLockLost, retrains);
      outcomes.push(outcome === 'lost' ? 'failed' : outcome);
      if (outcome === 'lost' || runLockLost.aborted) {
        // A lock's connection dropped: the lock is gone, so this run can no longer be sure it is
        // alone. It ends here, failed (lanes finish the ticker they are on); the next tick starts afresh.
        lostConnection ??= (runLockLost.reason as Error | undefined) ?? new Error('lost the database connection holding a ticker lock');
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  let status = runStatus(outcomes);
  const failed = outcomes.filter((o) => o === 'failed').length;
  let error = failed ? `${failed} of ${outcomes.length} tickers failed` : status === 'skipped' ? 'every ticker was being worked on by another shepherd' : undefined;
  if (lostConnection) {
    status = 'failed';
    error = `${lostConnection.message}; the run stopped after ${outcomes.length} of ${watchlist.length} tickers`;
  }
  await runs.finishRun(deps.pool, runId, status, error);
  deps.metrics.runs.inc({ status });
  log.info({ status, failed }, 'run finished');
  return status;
}

/** Reject as soon as `signal` aborts, whatever `p` is waiting on. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

async function shepherdTicker(
  deps: RunDeps, runId: number, ticker: string, log: FastifyBaseLogger, runLockLost: AbortSignal,
  retrains: { budget: number; used: number },
): Promise<Outcome | 'lost'> {
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
  const lost = AbortSignal.any([runLockLost, lock.lost]);
  try {
    return await untilAborted(work(), lost);
  } catch (err) {
    const message = (err as Error).message;
    log.warn({ ticker, step, err: message }, 'ticker step failed');
    await record(step, 'failed', started, {}, message).catch((e: Error) => log.error({ err: e, ticker }, 'could not record the failed step'));
    return lost.aborted ? 'lost' : 'failed';
  } finally {
    await lock.release();
  }

  async function work(): Promise<Outcome> {
    const coverage = await prices.getCoverage(deps.pool, ticker);
    const hasModel = (await models.getChampionVersion(deps.pool, ticker)) !== undefined;
    const planInput = {
      newestStored: coverage?.last_date,
      lastCompletedTradingDay: lastCompletedTradingDay(ticker, deps.now?.()),
      hasModel,
      initialHistoryYears: deps.initialHistoryYears,
    };
    const plan = planTicker(planInput);
    const ctx = { requestId: `shepherd-run-${runId}-${ticker}`, token: deps.apiToken, signal: lost };
    const estimator = estimatorClient(deps.estimatorUrl);
    let newBars = 0;
    if (plan.load) {
      step = 'load';
      started = new Date();
      const loaded = await loaderClient(deps.loadDataUrl).load({ ticker, ...plan.load }, ctx);
      newBars = loaded.inserted + loaded.updated;
      await record('load', 'succeeded', started, { ...plan.load, ...loaded });
      const backfill = coverage ? undefined : initialBackfill(plan.load, loaded.last_date, deps.initialHistoryYears);
      if (backfill) {
        step = 'backfill';
        started = new Date();
        const more = await loaderClient(deps.loadDataUrl).load({ ticker, ...backfill }, { ...ctx, requestId: `${ctx.requestId}-backfill` });
        newBars += more.inserted + more.updated;
        await record('backfill', 'succeeded', started, { ...backfill, ...more, reason: `the source's newest bar is ${loaded.last_date}: ${deps.initialHistoryYears} years counted back from it` });
      }
    } else {
      await record('load', 'skipped', started, { newest_stored: coverage?.last_date }, undefined);
    }

    // New bars for a champion: ask the estimator's monitoring (drift, live error against naive)
    // whether a fine-tune is enough, then decide with the same pure policy.
    let decided = plan;
    let monitoringDetail: Record<string, unknown> = {};
    if (plan.training === 'fine-tune-if-new-data' && newBars > 0) {
      try {
        const m = await estimator.monitoring(ticker, { requestId: ctx.requestId, signal: lost });
        decided = planTicker({ ...planInput, monitoring: { fullRetrainAdvised: m.retrain.full_retrain_advised, reasons: m.retrain.reasons } });
        if (decided.training === 'retrain-if-new-data') {
          // Lanes run on one event loop: the check and the count cannot interleave.
          if (retrains.used < retrains.budget) retrains.used++;
          else {
            monitoringDetail.retrain_deferred = `full retraining deferred: this run's ${retrains.budget} (SHEPHERD_MAX_RETRAINS_PER_RUN) are taken; advised because ${decided.retrainReasons!.join('; ')}`;
            decided = plan;
          }
        }
        monitoringDetail = {
          ...monitoringDetail,
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
        : 'monitoring_error' in monitoringDetail ? 'new bars (monitoring unavailable: fine-tune)'
          : 'retrain_deferred' in monitoringDetail ? `new bars; ${monitoringDetail.retrain_deferred as string}` : 'new bars; no drift and the champion is not worse than naive';
    step = kind;
    started = new Date();
    const job = await estimator.submit(kind, { ticker }, ctx);
    const final = await waitForJob(deps, job.job_id, ctx.requestId, lost);
    if (final.status !== 'succeeded') throw new Error(`job ${job.job_id} ${final.status}: ${final.error ?? 'no error given'}`);
    await record(kind, 'succeeded', started, { job_id: job.job_id, model_version: final.model_version, reason, ...monitoringDetail });
    return 'ok';
  }
}

async function waitForJob(deps: RunDeps, jobId: string, requestId: string, signal: AbortSignal): Promise<Job> {
  const deadline = Date.now() + deps.jobWaitTimeoutMs;
  for (;;) {
    signal.throwIfAborted();
    let status = 'unknown';
    try {
      const job = await estimatorClient(deps.estimatorUrl).job(jobId, { requestId, signal });
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
