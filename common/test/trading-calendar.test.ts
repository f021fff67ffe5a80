// Exchange calendars: forecast dates must be real sessions of the ticker's exchange.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addDays, easterSunday, exchangeOf, holidaysOf, isTradingDay, lastCompletedTradingDay, nextTradingDays, tradingDaysBetween } from '../src/index.ts';

test("AAPL's first forecast day after 2023-12-29 is 2024-01-02, not New Year's Day", () => {
  assert.deepEqual(nextTradingDays('AAPL', '2023-12-29', 2), ['2024-01-02', '2024-01-03']);
  // Thanksgiving 2024 and Good Friday 2024 are skipped too.
  assert.deepEqual(nextTradingDays('^GSPC', '2024-11-27', 2), ['2024-11-29', '2024-12-02']);
  assert.deepEqual(nextTradingDays('MSFT', '2024-03-28', 1), ['2024-04-01']);
});

test('Easter by the Gregorian computus', () => {
  assert.equal(easterSunday(2019), '2019-04-21');
  assert.equal(easterSunday(2024), '2024-03-31');
  assert.equal(easterSunday(2025), '2025-04-20');
  assert.equal(easterSunday(2038), '2038-04-25'); // latest possible
  assert.equal(easterSunday(2285), '2285-03-22'); // earliest possible
});

// NYSE's published holiday lists (nyse.com, "Holidays & Trading Hours").
test('NYSE holidays: observed shifts, Juneteenth from 2022, no Friday closure for a Saturday New Year', () => {
  assert.deepEqual([...holidaysOf('NYSE', 2024).keys()], [
    '2024-01-01', '2024-01-15', '2024-02-19', '2024-03-29', '2024-05-27', '2024-06-19', '2024-07-04', '2024-09-02', '2024-11-28', '2024-12-25',
  ]);
  assert.deepEqual([...holidaysOf('NYSE', 2021).keys()], [
    '2021-01-01', '2021-01-18', '2021-02-15', '2021-04-02', '2021-05-31', '2021-07-05', '2021-09-06', '2021-11-25', '2021-12-24',
  ]);
  assert.ok(isTradingDay('AAPL', '2021-12-31'), 'New Year 2022 fell on a Saturday: Friday Dec 31 traded');
  assert.ok(!isTradingDay('AAPL', '2022-06-20'), 'Juneteenth 2022 (a Sunday) observed on Monday');
  assert.ok(isTradingDay('AAPL', '2021-06-18'), 'no Juneteenth before 2022');
  assert.ok(!isTradingDay('AAPL', '2012-10-29') && !isTradingDay('AAPL', '2025-01-09'), 'special closures');
});

// B3's published 2024 calendar: Carnival Monday and Tuesday, Corpus Christi, Black Consciousness
// Day (national from 2024), Christmas Eve and the last weekday of the year.
test('B3 holidays for .SA tickers: Carnival, Corpus Christi, year end', () => {
  assert.equal(exchangeOf('PETR4.SA'), 'B3');
  assert.deepEqual([...holidaysOf('B3', 2024).keys()], [
    '2024-01-01', '2024-02-12', '2024-02-13', '2024-03-29', '2024-05-01', '2024-05-30', '2024-11-15', '2024-11-20', '2024-12-24', '2024-12-25', '2024-12-31',
  ]);
  assert.deepEqual(nextTradingDays('PETR4.SA', '2024-02-09', 2), ['2024-02-14', '2024-02-15'], 'Ash Wednesday trades (late open)');
  assert.ok(isTradingDay('VALE3.SA', '2022-01-25') && !isTradingDay('VALE3.SA', '2021-01-25'), 'Sao Paulo anniversary closed B3 until 2021');
  assert.ok(isTradingDay('VALE3.SA', '2023-11-20'), 'Nov 20 traded 2020-2023');
  assert.ok(!isTradingDay('VALE3.SA', '2022-12-30'), 'last weekday of 2022 (Dec 31 a Saturday)');
  // A US holiday is a B3 session and the reverse.
  assert.ok(isTradingDay('PETR4.SA', '2024-07-04') && isTradingDay('AAPL', '2024-02-13'));
});

test('crypto trades every day; forex and other exchanges on weekdays without a holiday calendar', () => {
  assert.deepEqual(nextTradingDays('BTC-USD', '2023-12-30', 3), ['2023-12-31', '2024-01-01', '2024-01-02']);
  assert.equal(exchangeOf('EURUSD=X'), 'WEEKDAYS');
  assert.ok(isTradingDay('EURUSD=X', '2024-01-01') && !isTradingDay('EURUSD=X', '2024-01-06'));
  assert.equal(tradingDaysBetween('AAPL', '2023-12-22', '2024-01-02'), 5);
});

const gspc = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'market-data', '^GSPC.csv');
test('the NYSE rules reproduce every session of the real S&P 500 history 1998-2023', { skip: !existsSync(gspc) && 'no shared market data beside the repository' }, async () => {
  const sessions = new Set(readFileSync(gspc, 'utf8').split('\n').slice(1).map((line) => line.slice(0, 10)));
  const mismatches: string[] = [];
  for (let d = '1998-01-02'; d <= '2023-12-28'; d = addDays(d, 1)) if (isTradingDay('^GSPC', d) !== sessions.has(d)) mismatches.push(d);
  assert.deepEqual(mismatches, []);
});

test("a day's bar counts as complete once its exchange has settled, in the exchange's own time zone", () => {
  // Monday 2024-07-01, US summer time: NYSE closes 16:00 New York (20:00 UTC), B3 18:00 Sao Paulo (21:00 UTC).
  const at = (utc: string) => new Date(`2024-07-01T${utc}:00Z`);
  assert.equal(lastCompletedTradingDay('AAPL', at('20:15')), '2024-06-28', 'NYSE before 16:30 New York: Friday');
  assert.equal(lastCompletedTradingDay('AAPL', at('20:45')), '2024-07-01');
  assert.equal(lastCompletedTradingDay('PETR4.SA', at('20:45')), '2024-06-28', 'B3 still trading at 17:45 Sao Paulo');
  assert.equal(lastCompletedTradingDay('PETR4.SA', at('21:45')), '2024-07-01');
  assert.equal(lastCompletedTradingDay('BTC-USD', at('20:45')), '2024-06-30', 'crypto days end at midnight UTC');
  // After midnight UTC but still Monday evening in New York: Monday is the last completed session.
  assert.equal(lastCompletedTradingDay('AAPL', new Date('2024-07-02T02:00:00Z')), '2024-07-01');
  // 2024-07-04 is a NYSE holiday: on the 5th before the close the last complete session is the 3rd.
  assert.equal(lastCompletedTradingDay('AAPL', new Date('2024-07-05T15:00:00Z')), '2024-07-03');
});
