/**
 * The estimator as `npm run bench:serve` measures it: exactly server.ts's setup (buildApp on the
 * env, one process), plus one bare route `GET /bare` registered on the same Fastify instance (same
 * hooks: request id, HTTP metrics, error handling) as the floor. Listens on a free port, waits
 * until every champion's forecast is in memory, then reports { port, rss } to the parent over IPC.
 */
import { createPool } from '@stocks/common';
import { buildApp } from '../../4_nn_estimator/src/app.ts';
import { loadEstimatorEnv } from '../../4_nn_estimator/src/config.ts';
import { initBackend } from '../../4_nn_estimator/src/training/backend.ts';
import { startQueue } from '../../4_nn_estimator/src/training/queue.ts';

const env = loadEstimatorEnv();
const backend = await initBackend(env.TF_BACKEND);
const pool = createPool(env.DATABASE_URL, { application_name: 'nn_estimator_bench' });
const boss = await startQueue(env.DATABASE_URL, { retryLimit: 0, expireInSeconds: 600 }, () => {});
const app = await buildApp({ env, pool, boss, backend });
app.get('/bare', async () => ({ ok: true }));
await app.listen({ port: 0, host: '127.0.0.1' });
const expected = Number(process.env.BENCH_EXPECT_CHAMPIONS ?? 1);
const started = performance.now();
while (app.forecasts.cachedTickers().length < expected) {
  if (performance.now() - started > Number(process.env.BENCH_PRECOMPUTE_TIMEOUT_MS ?? 300_000)) throw new Error(`only ${app.forecasts.cachedTickers().length}/${expected} forecasts precomputed`);
  await new Promise((r) => setTimeout(r, 50));
}
const precomputeMs = performance.now() - started;
// The universe bench scrapes /metrics as it is once every champion's monitoring report is in.
if (process.env.BENCH_SETTLE_MONITORING === '1') await app.monitoringGauges.settled();
const settledMs = performance.now() - started;
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
const report = () => ({ port, rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed, champions: app.champions.cachedTickers().length, forecasts: app.forecasts.cachedTickers().length, precomputeMs, settledMs });
process.send!({ type: 'ready', ...report() });
process.on('message', async (msg: { type: string }) => {
  if (msg.type === 'report') process.send!({ type: 'report', ...report() });
  if (msg.type === 'stop') {
    await app.close();
    await boss.stop({ graceful: false, wait: true });
    await pool.end();
    process.exit(0);
  }
});
