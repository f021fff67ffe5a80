import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { loadShepherdEnv } from '../src/config.ts';
import type { RunDeps } from '../src/run.ts';
import { scheduleRuns } from '../src/schedule.ts';

/** Hour and minute of `date` on the wall clock of `timeZone`. */
const wallClock = (date: Date, timeZone: string) =>
  new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(date);

test('SHEPHERD_CRON is read in TZ, as the docs say', () => {
  for (const tz of ['UTC', 'America/New_York', 'Asia/Tokyo']) {
    const env = loadShepherdEnv({ SHEPHERD_CRON: '30 16 * * 1-5', TZ: tz });
    // The run is never reached: only when the next one is due is read.
    const schedule = scheduleRuns(env.SHEPHERD_CRON, env.TZ, {} as RunDeps, env.WATCHLIST, {} as FastifyBaseLogger);
    try {
      const next = schedule.nextRun();
      assert.ok(next, tz);
      assert.equal(wallClock(next, tz), '16:30', `${tz}: next run ${next.toISOString()}`);
    } finally {
      schedule.stop();
    }
  }
});

test('TZ defaults to UTC and a zone that does not exist is refused at boot', () => {
  assert.equal(loadShepherdEnv({}).TZ, 'UTC');
  assert.throws(() => loadShepherdEnv({ TZ: 'Mars/Olympus_Mons' }), /TZ/);
});
