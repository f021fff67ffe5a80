import * as tf from '@tensorflow/tfjs';
import { type Pool, promClient, type Registry } from '@stocks/common';
import { jobs, models, type ModelSummary } from '@stocks/db';

export type EstimatorMetrics = ReturnType<typeof createEstimatorMetrics>;

/**
 * Gauges about models and jobs are read from Postgres on scrape, so every replica reports the
 * same truth instead of what it happened to do itself.
 */
export function createEstimatorMetrics(registry: Registry, pool: Pool) {
  const r = [registry];
  // One query per scrape for the four champion gauges (prom-client collects them concurrently).
  let championsRead: { at: number; rows: Promise<ModelSummary[]> } | undefined;
  const champions = () => {
    if (!championsRead || Date.now() - championsRead.at > 1_000) {
      championsRead = { at: Date.now(), rows: models.listChampions(pool).catch(() => []) };
    }
    return championsRead.rows;
  };
  const m = {
    jobsFinished: new promClient.Counter({ name: 'training_jobs_total', help: 'Finished training jobs by kind and status', labelNames: ['kind', 'status'] as const, registers: r }),
    jobs: new promClient.Gauge({
      name: 'training_jobs', help: 'Training jobs by status (queued|running)', labelNames: ['status'] as const, registers: r,
      async collect() {
        const counts = await jobs.countJobsByStatus(pool).catch(() => []);
        for (const status of ['queued', 'running'] as const) {
          this.set({ status }, counts.filter((c) => c.status === status).reduce((sum, c) => sum + c.count, 0));
        }
      },
    }),
    trainingDuration: new promClient.Histogram({ name: 'training_duration_seconds', help: 'Wall time of a training job', labelNames: ['kind'] as const, buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800], registers: r }),
    finalLoss: new promClient.Gauge({ name: 'training_final_loss', help: 'Final training loss of the newest version', labelNames: ['ticker'] as const, registers: r }),
    championVersion: new promClient.Gauge({
      name: 'model_champion_version', help: 'Champion model version per ticker', labelNames: ['ticker'] as const, registers: r,
      async collect() { for (const c of await champions()) this.set({ ticker: c.ticker }, c.version); },
    }),
    validationMae: new promClient.Gauge({
      name: 'model_validation_mae', help: 'Validation MAE of the champion and of naive on the same window', labelNames: ['ticker', 'model'] as const, registers: r,
      async collect() {
        for (const c of await champions()) {
          this.set({ ticker: c.ticker, model: 'champion' }, c.metrics.mae);
          this.set({ ticker: c.ticker, model: 'naive' }, c.baseline.mae);
        }
      },
    }),
    validationMape: new promClient.Gauge({
      name: 'model_validation_mape', help: 'Validation MAPE (%) of the champion and of naive', labelNames: ['ticker', 'model'] as const, registers: r,
      async collect() {
        for (const c of await champions()) {
          this.set({ ticker: c.ticker, model: 'champion' }, c.metrics.mape);
          this.set({ ticker: c.ticker, model: 'naive' }, c.baseline.mape);
        }
      },
    }),
    skill: new promClient.Gauge({
      name: 'model_skill_vs_naive', help: '1 - champion MAE / naive MAE on validation; below 0 is worse than naive', labelNames: ['ticker'] as const, registers: r,
      async collect() { for (const c of await champions()) if (c.baseline.mae > 0) this.set({ ticker: c.ticker }, 1 - c.metrics.mae / c.baseline.mae); },
    }),
    forecasts: new promClient.Counter({ name: 'forecast_requests_total', help: 'Forecasts answered by endpoint and outcome', labelNames: ['endpoint', 'outcome'] as const, registers: r }),
    cacheHits: new promClient.Counter({ name: 'forecast_cache_hits_total', help: 'Forecasts answered from memory', registers: r }),
    cacheMisses: new promClient.Counter({ name: 'forecast_cache_misses_total', help: 'Forecasts that had to be computed', registers: r }),
    forecastBatches: new promClient.Counter({ name: 'forecast_batches_total', help: 'Forward passes run for POST /predict micro-batches', registers: r }),
    forecastBatchSize: new promClient.Histogram({ name: 'forecast_batch_size', help: 'Requests per POST /predict micro-batch', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: r }),
    inferenceEngine: new promClient.Counter({
      name: 'forecast_engine_loads_total', help: 'Champions loaded, by the engine that serves them (compiled, or tfjs after a failed or impossible check)',
      labelNames: ['engine', 'reason'] as const, registers: r,
    }),
    compiledMaxDiff: new promClient.Gauge({ name: 'forecast_compiled_max_abs_diff', help: 'Max abs difference compiled vs TF.js at the last load of the ticker\'s champion', labelNames: ['ticker'] as const, registers: r }),
    backendInfo: new promClient.Gauge({ name: 'tfjs_backend_info', help: 'TensorFlow.js backend in use (value 1)', labelNames: ['backend'] as const, registers: r }),
    numTensors: new promClient.Gauge({
      name: 'tfjs_num_tensors', help: 'Live TensorFlow.js tensors in this process (a leak grows it)', registers: r,
      collect() { this.set(tf.memory().numTensors); },
    }),
  };
  // Start every known series at 0 so the first failure is an increase() alerts can see.
  for (const engine of ['compiled', 'tfjs']) m.inferenceEngine.inc({ engine, reason: engine === 'compiled' ? 'verified' : 'check_failed' }, 0);
  for (const kind of ['train', 'fine-tune', 'backtest']) for (const status of ['succeeded', 'failed']) m.jobsFinished.inc({ kind, status }, 0);
  return m;
}
