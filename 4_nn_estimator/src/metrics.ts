import { promClient, type Registry } from '@stocks/common';

export type EstimatorMetrics = ReturnType<typeof createEstimatorMetrics>;

export function createEstimatorMetrics(registry: Registry) {
  const r = [registry];
  return {
    jobsFinished: new promClient.Counter({ name: 'training_jobs_total', help: 'Finished training jobs by kind and status', labelNames: ['kind', 'status'] as const, registers: r }),
    jobs: new promClient.Gauge({ name: 'training_jobs', help: 'Training jobs by status (queued|running)', labelNames: ['status'] as const, registers: r }),
    trainingDuration: new promClient.Histogram({ name: 'training_duration_seconds', help: 'Wall time of a training job', labelNames: ['kind'] as const, buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800], registers: r }),
    finalLoss: new promClient.Gauge({ name: 'training_final_loss', help: 'Final training loss of the newest version', labelNames: ['ticker'] as const, registers: r }),
    championVersion: new promClient.Gauge({ name: 'model_champion_version', help: 'Champion model version per ticker', labelNames: ['ticker'] as const, registers: r }),
    validationMae: new promClient.Gauge({ name: 'model_validation_mae', help: 'Validation MAE of the champion and of naive on the same window', labelNames: ['ticker', 'model'] as const, registers: r }),
    validationMape: new promClient.Gauge({ name: 'model_validation_mape', help: 'Validation MAPE (%) of the champion and of naive', labelNames: ['ticker', 'model'] as const, registers: r }),
    skill: new promClient.Gauge({ name: 'model_skill_vs_naive', help: '1 - champion MAE / naive MAE on validation; below 0 is worse than naive', labelNames: ['ticker'] as const, registers: r }),
    forecasts: new promClient.Counter({ name: 'forecast_requests_total', help: 'Forecasts answered by endpoint and outcome', labelNames: ['endpoint', 'outcome'] as const, registers: r }),
    cacheHits: new promClient.Counter({ name: 'forecast_cache_hits_total', help: 'Forecasts answered from memory', registers: r }),
    cacheMisses: new promClient.Counter({ name: 'forecast_cache_misses_total', help: 'Forecasts that had to be computed', registers: r }),
    backendInfo: new promClient.Gauge({ name: 'tfjs_backend_info', help: 'TensorFlow.js backend in use (value 1)', labelNames: ['backend'] as const, registers: r }),
  };
}
