import type { FastifyError, FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ConnectionLostError } from './db.ts';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';

/** An error that carries the HTTP status and a message telling the caller what to fix. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, details?: unknown) => new HttpError(400, message, details);

/** The one error body every service answers with. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  details?: unknown;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity',
  429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
};

/** The error body as a schema, for OpenAPI. */
export const errorResponseSchema = z.object({
  statusCode: z.number(),
  error: z.string(),
  message: z.string().describe('What went wrong and what to change'),
  details: z.unknown().optional(),
});

export function errorBody(statusCode: number, message: string, details?: unknown): ErrorBody {
  return { statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', message, ...(details === undefined ? {} : { details }) };
}

/**
 * The database could not be reached or dropped the connection mid-request (restart, failover,
 * every pool connection busy past the checkout timeout): a 503 the client can retry, not a 500.
 */
export function isDatabaseUnavailable(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  if (err instanceof ConnectionLostError) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (['57P01', '57P02', '57P03', 'ECONNREFUSED', 'ECONNRESET'].includes(code) || code.startsWith('08'))) return true;
  return /timeout exceeded when trying to connect|Connection terminated|connection (was )?(closed|lost)/i.test(err.message);
}

/** The 404 body: what was asked (its path, cut short), never where the server looked. */
function notFoundBody(method: string, url: string): ErrorBody {
  const asked = url.split('?')[0]!;
  return errorBody(404, `No route ${method} ${asked.length > 200 ? `${asked.slice(0, 200)}...` : asked}. See /docs for the API.`);
}

/** Install the shared error and not-found handlers. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError | Error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => {
        const path = v.instancePath.split('/').filter(Boolean).join('.');
        const where = [err.validationContext ?? 'request', path].filter(Boolean).join('.');
        return `${where}: ${v.message}`;
      });
      return reply.code(400).send(errorBody(400, `Invalid request. ${issues.join('; ')}`, { issues }));
    }
    if (err instanceof HttpError) {
      if (err.statusCode >= 500) request.log.warn({ err }, err.message);
      return reply.code(err.statusCode).headers(err.headers).send(errorBody(err.statusCode, err.message, err.details));
    }
    if (isResponseSerializationError(err)) {
      request.log.error({ err }, 'response did not match its schema');
      return reply.code(500).send(errorBody(500, 'Internal error: the response did not match its schema.'));
    }
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err }, 'database unavailable');
      return reply.code(503).header('retry-after', '5')
        .send(errorBody(503, `Database unavailable (${err.message}); nothing was changed. Retry in a few seconds.`));
    }
    const fe = err as FastifyError;
    const status = fe.statusCode && fe.statusCode >= 400 ? fe.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'unhandled error');
      return reply.code(status).send(errorBody(status, 'Internal error. It has been logged; retry later.'));
    }
    // Fastify's own client errors (bad JSON, body too large, wrong content type) keep their message;
    // a system error (a static file's ENOENT names a server path) is told by its status alone.
    if (status === 404) return reply.code(404).send(notFoundBody(request.method, request.url));
    const systemError = typeof fe.code === 'string' && /^E[A-Z]+$/.test(fe.code); // ENOENT, EACCES: they name paths
    return reply.code(status).send(errorBody(status, systemError ? `${STATUS_TEXT[status] ?? 'Request refused'}.` : fe.message));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(notFoundBody(request.method, request.url));
  });
}
