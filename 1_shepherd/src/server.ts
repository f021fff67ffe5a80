import { createPool, listen, listenHost } from '@stocks/common';
import { migrate } from '@stocks/db';
import { buildApp } from './app.ts';
import { loadShepherdEnv, shepherdPoolSize } from './config.ts';
import { closeAbandonedRuns, startRun } from './run.ts';
import { scheduleRuns } from './schedule.ts';

const env = loadShepherdEnv();
await migrate(env.DATABASE_URL);
const pool = createPool(env.DATABASE_URL, { application_name: 'shepherd', max: shepherdPoolSize(env) });
const app = await buildApp({ env, pool });
const abandoned = await closeAbandonedRuns(pool);
if (abandoned) app.log.warn({ abandoned }, 'closed runs left open by a stopped shepherd');
const schedule = scheduleRuns(env.SHEPHERD_CRON, env.TZ, app.runDeps, env.WATCHLIST, app.log);
await listen(app, env.PORT, listenHost(env), async () => {
  schedule.stop();
  await pool.end();
});
app.log.info({ cron: env.SHEPHERD_CRON, tz: env.TZ, next_run: schedule.nextRun()?.toISOString(), watchlist: env.WATCHLIST }, 'shepherd scheduled');
if (env.SHEPHERD_RUN_ON_START) {
  const run = await startRun(app.runDeps, 'startup', env.WATCHLIST);
  app.log.info({ run_id: run.id, started: run.started }, run.started ? 'startup run started' : 'startup run not started: another replica\'s run is going');
}
