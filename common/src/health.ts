import type { FastifyInstance } from 'fastify';
import type { Pool } from './db.ts';
import { errorBody } from './errors.ts';

/** Liveness says the process answers; readiness says it can reach Postgres. */
export function installHealthRoutes(app: FastifyInstance, pool: Pool, extraReady?: () => Record<string, unknown>): void {
  app.get('/health/live', { schema: { tags: ['health'], summary: 'The process is up' } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { tags: ['health'], summary: 'The database answers' } }, async (_req, reply) => {
    try {
      await withTimeout(pool.query('SELECT 1'), 2_000);
      return { status: 'ok', database: 'up', ...extraReady?.() };
    } catch (err) {
      return reply
        .code(503)
        .send({ ...errorBody(503, `Database unreachable: ${(err as Error).message}`), status: 'unavailable', database: 'down' });
    }
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}
