import { z } from 'zod';
import { isoDateSchema as isoDate, tickerSchema } from '@stocks/common';

export { tickerSchema };

export const MAX_HORIZON = 30;
const horizonSchema = z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(MAX_HORIZON, `must be at most ${MAX_HORIZON}`);

export const trainRequestSchema = z.object({
  ticker: tickerSchema,
  end_date: isoDate.optional().describe('Train on stored prices up to this day (inclusive); default all'),
}).strict();

export const fineTuneRequestSchema = z.object({ ticker: tickerSchema }).strict();

export const jobAcceptedSchema = z.object({ job_id: z.string().uuid(), status: z.enum(['queued', 'running']) });

export const jobParamsSchema = z.object({ id: z.string().uuid('must be a job id (UUID) as returned by POST /train') });

export const jobSchema = z.object({
  job_id: z.string(),
  kind: z.string(),
  ticker: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  model_version: z.number().optional(),
  backtest_id: z.number().optional().describe('Backtest jobs: the stored result, GET /backtests/:id'),
  error: z.string().optional(),
  attempts: z.number(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});

const errorMetricsSchema = z.object({ mae: z.number(), rmse: z.number(), mape: z.number().describe('percent') });
const scoredMetricsSchema = errorMetricsSchema.extend({
  mase: z.number().nullable().describe('MAE / naive MAE on the same windows, step 1 (naive = 1; below 1 beats naive)'),
  mase_all_steps: z.number().nullable().describe('Same over steps 1..horizon'),
});

export const modelSchema = z.object({
  version: z.number(),
  ticker: z.string(),
  kind: z.enum(['train', 'fine-tune']),
  parent_version: z.number().nullable(),
  champion: z.boolean(),
  status: z.string(),
  status_reason: z.string().nullable(),
  metrics: scoredMetricsSchema.describe('The model on the validation window, one step ahead (mase_all_steps: steps 1..horizon)'),
  baseline: errorMetricsSchema.describe('Naive last-value forecast on the same validation window'),
  baselines: z.object({ naive: scoredMetricsSchema, drift: scoredMetricsSchema, moving_average: scoredMetricsSchema }).nullable()
    .describe('Every baseline on exactly the model\'s validation windows; null for versions stored before baselines were kept'),
  intervals: z.object({
    method: z.string(),
    levels: z.array(z.number()),
    validation_windows: z.number(),
  }).nullable().describe('How the 80%/95% prediction intervals of this version were fitted; null when it has none'),
  skill_vs_naive: z.number().nullable().describe('1 - mae / naive mae; above 0 beats naive'),
  alpha: z.number().describe('Shrinkage of the predicted move toward naive, fitted on validation'),
  hyper_parameters: z.record(z.string(), z.unknown()),
  trained_range: z.object({ start: z.string(), end: z.string() }),
  validation_range: z.object({ start: z.string().nullable(), end: z.string().nullable() }),
  epochs: z.number().nullable(),
  final_loss: z.number().nullable(),
  duration_ms: z.number().nullable(),
  backend: z.string().nullable(),
  created_at: z.string(),
});

export const modelsQuerySchema = z.object({ ticker: tickerSchema });
export const modelsResponseSchema = z.object({ ticker: z.string(), models: z.array(modelSchema) });

export const predictQuerySchema = z.object({ ticker: tickerSchema, horizon: horizonSchema.default(1) });

const positive = z.number().finite().positive();
export const clientBarSchema = z.object({
  date: isoDate,
  close: positive,
  open: positive.nullable().optional(),
  high: positive.nullable().optional(),
  low: positive.nullable().optional(),
  volume: z.number().finite().nonnegative().nullable().optional(),
});

export const predictBodySchema = z.object({
  ticker: tickerSchema,
  bars: z.array(clientBarSchema).min(1, 'must hold at least one bar').max(5000, 'must hold at most 5000 bars')
    .refine((bars) => bars.every((b, i) => i === 0 || bars[i - 1]!.date < b.date), 'must be in strictly increasing date order (oldest first)'),
  horizon: horizonSchema.default(1),
}).strict();

export const forecastPointSchema = z.object({
  date: z.string(),
  close: z.number(),
  lower80: z.number().optional(),
  upper80: z.number().optional(),
  lower95: z.number().optional(),
  upper95: z.number().optional(),
});

export const forecastSchema = z.object({
  ticker: z.string(),
  model_version: z.number(),
  backend: z.string(),
  last_date: z.string(),
  alpha: z.number().optional().describe('Share of the network\'s predicted move that is served (0 = naive forecast)'),
  skill_vs_naive: z.number().nullable().optional().describe('1 - MAE / naive MAE on validation, step 1; above 0 beats naive'),
  forecast: z.array(forecastPointSchema).describe('lower/upper80 and lower/upper95: prediction intervals (absent for versions trained before intervals)'),
  computed_at: z.string().describe('When this forecast was computed (ISO 8601); GET answers from memory until prices or the champion change'),
  cached: z.boolean().describe('true when answered from the in-memory forecast cache'),
});

// ---- promotion, rollback, export

export const versionParamsSchema = z.object({
  version: z.coerce.number().int('must be a whole number').positive('must be a model version number from GET /models'),
});

export const rollbackBodySchema = z.object({ ticker: tickerSchema }).strict();

export const championChangeSchema = z.object({
  ticker: z.string(),
  champion_version: z.number(),
  previous_version: z.number().nullable(),
  action: z.enum(['manual-promote', 'rollback']),
});

export const exportSchema = z.object({
  modelJson: z.object({
    format: z.literal('layers-model'),
    generatedBy: z.string(),
    convertedBy: z.null(),
    modelTopology: z.record(z.string(), z.unknown()),
    weightsManifest: z.array(z.object({ paths: z.array(z.string()), weights: z.array(z.record(z.string(), z.unknown())) })),
  }).describe('model.json of the TF.js layers format; its weights file is weights.bin'),
  weightsBase64: z.string().describe('weights.bin, base64'),
  scaler: z.record(z.string(), z.unknown()).describe('Feature and target standardisation fitted on the training part'),
  metadata: z.record(z.string(), z.unknown()).describe('ticker, version, config, alpha, features, intervals, ranges'),
});

// ---- backtests

export const backtestRequestSchema = z.object({
  ticker: tickerSchema,
  origins: z.number().int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500').default(20)
    .describe('How many forecast origins: the last trading days whose targets exist'),
  horizon: horizonSchema.default(5),
  retrain_every: z.number().int('must be a whole number').min(1, 'must be at least 1').optional()
    .describe('Retrain every this many origins (default: train once, at the first origin)'),
}).strict();

export const backtestsQuerySchema = z.object({ ticker: tickerSchema });
export const backtestParamsSchema = z.object({ id: z.coerce.number().int('must be a whole number').positive('must be a backtest id from GET /backtests') });

const aggregateSchema = z.object({
  mae: z.number(),
  rmse: z.number(),
  mape: z.number(),
  mase: z.number().nullable(),
  directional_accuracy: z.number().nullable(),
  mase_per_step: z.array(z.number().nullable()),
});

export const backtestSummarySchema = z.object({
  id: z.number(),
  ticker: z.string(),
  job_id: z.string().nullable(),
  source: z.string(),
  params: z.record(z.string(), z.unknown()),
  config: z.record(z.string(), z.unknown()),
  first_origin: z.string(),
  last_origin: z.string(),
  n_origins: z.number(),
  retrains: z.number(),
  aggregates: z.object({ model: aggregateSchema, naive: aggregateSchema, drift: aggregateSchema, moving_average: aggregateSchema }),
  coverage: z.object({ '80': z.number(), '95': z.number(), per_step_80: z.array(z.number()), per_step_95: z.array(z.number()) }),
  fits: z.array(z.record(z.string(), z.unknown())),
  duration_ms: z.number(),
  backend: z.string().nullable(),
  created_at: z.string(),
});

export const backtestsResponseSchema = z.object({ ticker: z.string(), backtests: z.array(backtestSummarySchema) });
export const backtestDetailSchema = backtestSummarySchema.extend({ per_origin: z.array(z.record(z.string(), z.unknown())) });
export type BacktestSummary = z.infer<typeof backtestSummarySchema>;
export type BacktestDetail = z.infer<typeof backtestDetailSchema>;
export type PredictResponse = z.infer<typeof forecastSchema>;
export type ChampionChange = z.infer<typeof championChangeSchema>;
