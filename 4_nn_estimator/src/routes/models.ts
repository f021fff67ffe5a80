import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema } from '@stocks/common';
import { models, type ModelSummary } from '@stocks/db';
import { modelsQuerySchema, modelsResponseSchema } from '../schemas.ts';

export function presentModel(m: ModelSummary) {
  const skill = m.evaluation.skill;
  return {
    version: m.version,
    ticker: m.ticker,
    kind: m.kind,
    parent_version: m.parent_version,
    champion: m.is_champion,
    status: m.status,
    status_reason: m.status_reason,
    metrics: m.metrics,
    baseline: m.baseline,
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

export const modelRoutes: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get('/models', {
    schema: {
      tags: ['models'],
      summary: "A ticker's model versions, newest first, with validation metrics beside the naive baseline",
      querystring: modelsQuerySchema,
      response: { 200: modelsResponseSchema, 400: errorResponseSchema },
    },
  }, async (request) => {
    const rows = await models.listModels(app.pool, request.query.ticker);
    return { ticker: request.query.ticker, models: rows.map(presentModel) };
  });
};
