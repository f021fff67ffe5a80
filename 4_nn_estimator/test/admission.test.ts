/**
 * Job admission without HTTP: what a train, fine-tune or backtest request is answered before
 * anything runs, and that a refused request leaves nothing queued (real Postgres and pg-boss).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type PgBoss from 'pg-boss';
import { type DailyBar, nextTradingDays } from '@stocks/common';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { resolveModelConfig } from '../src/model/config.ts';
import { minimumBarsForTraining } from '../src/model/dataset.ts';
import { createJobAdmission, type JobAdmission } from '../src/training/admission.ts';
import { startQueue, TRAINING_QUEUE } from '../src/training/queue.ts';
import { storeChampion } from './support/champions.ts';

const overrides = { window: 20 };
const minTrain = minimumBarsForTraining(resolveModelConfig(overrides));

/** `n` generated trading days from 2019-01-02 on. */
function bars(n: number, from = '2019-01-02'): DailyBar[] {
  const out: DailyBar[] = [];
  let date = from;
  for (let i = 0; i < n; i++) {
    const close = 100 + Math.sin(i / 5);
    out.push({ date, open: close, high: close, low: close, close, adj_close: close, volume: 1000 });
    date = nextTradingDays('GEN', date, 1)[0]!;
  }
  return out;
}

describe('job admission', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let admission: JobAdmission;
  const history = bars(minTrain + 40);

  const counts = async (ticker: string) => ({
    rows: (await db.pool.query(`SELECT count(*)::int AS n FROM training_jobs WHERE ticker = $1`, [ticker])).rows[0].n as number,
    queued: (await db.pool.query(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND data->>'ticker' = $2`, [TRAINING_QUEUE, ticker])).rows[0].n as number,
  });

  before(async () => {
    db = await createTestDatabase('stocks_admission');
    await prices.upsertPrices(db.pool, 'GEN', 'csv', history);
    boss = await startQueue(db.url, { retryLimit: 1, expireInSeconds: 600 }, () => {});
    admission = createJobAdmission({ pool: db.pool, boss, queue: { retryLimit: 1, expireInSeconds: 600 }, modelOverrides: overrides });
  });
  after(async () => {
    await boss.stop({ graceful: false, wait: true });
    await db.drop();
  });

  test('train: refusals queue nothing; the same parameters join the active job, others are busy', async () => {
    assert.deepEqual(await admission.train({ ticker: 'NONE' }), { outcome: 'no-prices', ticker: 'NONE' });
    // Bars up to end_date, not all stored bars, decide: the 10th stored day leaves 10.
    const early = await admission.train({ ticker: 'GEN', end_date: history[9]!.date });
    assert.deepEqual(early, { outcome: 'too-few-bars', ticker: 'GEN', needed: minTrain, got: 10 });
    const beforeAny = await admission.train({ ticker: 'GEN', end_date: '1990-01-01' });
    assert.deepEqual(beforeAny, { outcome: 'too-few-bars', ticker: 'GEN', needed: minTrain, got: 0 });
    assert.deepEqual(await counts('GEN'), { rows: 0, queued: 0 });

    const first = await admission.train({ ticker: 'GEN' });
    assert.equal(first.outcome, 'accepted');
    assert.ok(first.outcome === 'accepted' && first.job.created && first.job.status === 'queued');
    const again = await admission.train({ ticker: 'GEN', end_date: undefined });
    assert.ok(again.outcome === 'accepted' && !again.job.created, 'an absent and an undefined end_date are the same request');
    assert.equal(again.job.job_id, first.job.job_id);

    const other = await admission.train({ ticker: 'GEN', end_date: history.at(-2)!.date });
    assert.equal(other.outcome, 'busy');
    assert.ok(other.outcome === 'busy');
    assert.equal(other.kind, 'train');
    assert.equal(other.active.job_id, first.job.job_id);
    assert.deepEqual(other.active.params, {});
    assert.deepEqual(await counts('GEN'), { rows: 1, queued: 1 });
  });

  test('fine-tune: no champion, nothing newer than what the champion saw, then accepted', async () => {
    assert.deepEqual(await admission.fineTune({ ticker: 'FT' }), { outcome: 'no-champion', ticker: 'FT' });
    // storeChampion's version was trained through 2020-12-31.
    const seen = bars(30, '2020-11-16').filter((b) => b.date <= '2020-12-31');
    await prices.upsertPrices(db.pool, 'FT', 'csv', seen);
    const version = await storeChampion(db.pool, 'FT', {
      artifact: { topology: {}, weightSpecs: [], weights: new Uint8Array(0) },
      scaler: {} as never,
      config: resolveModelConfig(overrides),
      alpha: 0,
    });
    assert.deepEqual(await admission.fineTune({ ticker: 'FT' }), {
      outcome: 'nothing-new', ticker: 'FT', champion_version: version, trained_through: '2020-12-31', newest_stored: seen.at(-1)!.date,
    });
    assert.deepEqual(await counts('FT'), { rows: 0, queued: 0 });

    await prices.upsertPrices(db.pool, 'FT', 'csv', bars(1, '2021-01-04'));
    const accepted = await admission.fineTune({ ticker: 'FT' });
    assert.ok(accepted.outcome === 'accepted' && accepted.job.created);
    assert.deepEqual(await counts('FT'), { rows: 1, queued: 1 });
  });

  test('backtest: enough bars for every origin and its horizon; parameters decide reuse', async () => {
    assert.deepEqual(await admission.backtest({ ticker: 'NONE', origins: 5, horizon: 5 }), { outcome: 'no-prices', ticker: 'NONE' });
    // The first origin needs a training set, each further origin a bar, the last one its horizon.
    const fits = history.length - minTrain - 5 + 1;
    const tooMany = await admission.backtest({ ticker: 'GEN', origins: fits + 1, horizon: 5 });
    assert.deepEqual(tooMany, { outcome: 'too-few-bars', ticker: 'GEN', needed: history.length + 1, got: history.length });

    const first = await admission.backtest({ ticker: 'GEN', origins: fits, horizon: 5 });
    assert.ok(first.outcome === 'accepted' && first.job.created);
    assert.deepEqual(first.job.params, { origins: fits, horizon: 5 });
    const same = await admission.backtest({ ticker: 'GEN', horizon: 5, origins: fits, retrain_every: undefined });
    assert.ok(same.outcome === 'accepted' && same.job.job_id === first.job.job_id && !same.job.created);
    const retraining = await admission.backtest({ ticker: 'GEN', origins: fits, horizon: 5, retrain_every: 2 });
    assert.ok(retraining.outcome === 'busy' && retraining.active.job_id === first.job.job_id && retraining.kind === 'backtest');
    // The train job of the first test is another kind: it did not block the backtest.
    const rows = (await db.pool.query(`SELECT kind FROM training_jobs WHERE ticker = 'GEN' ORDER BY kind`)).rows.map((r) => r.kind);
    assert.deepEqual(rows, ['backtest', 'train']);
  });
});
