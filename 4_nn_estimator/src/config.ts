import { z } from 'zod';
import { baseEnvSchema, loadEnv, port } from '@stocks/common';

export const estimatorEnvSchema = baseEnvSchema.extend({
  PORT: port(8002),
  /** api: HTTP only; worker: trains jobs from the queue (still answers /health and /metrics); both. */
  ESTIMATOR_ROLE: z.enum(['api', 'worker', 'both']).default('both'),
  TF_BACKEND: z.enum(['tensorflow', 'wasm', 'cpu']).optional(),
  TRAIN_EPOCHS: z.coerce.number().int().min(1).max(1000).optional(),
  MODEL_WINDOW: z.coerce.number().int().min(5).max(250).optional(),
  MODEL_UNITS: z.coerce.number().int().min(1).max(512).optional(),
  /** Epochs without improvement before a fit stops early (the model's default: 5). */
  TRAIN_PATIENCE: z.coerce.number().int().min(1).max(1000).optional(),
  /** Most recent bars a full training uses (~10 years); older history adds time, not skill. */
  TRAIN_MAX_BARS: z.coerce.number().int().min(100).default(2520),
  /**
   * A fine-tune refits the band models (GARCH-t, learned scale network, conformal) like a full
   * training (+5-15 s each); false (default) carries the champion's over unchanged, which keeps a
   * nightly refresh of a universe cheap (docs/operations-scaling.md). A full training always refits.
   */
  FINE_TUNE_REFIT_BANDS: z.enum(['true', 'false']).default('false').transform((s) => s === 'true'),
  /** A training attempt longer than this is presumed dead and retried by another worker. */
  JOB_TIMEOUT_SECONDS: z.coerce.number().int().min(10).default(3600),
  JOB_RETRY_LIMIT: z.coerce.number().int().min(0).max(10).default(2),
  /**
   * How often the queue's maintenance runs (one replica at a time). It is what notices a job whose
   * worker died (lease past JOB_TIMEOUT_SECONDS) and schedules its retry. pg-boss's default 120 s.
   */
  QUEUE_MAINTENANCE_SECONDS: z.coerce.number().int().min(1).max(3600).default(120),
  /** Monitoring (docs/monitoring.md): drift when the KS test of recent vs training-window daily returns has p below this. */
  DRIFT_THRESHOLD: z.coerce.number().gt(0).lt(1).default(0.01),
  /** Recent window of the drift test, in daily returns. */
  DRIFT_RECENT_DAYS: z.coerce.number().int().min(20).max(1000).default(60),
  /** Realised forecasts a champion needs in the last 20 trading days before "worse than naive" is judged. */
  LIVE_MIN_REALISED: z.coerce.number().int().min(1).default(10),
  /** POST /predict per client IP and minute, apart from writes (0 = no limit). */
  PREDICT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** POST /predict worked on at once; more wait for a slot (body unread), then answer 503 + Retry-After. */
  PREDICT_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1024).default(16),
  /** How long a POST /predict past PREDICT_MAX_IN_FLIGHT waits for a slot before its 503 (0 = shed at once). */
  PREDICT_ADMISSION_WAIT_MS: z.coerce.number().int().min(0).max(30_000).default(1_000),
});

export type EstimatorEnv = z.infer<typeof estimatorEnvSchema>;
export const loadEstimatorEnv = (env: NodeJS.ProcessEnv = process.env): EstimatorEnv => loadEnv(estimatorEnvSchema, env);

/** Hyper-parameters set from the environment; the rest keep the model's defaults. */
export function modelOverrides(env: EstimatorEnv): Record<string, number> {
  const o: Record<string, number> = {};
  if (env.TRAIN_EPOCHS) o.epochs = env.TRAIN_EPOCHS;
  if (env.MODEL_WINDOW) o.window = env.MODEL_WINDOW;
  if (env.MODEL_UNITS) o.units = env.MODEL_UNITS;
  if (env.TRAIN_PATIENCE) o.patience = env.TRAIN_PATIENCE;
  return o;
}
