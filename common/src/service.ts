import { randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyServerOptions, type onRequestHookHandler } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import type { Pool } from './db.ts';
import { errorBody, installErrorHandling } from './errors.ts';
import { installHealthRoutes } from './health.ts';
import { loggerOptions } from './logger.ts';
import { createRegistry, installHttpMetrics } from './metrics.ts';

declare module 'fastify' {
  interface FastifyInstance {
    pool: Pool;
    registry: Registry;
    /** onRequest hook for mutating routes: checks the bearer token when API_TOKEN is set. */
    requireToken: onRequestHookHandler;
  }
}

export interface ServiceOptions {
  service: string;
  description: string;
  pool: Pool;
  logLevel?: string;
  /** false silences logs (tests); default logs JSON to stdout. */
  logger?: boolean;
  apiToken?: string;
  bodyLimit?: number;
  /** Mutating requests per client IP and minute (0 = unlimited). */
  rateLimitPerMinute?: number;
  readyExtras?: () => Record<string, unknown>;
}

/**
 * The infrastructure every service shares: logging with request ids, validation by zod,
 * one error format, /health, /metrics and OpenAPI at /docs. Domain routes are registered on top.
 */
export async function createServiceApp(opts: ServiceOptions) {
  const fastifyOptions: FastifyServerOptions = {
    logger: opts.logger === false ? false : loggerOptions(opts.service, opts.logLevel),
    // A request id travels across services in x-request-id; we mint one when absent.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Answer slow clients instead of holding sockets forever.
    requestTimeout: 120_000,
  };
  const app = Fastify(fastifyOptions).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const registry = createRegistry(opts.service);
  app.decorate('pool', opts.pool);
  app.decorate('registry', registry);
  app.decorate('requireToken', tokenCheck(opts.apiToken));

  installErrorHandling(app);
  if (opts.rateLimitPerMinute) {
    // Writes start expensive work (Yahoo calls, trainings); reads are cheap or cached, and the
    // forecast endpoint batches its own load, so only writes are limited.
    await app.register(rateLimit, {
      max: opts.rateLimitPerMinute,
      timeWindow: 60_000,
      allowList: (request) => request.method === 'GET' || request.method === 'HEAD' || request.url.startsWith('/predict'),
      errorResponseBuilder: (_request, context) => ({
        ...errorBody(429, `Too many requests: at most ${context.max} writes a minute per client. Retry in ${Math.ceil(context.ttl / 1000)} s.`),
        // the plugin throws this object; statusCode makes the shared handler answer 429
      }),
    });
  }
  await app.register(swagger, {
    openapi: {
      info: { title: opts.service, description: opts.description, version: '0.1.0' },
      components: opts.apiToken
        ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }
        : undefined,
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  installHttpMetrics(app, registry);
  installHealthRoutes(app, opts.pool, opts.readyExtras);
  return app;
}


function tokenCheck(token: string | undefined): onRequestHookHandler {
  if (!token) return async () => {};
  const expected = Buffer.from(`Bearer ${token}`);
  return async (request, reply) => {
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(401).send(errorBody(401, 'Missing or wrong bearer token: send "Authorization: Bearer <API_TOKEN>".'));
    }
  };
}
