import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponseSchema, HttpError } from '@stocks/common';
import { backtests, jobs } from '@stocks/db';
import type { JobAdmission } from '../training/admission.ts';
import { fineTuneRequestSchema, jobAcceptedSchema, jobParamsSchema, jobSchema, trainRequestSchema } from '../schemas.ts';
import { fineTuneRefusal, trainRefusal } from './job-refusals.ts';

export interface TrainingRouteOptions {
  admission: JobAdmission;
}

export const trainingRoutes: FastifyPluginAsync<TrainingRouteOptions> = async (fastify, { admission }) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();

  app.post('/train', {
    onRequest: app.requireToken,
    schema: {
      tags: ['training'],
      summary: 'Queue a full training on stored prices up to end_date',
      body: trainRequestSchema,
      response: { 202: jobAcceptedSchema, 400: errorResponseSchema, 401: errorResponseSchema, 404: errorResponseSchema, 409: errorResponseSchema, 422: errorResponseSchema, 429: errorResponseSchema },
    },
  }, async (request, reply) => {
    const admitted = await admission.train(request.body);
    if (admitted.outcome !== 'accepted') throw trainRefusal(admitted, request.body);
    return reply.code(202).send({ job_id: admitted.job.job_id, status: admitted.job.status });
  });

  app.post('/fine-tune', {
    onRequest: app.requireToken,
    schema: {
      tags: ['training'],
      summary: "Queue a fine-tune of the ticker's champion on the data that arrived since it was trained",
      description: 'The result is a challenger; it becomes champion only if it is not worse than the champion on the same recent window. 409 (with champion_version) when no bar arrived after the champion\'s last one: nothing is queued, saved or promoted.',
      body: fineTuneRequestSchema,
      response: { 202: jobAcceptedSchema, 400: errorResponseSchema, 401: errorResponseSchema, 404: errorResponseSchema, 409: errorResponseSchema, 429: errorResponseSchema },
    },
  }, async (request, reply) => {
    const admitted = await admission.fineTune(request.body);
    if (admitted.outcome !== 'accepted') throw fineTuneRefusal(admitted);
    return reply.code(202).send({ job_id: admitted.job.job_id, status: admitted.job.status });
  });
};

export const jobRoutes: FastifyPluginAsync = async (fastify) => {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get('/jobs/:id', {
    schema: {
      tags: ['training'],
      summary: 'Status of a training job',
      params: jobParamsSchema,
      response: { 200: jobSchema, 400: errorResponseSchema, 404: errorResponseSchema },
    },
  }, async (request) => {
    const job = await jobs.getJob(app.pool, request.params.id);
    if (!job) throw new HttpError(404, `No job ${request.params.id}.`);
    const backtestId = job.kind === 'backtest' && job.status === 'succeeded' ? await backtests.getBacktestIdForJob(app.pool, job.id) : undefined;
    return {
      job_id: job.id,
      kind: job.kind,
      ticker: job.ticker,
      status: job.status,
      ...(job.model_version !== null ? { model_version: job.model_version } : {}),
      ...(backtestId !== undefined ? { backtest_id: backtestId } : {}),
      ...(job.error ? { error: job.error } : {}),
      attempts: job.attempts,
      created_at: job.created_at.toISOString(),
      started_at: job.started_at?.toISOString() ?? null,
      finished_at: job.finished_at?.toISOString() ?? null,
    };
  });
};
