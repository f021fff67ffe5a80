import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../src/app.ts';
import { type Peers, startPeers } from './support/peers.ts';
import { loadShepherdEnv } from '../src/config.ts';
import { startRun } from '../src/run.ts';

/**
 * The shepherd reads the estimator's GET /monitoring before choosing between a fine-tune and a
 * full retrain: real AAPL history (csv source), with the calendar moved by `now`.
 */
describe('1_shepherd answers drift with a full retrain', () => {
  let db: TestDatabase;
  let peers: Peers;
  let app: Awaited<ReturnType<typeof buildApp>>;

  before(async () => {
    db = await createTestDatabase();
    peers = await startPeers(db, { TRAIN_EPOCHS: '1', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '400' });
    app = await buildApp({
      env: loadShepherdEnv({ DATABASE_URL: db.url, WATCHLIST: 'AAPL', LOAD_DATA_URL: peers.loaderUrl, ESTIMATOR_URL: peers.estimatorUrl, JOB_POLL_INTERVAL_MS: '100', INITIAL_HISTORY_YEARS: '3' }),
      pool: db.pool,
      logger: false,
    });
  });
  after(async () => {
    await app?.close();
    await peers?.close();
    await db?.drop();
  });

  /** A run as of the evening (New York) of `day`. */
  async function runOn(day: string) {
    const { id, done } = await startRun({ ...app.runDeps, now: () => new Date(`${day}T23:30:00Z`) }, 'manual', ['AAPL']);
    assert.equal(await done, 'succeeded', JSON.stringify((await app.inject(`/runs/${id}`)).json()));
    return (await app.inject(`/runs/${id}`)).json().steps as Array<{ step: string; status: string; detail: Record<string, any> }>;
  }

  test('calm new bars are fine-tuned; after the 2020 crash the champion is retrained from scratch, and the reason is recorded', async () => {
    const first = await runOn('2020-01-31');
    assert.deepEqual(first.map((s) => `${s.step}:${s.status}`), ['load:succeeded', 'train:succeeded']);
    assert.equal(first[1]!.detail.reason, 'no model yet');

    const calm = await runOn('2020-02-07');
    assert.deepEqual(calm.map((s) => `${s.step}:${s.status}`), ['load:succeeded', 'fine-tune:succeeded']);
    assert.equal(calm[1]!.detail.monitoring.drift_detected, false);
    assert.match(calm[1]!.detail.reason, /no drift/);

    const crash = await runOn('2020-04-17');
    assert.deepEqual(crash.map((s) => `${s.step}:${s.status}`), ['load:succeeded', 'train:succeeded']);
    const detail = crash[1]!.detail;
    assert.equal(detail.monitoring.drift_detected, true);
    assert.ok(detail.monitoring.drift_p_value < 0.01);
    assert.match(detail.reason, /^full retrain instead of a fine-tune: drift: daily returns of the last 60 days/);

    const models = (await peers.estimator.inject('/models?ticker=AAPL')).json().models;
    assert.deepEqual(models.map((m: { kind: string }) => m.kind), ['train', 'fine-tune', 'train']);
  });
});
