import { randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController, type onRequestHookHandler } from 'fastify';
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
import { errorBody, errorResponseSchema, installErrorHandling } from './errors.ts';
import { installHealthRoutes } from './health.ts';
import { loggerOptions } from './logger.ts';
import { createRegistry, installHttpMetrics, installPoolMetrics } from './metrics.ts';

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
  /** Where the JSON log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void };
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
    logger: opts.logger === false ? false : { ...loggerOptions(opts.service, opts.logLevel), ...(opts.logStream ? { stream: opts.logStream } : {}) },
    // A request id travels across services in x-request-id; we mint one when absent.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // Answer slow clients instead of holding sockets forever.
    requestTimeout: 120_000,
    logController: new ProbesAtDebug(),
  };
  const app = Fastify(fastifyOptions).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const registry = createRegistry(opts.service);
  installPoolMetrics(registry, opts.pool);
  app.decorate('pool', opts.pool);
  app.decorate('registry', registry);

  installErrorHandling(app);
  const hasToken = validToken(opts.apiToken);
  const writesPerMinute = opts.rateLimitPerMinute ?? 0;
  // Always registered: routes with a limit of their own (POST /predict) set config.rateLimit.
  await app.register(rateLimit, {
    max: writesPerMinute || 1,
    timeWindow: 60_000,
    // Writes start expensive work (Yahoo calls, trainings); reads are cheap or cached, so only
    // writes are limited, per client IP. A request with the API token is the operator's or a
    // service's (the shepherd): keyed by the token, it never counts against a client's limit.
    allowList: (request) => writesPerMinute === 0 || request.method === 'GET' || request.method === 'HEAD' || hasToken(request),
    errorResponseBuilder: (_request, context) => ({
      ...errorBody(429, `Too many requests: at most ${context.max} writes a minute per client. Retry in ${Math.ceil(context.ttl / 1000)} s.`),
      // the plugin throws this object; statusCode makes the shared handler answer 429
    }),
  });
  // The limiter runs before the token check: a client guessing tokens is limited like any other.
  // (The plugin appends its hook after the route's own onRequest; move the check behind it.)
  const requireToken = tokenCheck(opts.apiToken);
  app.decorate('requireToken', requireToken);
  app.addHook('onRoute', (route) => {
    const hooks = [route.onRequest ?? []].flat();
    const at = hooks.indexOf(requireToken);
    if (at < 0) return;
    hooks.splice(at, 1);
    route.onRequest = [...hooks, requireToken];
    if (opts.apiToken) {
      // Every route guarded by the token says so in OpenAPI, with its 401, so /docs sends the token.
      const schema = (route.schema ?? {}) as { security?: unknown; response?: Record<string | number, unknown> };
      route.schema = { ...schema, security: [{ bearer: [] }], response: { ...schema.response, 401: errorResponseSchema } };
    }
  });
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

/**
 * Health checks and Prometheus scrapes arrive every few seconds from every probe: their request
 * lines go at debug, so at info they do not bury the requests people make. Errors stay errors.
 */
class ProbesAtDebug extends LogController {
  private static readonly PROBE_URL = /^\/(health|metrics)(\/|\?|$)/;
  private levelOf(url: string): 'debug' | 'info' {
    return ProbesAtDebug.PROBE_URL.test(url) ? 'debug' : 'info';
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log[this.levelOf(request.url)]({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log[this.levelOf(request.url)]({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Whether a request carries the API token (constant-time comparison). */
function validToken(token: string | undefined): (request: FastifyRequest) => boolean {
  if (!token) return () => false;
  const expected = Buffer.from(`Bearer ${token}`);
  return (request) => {
    const given = Buffer.from(request.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}

function tokenCheck(token: string | undefined): onRequestHookHandler {
  if (!token) return async () => {};
  const valid = validToken(token);
  return async (request, reply) => {
    if (!valid(request)) {
      return reply.code(401).send(errorBody(401, 'Missing or wrong bearer token: send "Authorization: Bearer <API_TOKEN>".'));
    }
  };
}

/**
 * A route's own per-client limit (config.rateLimit), e.g. POST /predict: counted apart from writes,
 * token or not. 0 = unlimited.
 */
export function routeRateLimit(perMinute: number, what: string) {
  return {
    max: perMinute || 1,
    timeWindow: 60_000,
    allowList: () => perMinute === 0,
    errorResponseBuilder: (_request: FastifyRequest, context: { max: number; ttl: number }) => ({
      ...errorBody(429, `Too many requests: at most ${context.max} ${what} a minute per client. Retry in ${Math.ceil(context.ttl / 1000)} s.`),
    }),
  };
}
