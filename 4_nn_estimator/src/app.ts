import type PgBoss from 'pg-boss';
import { createServiceApp, type Pool } from '@stocks/common';
import { type EstimatorEnv, modelOverrides } from './config.ts';
import { createEstimatorMetrics } from './metrics.ts';
import { jobRoutes, trainingRoutes } from './routes/training.ts';
import { modelRoutes } from './routes/models.ts';
import { predictRoutes } from './routes/predict.ts';
import { ChampionCache, listenForChampionChanges } from './serving.ts';
import { startTrainingWorker } from './training-worker.ts';

export interface BuildOptions {
  env: EstimatorEnv;
  pool: Pool;
  boss: PgBoss;
  /** TensorFlow.js backend already initialised by the caller (see model/backend.ts). */
  backend: string;
  logger?: boolean;
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
  const metrics = createEstimatorMetrics(app.registry, pool);
  metrics.backendInfo.set({ backend }, 1);

  const champions = new ChampionCache(pool, backend);
  const queue = { retryLimit: env.JOB_RETRY_LIMIT, expireInSeconds: env.JOB_TIMEOUT_SECONDS };
  const overrides = modelOverrides(env);
  await app.register(trainingRoutes, { boss, queue, modelOverrides: overrides });
  await app.register(jobRoutes);
  await app.register(modelRoutes);
  await app.register(predictRoutes, { champions, metrics });

  const listener = listenForChampionChanges(env.DATABASE_URL, champions, app.log);
  app.addHook('onClose', async () => { await listener.close(); });

  if (env.ESTIMATOR_ROLE !== 'api') {
    await startTrainingWorker({ pool, boss, log: app.log, metrics, backend, modelOverrides: overrides, trainMaxBars: env.TRAIN_MAX_BARS });
  }
  return Object.assign(app, { champions });
}
