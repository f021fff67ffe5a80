import type PgBoss from 'pg-boss';
import { createServiceApp, type Pool } from '@stocks/common';
import { type EstimatorEnv, modelOverrides } from './config.ts';
import { createEstimatorMetrics } from './metrics.ts';
import { jobRoutes, trainingRoutes } from './routes/training.ts';
import { backtestRoutes } from './routes/backtests.ts';
import { modelRoutes } from './routes/models.ts';
import { predictRoutes } from './routes/predict.ts';
import { monitoringRoutes } from './routes/monitoring.ts';
import { createMonitoringMetrics } from './monitoring/metrics.ts';
import { TickerSeries } from './ticker-series.ts';
import { Monitor } from './monitoring/monitor.ts';
import { pageRoutes } from './routes/page.ts';
import { ChampionCache } from './serving/champion-cache.ts';
import { allOf, listenForChanges } from './serving/change-listener.ts';
import { ForecastService, type ForecastServiceOptions } from './serving/forecast-service.ts';
import { createJobAdmission } from './training/admission.ts';
import { startTrainingWorker, type TrainingWorkerDeps } from './training/worker.ts';

export interface BuildOptions {
  env: EstimatorEnv;
  pool: Pool;
  boss: PgBoss;
  /** TensorFlow.js backend already initialised by the caller (see training/backend.ts). */
  backend: string;
  logger?: boolean;
  /** Override how fits / backtests run (tests); default: a worker thread each. */
  train?: TrainingWorkerDeps['train'];
  backtest?: TrainingWorkerDeps['backtest'];
  /** Forecast cache and micro-batching knobs; `disableCompiled` serves with TF.js only. */
  serving?: ForecastServiceOptions & { disableCompiled?: boolean; compiledTolerance?: number };
}

/** The 4_nn_estimator app: HTTP API and, by role, the training worker. server.ts listens. */
export async function buildApp(opts: BuildOptions) {
  const { env, pool, boss, backend } = opts;
  const app = await createServiceApp({
    service: 'nn_estimator',
    description: 'Trains, evaluates and serves TensorFlow.js LSTM forecasts of daily closes.',
    pool,
    logLevel: env.LOG_LEVEL,
    logger: opts.logger,
    apiToken: env.API_TOKEN,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    readyExtras: () => ({ backend, role: env.ESTIMATOR_ROLE }),
  });
  const tickerSeries = new TickerSeries(pool, env.METRICS_TICKER_SERIES_MAX, env.METRICS_TICKERS);
  const metrics = createEstimatorMetrics(app.registry, pool, tickerSeries);
  metrics.backendInfo.set({ backend }, 1);

  const champions = new ChampionCache(pool, backend, {
    disableCompiled: opts.serving?.disableCompiled,
    compiledTolerance: opts.serving?.compiledTolerance,
    onEngine: ({ ticker, version, engine, check, reason }) => {
      metrics.inferenceEngine.inc({ engine, reason: engine !== 'tfjs' ? 'verified' : check ? 'check_failed' : 'not_compiled' });
      if (check) metrics.compiledMaxDiff.set({ ticker }, check.maxAbsDiff);
      if (engine !== 'tfjs') app.log.info({ ticker, version, max_abs_diff: check?.maxAbsDiff, windows: check?.windows }, 'champion loaded; compiled forward pass matches TF.js');
      else app.log.warn({ ticker, version, reason, max_abs_diff: check?.maxAbsDiff }, 'champion loaded; serving with TF.js (compiled path not used)');
    },
  });
  // Live monitoring: every GET /predict answer is recorded by the forecast service that served it.
  let monitoringMetrics: ReturnType<typeof createMonitoringMetrics> | undefined;
  const monitor = new Monitor(pool, {
    driftThreshold: env.DRIFT_THRESHOLD,
    driftRecentDays: env.DRIFT_RECENT_DAYS,
    minRealised: env.LIVE_MIN_REALISED,
    log: app.log,
    onRecorded: (outcome, points) => {
      monitoringMetrics?.writes.inc({ outcome });
      if (outcome === 'stored') monitoringMetrics?.recorded.inc(points);
      else monitoringMetrics?.recordErrors.inc();
    },
  });
  monitoringMetrics = createMonitoringMetrics(app.registry, pool, monitor, tickerSeries);
  const monitoringGauges = monitoringMetrics;
  app.addHook('onClose', async () => {
    monitoringGauges.close();
    await monitor.flush();
  });
  const forecasts = new ForecastService(pool, champions, metrics, app.log, opts.serving, monitor);
  const queue = { retryLimit: env.JOB_RETRY_LIMIT, expireInSeconds: env.JOB_TIMEOUT_SECONDS };
  const overrides = modelOverrides(env);
  // A worker-only replica trains; it must not also load every new champion and precompute
  // forecasts on each promotion (that work would grow with the number of workers).
  const serves = env.ESTIMATOR_ROLE !== 'worker';
  await app.register(monitoringRoutes, { monitor });
  if (serves) await app.register(pageRoutes);
  const admission = createJobAdmission({ pool, boss, queue, modelOverrides: overrides });
  await app.register(trainingRoutes, { admission });
  await app.register(jobRoutes);
  await app.register(modelRoutes);
  await app.register(backtestRoutes, { admission });
  if (serves) await app.register(predictRoutes, { forecasts, metrics, perMinute: env.PREDICT_RATE_LIMIT_PER_MINUTE, maxInFlight: env.PREDICT_MAX_IN_FLIGHT, admissionWaitMs: env.PREDICT_ADMISSION_WAIT_MS });

  // One LISTEN connection for promotions and price changes; forecasts are precomputed once it is
  // up, and the monitoring gauges recomputed for what changed.
  const listener = serves ? listenForChanges(env.DATABASE_URL, allOf(forecasts.handlers(), monitoringGauges.handlers()), app.log) : undefined;
  forecasts.live = () => listener?.connected ?? false;
  app.addHook('onClose', async () => {
    forecasts.close();
    await listener?.close();
  });

  if (env.ESTIMATOR_ROLE !== 'api') {
    const worker = await startTrainingWorker({ pool, boss, log: app.log, metrics, backend, modelOverrides: overrides, trainMaxBars: env.TRAIN_MAX_BARS, fineTuneRefitBands: env.FINE_TUNE_REFIT_BANDS, train: opts.train, backtest: opts.backtest });
    // On close (SIGTERM): stop taking jobs and release the running one at once, while the
    // in-flight HTTP requests finish; close waits for the release before the pool ends.
    let stopping: Promise<void> | undefined;
    app.addHook('preClose', async () => {
      stopping = worker.stop().catch((err) => app.log.error({ err }, 'could not release the running training job'));
    });
    app.addHook('onClose', async () => { await stopping; });
  }
  return Object.assign(app, { champions, forecasts, monitor, monitoringGauges, changeListener: listener });
}
