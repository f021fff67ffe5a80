import { z } from 'zod';
import { tickerSchema } from '../schemas.ts';

const range = z.object({ start: z.string(), end: z.string() });

export const monitoringQuerySchema = z.object({ ticker: tickerSchema });

export const liveRowSchema = z.object({
  model_version: z.number(),
  champion: z.boolean(),
  window: z.string().describe('20d and 60d: target dates in the last 20 / 60 trading days of stored prices; all: every realised forecast'),
  window_days: z.number().nullable(),
  n: z.number().describe('Realised forecast points (every horizon step counts once)'),
  mae: z.number(),
  mape: z.number().describe('percent'),
  naive_mae: z.number().describe('The naive forecast (last close) made at the same moment, for the same target dates'),
  naive_mape: z.number(),
  skill_vs_naive: z.number().nullable().describe('1 - mae / naive_mae; above 0 beats naive'),
  coverage80: z.number().nullable().describe('Share of actuals inside the served 80% interval (null: no intervals served)'),
  coverage95: z.number().nullable(),
  n_intervals: z.number(),
  first_target: z.string(),
  last_target: z.string(),
});

export const driftSchema = z.object({
  method: z.literal('ks_returns'),
  threshold: z.number().describe('DRIFT_THRESHOLD: drift when p_value is below it'),
  recent_days: z.number(),
  reference_range: range.nullable().describe("The champion's training window"),
  recent_range: range.nullable(),
  ks_statistic: z.number().nullable().describe('Two-sample KS statistic of daily log returns, recent vs training window'),
  ks_abs_statistic: z.number().nullable().describe('The same on absolute returns (volatility)'),
  p_value: z.number().nullable().describe('min(1, 2 x the smaller p-value of the two KS tests) (Bonferroni)'),
  psi: z.number().nullable().describe('Population stability index on deciles of the training returns (information only)'),
  n_reference: z.number(),
  n_recent: z.number(),
  reference_volatility: z.number().nullable().describe('Standard deviation of daily log returns'),
  recent_volatility: z.number().nullable(),
  detected: z.boolean(),
  note: z.string().nullable(),
});

export const monitoringResponseSchema = z.object({
  ticker: z.string(),
  as_of: z.string().describe('Newest stored bar'),
  champion_version: z.number().nullable(),
  live: z.array(liveRowSchema).describe('Realised error per model version and window, newest version first'),
  champion_live: z.object({
    window: z.string(), n: z.number(), mae: z.number(), naive_mae: z.number(), min_realised: z.number(), worse_than_naive: z.boolean(),
  }).nullable().describe('The champion over the last 20 trading days; worse_than_naive needs at least min_realised forecasts'),
  drift: driftSchema,
  retrain: z.object({ full_retrain_advised: z.boolean(), reasons: z.array(z.string()) })
    .describe('What the shepherd reads: a full retrain instead of a fine-tune, and why'),
});

export const tickersResponseSchema = z.object({
  tickers: z.array(z.object({
    ticker: z.string(),
    first_date: z.string(),
    last_date: z.string(),
    rows: z.number(),
    stale_trading_days: z.number().describe('Trading days between the newest stored bar and the last completed trading day'),
    champion_version: z.number().nullable(),
  })),
});

export const pricesQuerySchema = z.object({
  ticker: tickerSchema,
  days: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').default(250)
    .describe('The newest this many bars'),
});

export const pricesResponseSchema = z.object({
  ticker: z.string(),
  prices: z.array(z.object({
    date: z.string(), open: z.number().nullable(), high: z.number().nullable(), low: z.number().nullable(), close: z.number(), volume: z.number().nullable(),
  })),
});

export const forecastsQuerySchema = z.object({
  ticker: tickerSchema,
  step: z.coerce.number().int('must be a whole number').min(1).max(30).optional().describe('Only this horizon step (1 = next trading day)'),
  limit: z.coerce.number().int('must be a whole number').min(1).max(5000).default(500),
});

export const forecastsResponseSchema = z.object({
  ticker: z.string(),
  forecasts: z.array(z.object({
    model_version: z.number(),
    made_at: z.string(),
    origin_date: z.string().describe('Newest stored bar when the forecast was served'),
    target_date: z.string(),
    step: z.number(),
    value: z.number(),
    naive_value: z.number(),
    lower80: z.number().nullable(),
    upper80: z.number().nullable(),
    lower95: z.number().nullable(),
    upper95: z.number().nullable(),
    actual: z.number().nullable().describe('Close of target_date, once loaded'),
    abs_error: z.number().nullable(),
    naive_abs_error: z.number().nullable(),
  })).describe('Newest target first'),
});

export const jobsQuerySchema = z.object({
  ticker: tickerSchema,
  limit: z.coerce.number().int('must be a whole number').min(1).max(200).default(20),
});

export const jobsResponseSchema = z.object({
  ticker: z.string(),
  jobs: z.array(z.object({
    job_id: z.string(),
    kind: z.string(),
    status: z.string(),
    model_version: z.number().nullable(),
    error: z.string().nullable(),
    attempts: z.number(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })),
});
