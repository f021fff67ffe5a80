import { z } from 'zod';
import { barDateSchema as isoDate, priceSchema, rowIdSchema, tickerSchema, volumeSchema } from '@stocks/common';
import { FEATURE_WARMUP } from './model/features.ts';
import { MAX_WINDOW } from './model/config.ts';
import { bandModelNameSchema, bandSkillSchema } from './model/bands/band-schemas.ts';

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
  interval_skill: z.object({
    served: bandModelNameSchema.describe('The band model /predict serves for this version by default'),
    reason: z.string(),
    windows: z.object({ start: z.string(), end: z.string(), n: z.number() }).describe('Validation origins every band model was scored on (none of the fits saw them)'),
    per_model: z.record(z.string(), z.record(z.string(), bandSkillSchema)).describe('Per band model (static, ewma, garch, model), per step ("1", "5"): mean interval scores (log-return units, lower is better), coverage and QLIKE'),
    model_vs_ewma_p: z.record(z.string(), z.number()).nullable().describe('One-sided Diebold-Mariano p-values of the learned bands beating EWMA'),
    baselines_vs_ewma_p: z.record(z.string(), z.record(z.string(), z.number())).nullable().describe('The same p-values for GARCH and static (per baseline, per loss): either replaces EWMA only on a significant win. null for versions trained before'),
  }).nullable().describe('Band skill on validation beside the static, EWMA and GARCH baselines; null for versions trained before band models'),
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
export const modelsResponseSchema = z.object({
  ticker: z.string(),
  metrics_windows: z.string().describe('Whether the versions listed were validated on the same window, i.e. whether their metrics compare directly'),
  models: z.array(modelSchema),
});

const intervalModelSchema = bandModelNameSchema.describe(
  "Band model for the 80%/95% bands: 'model' (learned scale network), 'ewma', 'garch' (GARCH(1,1)-t) or 'static'; default: the one the version serves (learned only when it beat EWMA significantly on validation)",
);
export const predictQuerySchema = z.object({ ticker: tickerSchema, horizon: horizonSchema.default(1), interval_model: intervalModelSchema.optional() });

/**
 * The most bars POST /predict reads: a model looks at its window (at most MAX_WINDOW) plus the
 * feature warm-up; older bars change nothing, so they are not accepted (and parsed) at all.
 */
export const PREDICT_MAX_BARS = MAX_WINDOW + FEATURE_WARMUP;

export const clientBarSchema = z.object({
  date: isoDate,
  close: priceSchema,
  open: priceSchema.nullable().optional(),
  high: priceSchema.nullable().optional(),
  low: priceSchema.nullable().optional(),
  volume: volumeSchema.nullable().optional(),
});

export const predictBodySchema = z.object({
  ticker: tickerSchema,
  bars: z.array(clientBarSchema).min(1, 'must hold at least one bar')
    .max(PREDICT_MAX_BARS, `must hold at most ${PREDICT_MAX_BARS} bars (the longest window a model reads plus its feature warm-up)`)
    .refine((bars) => bars.every((b, i) => i === 0 || bars[i - 1]!.date < b.date), 'must be in strictly increasing date order (oldest first)'),
  horizon: horizonSchema.default(1),
  interval_model: intervalModelSchema.optional(),
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
  interval_model: bandModelNameSchema.nullable().describe('Band model that drew lower/upper80 and lower/upper95; null for versions trained before band models (20-day volatility bands)'),
  forecast: z.array(forecastPointSchema).describe('lower/upper80 and lower/upper95: prediction intervals (absent for versions trained before intervals)'),
  computed_at: z.string().describe('When this forecast was computed (ISO 8601); GET answers from memory until prices or the champion change'),
  cached: z.boolean().describe('true when answered from the in-memory forecast cache'),
});

// ---- promotion, rollback, export

export const versionParamsSchema = z.object({
  version: rowIdSchema('a model version number from GET /models'),
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
  retrain_every: z.number().int('must be a whole number').min(1, 'must be at least 1').max(500, 'must be at most 500 (the most origins)').optional()
    .describe('Retrain every this many origins (default: train once, at the first origin)'),
}).strict();

export const backtestsQuerySchema = z.object({ ticker: tickerSchema });
export const backtestParamsSchema = z.object({ id: rowIdSchema('a backtest id from GET /backtests') });

const aggregateSchema = z.object({
  mae: z.number(),
  rmse: z.number(),
  mape: z.number(),
  mase: z.number().nullable(),
  directional_accuracy: z.number().nullable(),
  mase_per_step: z.array(z.number().nullable()),
});

const bandScoresSchema = z.object({
  step: z.number(),
  coverage80: z.number(),
  coverage95: z.number(),
  coverage80_p: z.number().nullable().optional().describe('Two-sided p-value of "this band covers 80% of the time", from its hits at the origins (overlapping windows accounted for); below 0.05: miscalibrated. Absent on backtests stored before'),
  coverage95_p: z.number().nullable().optional().describe('The same for the 95% band'),
  interval_score80: z.number().describe('Mean interval score (Gneiting & Raftery) of the 80% band, on log moves: width plus 2/alpha times misses; lower is better'),
  interval_score95: z.number(),
  qlike: z.number().describe('Mean QLIKE loss r^2/v + log v of the variance forecast; lower is better'),
});
const dmSchema = z.object({ two_sided: z.number(), a_better: z.number(), a_worse: z.number() })
  .describe('Diebold-Mariano p-values of the served bands against this baseline (a = served)');
const bandComparisonSchema = z.object({ is80: dmSchema, is95: dmSchema, qlike: dmSchema });
const bandReportSchema = z.object({
  served: z.string().describe("Which bands the 'model' row scores: the version's own ('version') or a band model's name"),
  per_step: z.array(z.object({
    step: z.number(),
    models: z.object({ model: bandScoresSchema.nullable(), static: bandScoresSchema.nullable(), ewma: bandScoresSchema.nullable(), garch: bandScoresSchema.nullable() }),
    dm: z.object({ static: bandComparisonSchema.nullable(), ewma: bandComparisonSchema.nullable(), garch: bandComparisonSchema.nullable() }),
  })),
}).nullable().describe('Band scores per step beside static, EWMA(0.94) and GARCH(1,1)-t bands on the same origins; null for backtests stored before bands were scored');

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
  bands: bandReportSchema,
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
export type TrainRequest = z.infer<typeof trainRequestSchema>;
export type FineTuneRequest = z.infer<typeof fineTuneRequestSchema>;
export type BacktestRequest = z.infer<typeof backtestRequestSchema>;
