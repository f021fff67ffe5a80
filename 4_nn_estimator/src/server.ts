import { createPool, listen } from '@stocks/common';
import { migrate } from '@stocks/db';
import { buildApp } from './app.ts';
import { loadEstimatorEnv } from './config.ts';
import { initBackend } from './training/backend.ts';
import { startQueue } from './training/queue.ts';

const env = loadEstimatorEnv();
await migrate(env.DATABASE_URL);
const backend = await initBackend(env.TF_BACKEND);
const pool = createPool(env.DATABASE_URL, { application_name: 'nn_estimator' });
const boss = await startQueue(
  env.DATABASE_URL,
  { retryLimit: env.JOB_RETRY_LIMIT, expireInSeconds: env.JOB_TIMEOUT_SECONDS, maintenanceIntervalSeconds: env.QUEUE_MAINTENANCE_SECONDS },
  (err) => console.error(JSON.stringify({ level: 50, service: 'nn_estimator', msg: 'queue error', err: err.message })),
);
const app = await buildApp({ env, pool, boss, backend });
app.log.info({ backend, role: env.ESTIMATOR_ROLE }, 'TensorFlow.js backend ready');
// app.close() lets in-flight requests finish while the training worker stops taking jobs and
// releases the running one (see app.ts); then the queue (nothing is in progress any more), then
// the pool. All well inside close-with-grace's 15 s.
await listen(app, env.PORT, env.HOST, async () => {
  await boss.stop({ graceful: true, timeout: 5_000 });
  await pool.end();
});
