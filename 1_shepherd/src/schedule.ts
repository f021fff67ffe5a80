import cron from 'node-cron';
import type { FastifyBaseLogger } from 'fastify';
import { type RunDeps, startRun } from './run.ts';

/** Start a run on every tick of the cron expression, read in `timezone` (TZ, as the docs say). */
export function scheduleRuns(
  expression: string,
  timezone: string,
  deps: RunDeps,
  watchlist: string[],
  log: FastifyBaseLogger,
): { stop(): void; nextRun(): Date | null } {
  const task = cron.schedule(
    expression,
    async () => {
      try {
        const run = await startRun(deps, 'cron', watchlist);
        if (run.started) log.info({ run_id: run.id }, 'scheduled run started');
        else log.warn({ run_id: run.id }, 'scheduled run not started: this run is still going');
      } catch (err) {
        log.error({ err }, 'could not start a scheduled run');
      }
    },
    { timezone, name: 'shepherd' },
  );
  return { stop: () => void task.stop(), nextRun: () => task.getNextRun() };
}
