import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type PgBoss from 'pg-boss';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp as buildLoader } from '../2_load_data/src/app.ts';
import { loadLoadDataEnv } from '../2_load_data/src/config.ts';
import { buildApp as buildEstimator } from '../4_nn_estimator/src/app.ts';
import { loadEstimatorEnv } from '../4_nn_estimator/src/config.ts';
import { initBackend } from '../4_nn_estimator/src/training/backend.ts';
import { startQueue } from '../4_nn_estimator/src/training/queue.ts';
import { buildApp as buildShepherd } from '../1_shepherd/src/app.ts';
import { loadShepherdEnv } from '../1_shepherd/src/config.ts';

/**
 * /docs of each service, as deployed (API_TOKEN set): every operation that changes something says
 * it needs the bearer token and documents its 401, so "Try it out" sends the token; reads do not.
 */
const API_TOKEN = 'openapi-test-token-0123456789';
// POST /predict forecasts from bars the client sends and stores nothing: a read, open to all.
const READS_BY_POST = new Set(['POST /predict']);
const MUTATIONS: Record<string, string[]> = {
  load_data: ['POST /load', 'POST /import'],
  nn_estimator: ['POST /train', 'POST /fine-tune', 'POST /backtest', 'POST /models/{version}/promote', 'POST /models/rollback'],
  shepherd: ['POST /run'],
};

let db: TestDatabase;
let boss: PgBoss;
const apps: Array<{ name: string; app: { inject(url: string): Promise<{ json(): any }>; close(): Promise<unknown> } }> = [];

before(async () => {
  db = await createTestDatabase('stocks_openapi');
  const common = { DATABASE_URL: db.url, API_TOKEN, LOG_LEVEL: 'silent' };
  apps.push({ name: 'load_data', app: await buildLoader({ env: loadLoadDataEnv({ ...common, MARKET_DATA_SOURCE: 'sample' }), pool: db.pool, logger: false }) });
  boss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
  apps.push({
    name: 'nn_estimator',
    app: await buildEstimator({ env: loadEstimatorEnv({ ...common, ESTIMATOR_ROLE: 'api' }), pool: db.pool, boss, backend: await initBackend(), logger: false }),
  });
  apps.push({ name: 'shepherd', app: await buildShepherd({ env: loadShepherdEnv({ ...common, WATCHLIST: 'AAPL' }), pool: db.pool, logger: false }) });
});
after(async () => {
  for (const { app } of apps) await app.close();
  await boss?.stop({ graceful: false, wait: true });
  await db?.drop();
});

test('every mutating operation carries security bearer and its 401 in OpenAPI; reads stay open', async () => {
  for (const { name, app } of apps) {
    const doc = (await app.inject('/docs/json')).json();
    assert.deepEqual(doc.components?.securitySchemes?.bearer, { type: 'http', scheme: 'bearer' }, name);
    const guarded: string[] = [];
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const key = `${method.toUpperCase()} ${path}`;
        const mutating = ['post', 'put', 'patch', 'delete'].includes(method) && !READS_BY_POST.has(key);
        if (mutating) {
          assert.deepEqual(op.security, [{ bearer: [] }], `${name}: ${key} has no security bearer`);
          assert.ok(op.responses?.['401'], `${name}: ${key} documents no 401`);
          guarded.push(key);
        } else {
          assert.equal(op.security, undefined, `${name}: ${key} is a read and needs no token`);
        }
      }
    }
    for (const key of MUTATIONS[name]!) assert.ok(guarded.includes(key), `${name}: ${key} missing from /docs (${guarded.join(', ')})`);
  }
});
