import { z } from 'zod';
import { ISO_DATE, TICKER_PATTERN } from '@stocks/common';

export const tickerSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(TICKER_PATTERN, 'must be a Yahoo symbol such as AAPL, BRK-B, ^GSPC or BTC-USD');

const isoDate = z
  .string()
  .regex(ISO_DATE, 'must be a date as YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'is not a real calendar date');

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
  error: z.string().optional(),
  attempts: z.number(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});

const errorMetricsSchema = z.object({ mae: z.number(), rmse: z.number(), mape: z.number().describe('percent') });

export const modelSchema = z.object({
  version: z.number(),
  ticker: z.string(),
  kind: z.enum(['train', 'fine-tune']),
  parent_version: z.number().nullable(),
  champion: z.boolean(),
  status: z.string(),
  status_reason: z.string().nullable(),
  metrics: errorMetricsSchema.describe('The model on the validation window, one step ahead'),
  baseline: errorMetricsSchema.describe('Naive last-value forecast on the same validation window'),
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

export const forecastSchema = z.object({
  ticker: z.string(),
  model_version: z.number(),
  backend: z.string(),
  last_date: z.string(),
  forecast: z.array(z.object({ date: z.string(), close: z.number() })),
});
