import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { models, type ModelSummary } from '@stocks/db';
import { promoteVersion, rollback } from '../training/promotion.ts';
import { exportModel } from '../model/export.ts';
import { INTERVAL_LEVELS, isIntervalModel } from '../model/intervals.ts';
import { storedBandsSchema } from '../model/bands/band-schemas.ts';
import { relativeMase } from '../model/metrics.ts';
import {
  championChangeSchema, exportSchema, modelsQuerySchema, modelsResponseSchema, rollbackBodySchema, versionParamsSchema,
} from '../schemas.ts';

interface StoredEvaluation { mae: number; rmse: number; mape: number; all_steps?: { mae: number } }

const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);

/** mae/rmse/mape plus MASE against naive on the same windows (step 1 and steps 1..horizon). */
function scored(e: StoredEvaluation, naive: StoredEvaluation | undefined) {
  return {
    mae: e.mae,
    rmse: e.rmse,
    mape: e.mape,
    mase: naive ? finiteOrNull(relativeMase(e.mae, naive.mae)) : null,
    mase_all_steps: naive?.all_steps && e.all_steps ? finiteOrNull(relativeMase(e.all_steps.mae, naive.all_steps.mae)) : null,
  };
}

/** The scale's champion/challenger as decided at training: every band model on the same validation windows. */
function intervalSkill(stored: unknown) {
  const parsed = storedBandsSchema.safeParse(stored);
  if (!parsed.success) return null;
  const { served, reason, validation } = parsed.data;
  return { served, reason, windows: { start: validation.start, end: validation.end, n: validation.n }, per_model: validation.skill, model_vs_ewma_p: validation.model_vs_ewma, baselines_vs_ewma_p: validation.baselines_vs_ewma ?? null };
}

export function presentModel(m: ModelSummary) {
  const skill = m.evaluation.skill;
  const stored = m.evaluation.baselines as Record<'naive' | 'drift' | 'moving_average', StoredEvaluation> | undefined;
  const evaluated = (m.evaluation.metrics as StoredEvaluation | undefined) ?? m.metrics;
  const naive = stored?.naive ?? m.baseline;
  const intervals = m.evaluation.intervals;
  return {
    version: m.version,
    ticker: m.ticker,
    kind: m.kind,
    parent_version: m.parent_version,
    champion: m.is_champion,
    status: m.status,
    status_reason: m.status_reason,
    metrics: scored(evaluated, naive),
    baseline: m.baseline,
    baselines: stored
      ? { naive: scored(stored.naive, stored.naive), drift: scored(stored.drift, stored.naive), moving_average: scored(stored.moving_average, stored.naive) }
      : null,
    intervals: isIntervalModel(intervals) ? { method: intervals.method, levels: [...INTERVAL_LEVELS], validation_windows: intervals.n } : null,
    interval_skill: intervalSkill(m.evaluation.bands),
    skill_vs_naive: typeof skill === 'number' ? skill : null,
    alpha: m.alpha,
    hyper_parameters: m.config,
    trained_range: { start: m.train_start, end: m.train_end },
    validation_range: { start: m.validation_start, end: m.validation_end },
    epochs: m.epochs,
    final_loss: m.final_loss,
    duration_ms: m.duration_ms,
    backend: m.backend,
    created_at: m.created_at.toISOString(),
  };
}

/** Each version's validation metrics come from its own validation_range: say so when they differ. */
function metricsWindowsNote(distinctWindows: number): string {
  if (distinctWindows <= 1) return 'Every version listed was validated on the same window (validation_range): their metrics compare directly.';
  return `The versions listed were validated on ${distinctWindows} different windows (see each validation_range): their MAE/RMSE/MAPE are not measured on the same days and do not compare directly. MASE divides by naive on each version's own window, so it compares better; for a like-for-like comparison run a backtest (POST /backtest).`;
}

export const modelRoutes: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get('/models', {
    schema: {
      tags: ['models'],
      summary: "A ticker's model versions, newest first, with validation metrics beside the naive, drift and moving-average baselines",
      querystring: modelsQuerySchema,
      response: { 200: modelsResponseSchema, 400: errorResponseSchema },
    },
  }, async (request) => {
    const rows = await models.listModels(app.pool, request.query.ticker);
    const windows = new Set(rows.map((m) => `${m.validation_start}..${m.validation_end}`));
    return { ticker: request.query.ticker, metrics_windows: metricsWindowsNote(windows.size), models: rows.map(presentModel) };
  });

  app.post('/models/:version/promote', {
    onRequest: app.requireToken,
    schema: {
      tags: ['models'],
      summary: 'Make this version its ticker\'s champion (recorded; every replica reloads)',
      params: versionParamsSchema,
      response: { 200: championChangeSchema, 400: errorResponseSchema, 401: errorResponseSchema, 404: errorResponseSchema, 409: errorResponseSchema },
    },
  }, async (request) => promoteVersion(app.pool, request.params.version));

  app.post('/models/rollback', {
    onRequest: app.requireToken,
    schema: {
      tags: ['models'],
      summary: 'Make the previous champion of the ticker champion again (recorded; every replica reloads)',
      body: rollbackBodySchema,
      response: { 200: championChangeSchema, 400: errorResponseSchema, 401: errorResponseSchema, 404: errorResponseSchema, 409: errorResponseSchema },
    },
  }, async (request) => rollback(app.pool, request.body.ticker));

  app.get('/models/:version/export', {
    schema: {
      tags: ['models'],
      summary: 'The version as a TF.js layers model (model.json + base64 weights.bin) with its scaler and metadata',
      description: 'Load it with tf.loadLayersModel(tf.io.fromMemory({modelTopology, weightSpecs, weightData})); see docs/forecasting.md.',
      params: versionParamsSchema,
      response: { 200: exportSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const row = await models.getModel(app.pool, request.params.version);
    if (!row) throw new HttpError(404, `No model version ${request.params.version}. List versions with GET /models?ticker=<TICKER>.`);
    return exportModel(row);
  });
};
