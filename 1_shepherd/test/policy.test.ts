import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastCompletedTradingDay } from '@stocks/common';
import { initialBackfill, planTicker, yearsBefore } from '../src/policy.ts';

test('a ticker with nothing stored loads the initial history and trains', () => {
  assert.deepEqual(planTicker({ lastCompletedTradingDay: '2024-03-08', hasModel: false, initialHistoryYears: 10 }), {
    load: { start_date: '2014-03-08', end_date: '2024-03-08' },
    training: 'train',
  });
});

test('a stale ticker loads the missing days, then fine-tunes if new bars arrive', () => {
  assert.deepEqual(planTicker({ newestStored: '2024-03-05', lastCompletedTradingDay: '2024-03-08', hasModel: true, initialHistoryYears: 10 }), {
    load: { start_date: '2024-03-06', end_date: '2024-03-08' },
    training: 'fine-tune-if-new-data',
  });
});

test('a fresh ticker with a model needs nothing; without a model it trains', () => {
  assert.deepEqual(planTicker({ newestStored: '2024-03-08', lastCompletedTradingDay: '2024-03-08', hasModel: true, initialHistoryYears: 10 }), { load: undefined, training: 'none' });
  assert.equal(planTicker({ newestStored: '2024-03-08', lastCompletedTradingDay: '2024-03-08', hasModel: false, initialHistoryYears: 10 }).training, 'train');
});

test('29 February minus whole years stays a real date', () => {
  assert.equal(yearsBefore('2024-02-29', 1), '2023-03-01');
});

test('the last completed trading day respects the New York close and weekends', () => {
  // Friday 2024-03-08 15:00 New York (20:00 UTC): the session is not over -> Thursday.
  assert.equal(lastCompletedTradingDay('AAPL', new Date('2024-03-08T20:00:00Z')), '2024-03-07');
  // Friday 17:00 New York (22:00 UTC) -> Friday.
  assert.equal(lastCompletedTradingDay('AAPL', new Date('2024-03-08T22:00:00Z')), '2024-03-08');
  // Sunday -> Friday.
  assert.equal(lastCompletedTradingDay('AAPL', new Date('2024-03-10T18:00:00Z')), '2024-03-08');
  // Crypto trades every day: yesterday (UTC).
  assert.equal(lastCompletedTradingDay('BTC-USD', new Date('2024-03-10T18:00:00Z')), '2024-03-09');
});

test('monitoring turns the fine-tune into a full retrain, with the reasons; it never adds a training', () => {
  const stale = { newestStored: '2024-03-05', lastCompletedTradingDay: '2024-03-08', hasModel: true, initialHistoryYears: 10 };
  const drift = { fullRetrainAdvised: true, reasons: ['drift: daily returns differ'] };
  assert.deepEqual(planTicker({ ...stale, monitoring: drift }), {
    load: { start_date: '2024-03-06', end_date: '2024-03-08' },
    training: 'retrain-if-new-data',
    retrainReasons: ['drift: daily returns differ'],
  });
  const worse = { fullRetrainAdvised: true, reasons: [] };
  assert.deepEqual(planTicker({ ...stale, monitoring: worse }).retrainReasons, ['monitoring advised a full retrain']);
  // Healthy champion: fine-tune as usual.
  assert.deepEqual(planTicker({ ...stale, monitoring: { fullRetrainAdvised: false, reasons: [] } }), {
    load: { start_date: '2024-03-06', end_date: '2024-03-08' },
    training: 'fine-tune-if-new-data',
  });
  // Fresh data: nothing to learn from, whatever monitoring says; no model: train anyway.
  assert.equal(planTicker({ ...stale, newestStored: '2024-03-08', monitoring: drift }).training, 'none');
  assert.equal(planTicker({ ...stale, hasModel: false, monitoring: drift }).training, 'train');
});

test('a source that ends before today: the initial history counts back from its newest bar', () => {
  // The bundled sample ends 2020-04-17; ten years back from a 2026 "today" loaded only 2016-11..2020-04.
  const plan = planTicker({ lastCompletedTradingDay: '2026-11-27', hasModel: false, initialHistoryYears: 10 });
  assert.deepEqual(initialBackfill(plan.load!, '2020-04-17', 10), { start_date: '2010-04-17', end_date: '2016-11-26' });
  // A source that is current needs nothing more; nor does one that returned nothing.
  assert.equal(initialBackfill(plan.load!, '2026-11-27', 10), undefined);
  assert.equal(initialBackfill(plan.load!, null, 10), undefined);
});
