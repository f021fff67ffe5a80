import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DailyBar } from '@stocks/common';
import { withTransaction } from '@stocks/common';
import pg from 'pg';
import { CHANNELS, migrate, models, prices, trySessionLock } from '../src/index.ts';
import { createTestDatabase, type TestDatabase } from '../src/testing.ts';

const bar = (date: string, close: number): DailyBar => ({ date, open: close, high: close + 1, low: close - 1, close, adj_close: close, volume: 1000 });

describe('3_db', () => {
  let db: TestDatabase;
  before(async () => { db = await createTestDatabase(); });
  after(async () => { await db.drop(); });

  test('migrations are applied once and re-running them is a no-op', async () => {
    const again = await migrate(db.url);
    assert.equal(again.from, again.to);
    assert.ok(again.to >= 1);
  });

  test('upsert inserts, then a repeat changes nothing, then a changed bar counts as updated', async () => {
    const bars = [bar('2024-01-02', 10), bar('2024-01-03', 11), bar('2024-01-04', 12)];
    assert.deepEqual(await prices.upsertPrices(db.pool, 'TEST', 'csv', bars), { inserted: 3, updated: 0 });
    assert.deepEqual(await prices.upsertPrices(db.pool, 'TEST', 'csv', bars), { inserted: 0, updated: 0 });
    const changed = [bar('2024-01-04', 12.5), bar('2024-01-05', 13)];
    assert.deepEqual(await prices.upsertPrices(db.pool, 'TEST', 'csv', changed), { inserted: 1, updated: 1 });
    const stored = await prices.getPrices(db.pool, 'TEST');
    assert.deepEqual(stored.map((b) => [b.date, b.close]), [['2024-01-02', 10], ['2024-01-03', 11], ['2024-01-04', 12.5], ['2024-01-05', 13]]);
    assert.deepEqual(await prices.getCoverage(db.pool, 'TEST'), { ticker: 'TEST', first_date: '2024-01-02', last_date: '2024-01-05', rows: 4 });
    const recent = await prices.getRecentPrices(db.pool, 'TEST', 2);
    assert.deepEqual(recent.map((b) => b.date), ['2024-01-04', '2024-01-05']);
  });

  test('upsert stores nulls, fractional and large values exactly, and refuses a malformed date before writing', async () => {
    const odd: DailyBar = { date: '2024-02-01', open: null, high: 1e6 + 0.123456789, low: 1e-7, close: 0.30000000000000004, adj_close: null, volume: 9_007_199_254_740_991 };
    assert.deepEqual(await prices.upsertPrices(db.pool, 'ODD', 'csv', [odd]), { inserted: 1, updated: 0 });
    assert.deepEqual(await prices.getPrices(db.pool, 'ODD'), [odd]);
    await assert.rejects(prices.upsertPrices(db.pool, 'ODD', 'csv', [bar('2024-02-02,2024-02-03', 5)]), /not a YYYY-MM-DD date/);
    await assert.rejects(prices.upsertPrices(db.pool, 'ODD', 'csv', [bar('2024-02-02', Number.NaN)]), /not a finite number: NaN/);
    assert.equal((await prices.getPrices(db.pool, 'ODD')).length, 1);
  });

  test('two concurrent overlapping upserts leave no duplicates', async () => {
    const a = Array.from({ length: 200 }, (_, i) => bar(new Date(Date.UTC(2010, 0, 1 + i)).toISOString().slice(0, 10), 50 + i));
    const b = a.slice(100).concat(Array.from({ length: 100 }, (_, i) => bar(new Date(Date.UTC(2010, 0, 201 + i)).toISOString().slice(0, 10), 300 + i)));
    const [ra, rb] = await Promise.all([prices.upsertPrices(db.pool, 'CONC', 'csv', a), prices.upsertPrices(db.pool, 'CONC', 'csv', b)]);
    assert.equal(ra.inserted + rb.inserted, 300);
    assert.equal((await prices.getCoverage(db.pool, 'CONC'))?.rows, 300);
  });

  test('the database allows one champion per ticker and promotion swaps it atomically', async () => {
    const base: models.NewModelVersion = {
      ticker: 'TEST', kind: 'train', parent_version: null, job_id: null, topology: {}, weight_specs: [],
      weights: new Uint8Array([1, 2, 3]), scaler: {}, config: { window: 5 }, alpha: 1,
      metrics: { mae: 1, rmse: 1, mape: 1 }, baseline: { mae: 2, rmse: 2, mape: 2 }, evaluation: {},
      train_start: '2024-01-02', train_end: '2024-01-05', validation_start: null, validation_end: null,
      epochs: 1, final_loss: 0.1, duration_ms: 10, backend: 'cpu',
    };
    const v1 = await withTransaction(db.pool, (tx) => models.insertModelVersion(tx, base, { promote: true, reason: 'first' }));
    const v2 = await withTransaction(db.pool, (tx) => models.insertModelVersion(tx, base, { promote: true, reason: 'better' }));
    const v3 = await withTransaction(db.pool, (tx) => models.insertModelVersion(tx, base, { promote: false, reason: 'worse' }));
    assert.equal(await models.getChampionVersion(db.pool, 'TEST'), v2);
    const listed = await models.listModels(db.pool, 'TEST');
    assert.deepEqual(listed.map((m) => [m.version, m.status]), [[v3, 'rejected'], [v2, 'champion'], [v1, 'retired']]);
    const champion = await models.getChampion(db.pool, 'TEST');
    assert.deepEqual([...champion!.weights], [1, 2, 3]);
    await assert.rejects(db.pool.query(`UPDATE models SET is_champion = true WHERE version = $1`, [v1]), /models_one_champion/);
  });

  test('the database announces every champion and price change on the named channels, however it is written', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const heard: Array<[string, string | undefined]> = [];
    listener.on('notification', (msg) => heard.push([msg.channel, msg.payload]));
    await listener.query(`LISTEN ${CHANNELS.championChanged}; LISTEN ${CHANNELS.pricesChanged}`);
    const next = async (sql: string, params: unknown[] = []) => {
      heard.length = 0;
      await db.pool.query(sql, params);
      await new Promise((r) => setTimeout(r, 100)); // notifications arrive after the commit
      return [...heard];
    };
    try {
      const base = await db.pool.query<{ version: number }>(`SELECT version FROM models WHERE ticker = 'TEST' AND NOT is_champion ORDER BY version`);
      const [retired, rejected] = base.rows.map((r) => r.version);
      // A manual crowning in plain SQL: one notification for the ticker, at commit.
      assert.deepEqual(await next(`BEGIN; UPDATE models SET is_champion = false, status = 'retired' WHERE ticker = 'TEST' AND is_champion;
        UPDATE models SET is_champion = true, status = 'champion' WHERE version = ${retired}; COMMIT`), [[CHANNELS.championChanged, 'TEST']]);
      assert.deepEqual(await next(`UPDATE models SET alpha = 0.5 WHERE ticker = 'TEST' AND is_champion`), [[CHANNELS.championChanged, 'TEST']]);
      assert.deepEqual(await next(`UPDATE models SET status_reason = 'noted' WHERE version = $1`, [rejected]), [], 'a non-champion row is not announced');
      assert.deepEqual(await next(`INSERT INTO prices (ticker, date, close, source) VALUES ('TEST', '2024-03-01', 1, 'csv')`), [[CHANNELS.pricesChanged, 'TEST']]);
    } finally {
      await listener.end();
    }
  });

  test('a ticker lock is exclusive and released when its holder releases it', async () => {
    const first = await trySessionLock(db.pool, 'shepherd', 'AAPL');
    assert.ok(first);
    assert.equal(await trySessionLock(db.pool, 'shepherd', 'AAPL'), undefined);
    const other = await trySessionLock(db.pool, 'shepherd', 'MSFT');
    assert.ok(other);
    await first.release();
    await other.release();
    const again = await trySessionLock(db.pool, 'shepherd', 'AAPL');
    assert.ok(again);
    await again.release();
  });
});
