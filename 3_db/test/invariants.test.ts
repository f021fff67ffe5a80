/**
 * Invariants the database now enforces for every caller (real Postgres, a database of its own):
 * one active job per (ticker, kind) under 20 concurrent submits, a finished job not taken again,
 * one running shepherd run, rollback walking the champion history, a save waiting on the champion lock.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { holdClient, withTransaction } from '@stocks/common';
import { jobs, models, runs } from '../src/index.ts';
import { createTestDatabase, type TestDatabase } from '../src/testing.ts';

const version = (ticker: string): models.NewModelVersion => ({
  ticker, kind: 'train', parent_version: null, job_id: null, topology: {}, weight_specs: [],
  weights: new Uint8Array([1]), scaler: {}, config: {}, alpha: 1,
  metrics: { mae: 1, rmse: 1, mape: 1 }, baseline: { mae: 2, rmse: 2, mape: 2 }, evaluation: {},
  train_start: '2024-01-02', train_end: '2024-01-05', validation_start: null, validation_end: null,
  epochs: 1, final_loss: 0.1, duration_ms: 10, backend: 'cpu',
});

describe('database-enforced invariants', () => {
  let db: TestDatabase;
  before(async () => { db = await createTestDatabase('stocks_invariants'); });
  after(async () => { await db.drop(); });

  test('20 concurrent submits of one (ticker, kind) create one job and all get its id', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () =>
      withTransaction(db.pool, (tx) => jobs.createOrGetActiveJob(tx, { id: randomUUID(), kind: 'train', ticker: 'RACE', params: {} }))));
    assert.equal(new Set(results.map((r) => r.job.id)).size, 1);
    assert.equal(results.filter((r) => r.created).length, 1);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM training_jobs WHERE ticker = 'RACE'`);
    assert.equal(rows[0].n, 1);
    // Once it is finished, the next submit makes a new job.
    await jobs.markJobSucceeded(db.pool, results[0]!.job.id, null);
    const next = await jobs.createOrGetActiveJob(db.pool, { id: randomUUID(), kind: 'train', ticker: 'RACE', params: {} });
    assert.equal(next.created, true);
  });

  test('a redelivered job that already succeeded is not taken again', async () => {
    const { job } = await jobs.createOrGetActiveJob(db.pool, { id: randomUUID(), kind: 'fine-tune', ticker: 'REDO', params: {} });
    const fence = await jobs.markJobRunning(db.pool, job.id, 'w1');
    assert.ok(fence);
    await jobs.markJobSucceeded(db.pool, job.id, null, fence);
    assert.equal(await jobs.markJobRunning(db.pool, job.id, 'w2'), undefined);
    assert.equal((await jobs.getJob(db.pool, job.id))!.status, 'succeeded');
  });

  test('one shepherd run at a time: a second insert while one runs gets nothing', async () => {
    const first = await runs.createRun(db.pool, await runs.nextRunId(db.pool), 'manual', ['A'], 'h1');
    assert.ok(first);
    assert.equal(await runs.createRun(db.pool, await runs.nextRunId(db.pool), 'cron', ['A'], 'h2'), undefined);
    assert.equal((await runs.getRunningRun(db.pool))!.id, first.id);
    assert.equal(await runs.finishRun(db.pool, first.id, 'skipped'), true);
    assert.equal(await runs.finishRun(db.pool, first.id, 'failed', 'late'), false, 'a closed run keeps its outcome');
    assert.ok(await runs.createRun(db.pool, await runs.nextRunId(db.pool), 'cron', ['A'], 'h2'));
  });

  test('rollback walks the champion history instead of toggling', async () => {
    const save = () => withTransaction(db.pool, (tx) => models.insertModelVersion(tx, version('WALK'), { promote: true, reason: 'train' }));
    const a = await save();
    const b = await save();
    const c = await save();
    const rollback = async () => {
      const to = await models.previousChampionVersion(db.pool, 'WALK');
      if (to === undefined) return undefined;
      await withTransaction(db.pool, (tx) => models.setChampion(tx, 'WALK', to, 'rollback', 'test'));
      return to;
    };
    assert.equal(await rollback(), b);
    assert.equal(await rollback(), a, 'a second rollback goes further back, not back to c');
    assert.equal(await rollback(), undefined, 'nothing before the first champion');
    assert.equal(await models.getChampionVersion(db.pool, 'WALK'), a);
    assert.notEqual(c, a);
  });

  test('saving a promoted version waits for the champion lock that promote/rollback hold', async () => {
    const held = await holdClient(db.pool);
    await held.client.query('BEGIN');
    await models.lockChampion(held.client, 'LOCKED');
    let saved = false;
    const saving = withTransaction(db.pool, (tx) => models.insertModelVersion(tx, version('LOCKED'), { promote: true, reason: 'train' }))
      .then(() => { saved = true; });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(saved, false, 'the save waits while a promotion holds the lock');
    await held.client.query('COMMIT');
    held.release();
    await saving;
    assert.equal(saved, true);
  });
});
