/**
 * Trading days: real exchange sessions.
 * - Crypto (`*-USD`) trades every day.
 * - `.SA` tickers trade on B3's sessions; other US listings and indices (no exchange suffix, or
 *   `^` indices other than B3's `^BVSP`) on NYSE's.
 * - Anything else (forex `=X`, other exchanges' suffixes) on weekdays, with no holiday calendar.
 * Holidays are computed from the exchanges' rules (not a table that runs out): see nyseHolidays
 * and b3Holidays. Rules are those of today plus the dated changes listed; before 1998 NYSE's
 * calendar had other holidays, which these rules do not model.
 */
export type Exchange = 'NYSE' | 'B3' | 'CRYPTO' | 'WEEKDAYS';

export function exchangeOf(ticker: string): Exchange {
  const t = ticker.toUpperCase();
  if (/-USD$/.test(t)) return 'CRYPTO';
  if (/\.SA$/.test(t) || t === '^BVSP') return 'B3';
  if (/=X$/.test(t) || /\.[A-Z]{1,3}$/.test(t)) return 'WEEKDAYS';
  return 'NYSE';
}

export function tradesEveryDay(ticker: string): boolean {
  return exchangeOf(ticker) === 'CRYPTO';
}

export function isTradingDay(ticker: string, date: string): boolean {
  const exchange = exchangeOf(ticker);
  if (exchange === 'CRYPTO') return true;
  if (!isWeekday(new Date(`${date}T00:00:00Z`))) return false;
  return exchange === 'WEEKDAYS' || !holidaysOf(exchange, Number(date.slice(0, 4))).has(date);
}

/** The exchange's full-day closures in a year that fall on weekdays: date -> name. */
export function holidaysOf(exchange: 'NYSE' | 'B3', year: number): ReadonlyMap<string, string> {
  const key = `${exchange}:${year}`;
  let holidays = holidayCache.get(key);
  if (!holidays) {
    holidays = new Map([...(exchange === 'NYSE' ? nyseHolidays(year) : b3Holidays(year))].filter(([d]) => isWeekday(new Date(`${d}T00:00:00Z`))).sort());
    holidayCache.set(key, holidays);
  }
  return holidays;
}

const holidayCache = new Map<string, Map<string, string>>();

/**
 * NYSE (NYSE Group holidays and trading hours, Rule 7.2): New Year's Day, Martin Luther King Jr.
 * Day (3rd Monday of January, from 1998), Washington's Birthday (3rd Monday of February), Good
 * Friday, Memorial Day (last Monday of May), Juneteenth (from 2022), Independence Day, Labor Day
 * (1st Monday of September), Thanksgiving (4th Thursday of November), Christmas. A holiday on a
 * Sunday is observed on Monday, on a Saturday on Friday, except New Year's Day (not moved to the
 * previous year's December 31). Plus the unscheduled closures since 1994 (NYSE's historical
 * closings): national days of mourning and the September 2001 and Hurricane Sandy closures.
 */
export function nyseHolidays(year: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const newYear = ymd(year, 1, 1);
  if (weekdayOf(newYear) === 0) out.push([ymd(year, 1, 2), "New Year's Day (observed)"]);
  else if (weekdayOf(newYear) !== 6) out.push([newYear, "New Year's Day"]);
  if (year >= 1998) out.push([nthWeekday(year, 1, 1, 3), 'Martin Luther King Jr. Day']);
  out.push([nthWeekday(year, 2, 1, 3), "Washington's Birthday"]);
  out.push([addDays(easterSunday(year), -2), 'Good Friday']);
  out.push([lastWeekday(year, 5, 1), 'Memorial Day']);
  if (year >= 2022) out.push([observed(ymd(year, 6, 19)), 'Juneteenth National Independence Day']);
  out.push([observed(ymd(year, 7, 4)), 'Independence Day']);
  out.push([nthWeekday(year, 9, 1, 1), 'Labor Day']);
  out.push([nthWeekday(year, 11, 4, 4), 'Thanksgiving Day']);
  out.push([observed(ymd(year, 12, 25)), 'Christmas Day']);
  for (const [date, name] of NYSE_SPECIAL_CLOSURES) if (date.startsWith(`${year}-`)) out.push([date, name]);
  return out;
}

const NYSE_SPECIAL_CLOSURES: ReadonlyArray<[string, string]> = [
  ['1994-04-27', 'National day of mourning: President Nixon'],
  ['2001-09-11', 'September 11 attacks'],
  ['2001-09-12', 'September 11 attacks'],
  ['2001-09-13', 'September 11 attacks'],
  ['2001-09-14', 'September 11 attacks'],
  ['2004-06-11', 'National day of mourning: President Reagan'],
  ['2007-01-02', 'National day of mourning: President Ford'],
  ['2012-10-29', 'Hurricane Sandy'],
  ['2012-10-30', 'Hurricane Sandy'],
  ['2018-12-05', 'National day of mourning: President George H. W. Bush'],
  ['2025-01-09', 'National day of mourning: President Carter'],
];

/**
 * B3 (B3's trading calendar, "Feriados"): national holidays (January 1, Tiradentes April 21, Labour
 * Day May 1, Independence September 7, Aparecida October 12, All Souls November 2, Republic
 * November 15, Black Consciousness November 20 as a national holiday from 2024), the Easter-based
 * Carnival Monday and Tuesday (Easter - 48, - 47; Ash Wednesday opens late but trades), Good
 * Friday and Corpus Christi (Easter + 60), Christmas Eve and Day, and no session on the last
 * weekday of the year. Sao Paulo's own holidays closed B3 until B3 chose to open on them:
 * January 25 until 2021, July 9 from 1998 to 2021 (open in 2020), November 20 from 2004 to 2019.
 * The 2014 World Cup opening match (June 12) closed it too.
 */
export function b3Holidays(year: number): Array<[string, string]> {
  const easter = easterSunday(year);
  const out: Array<[string, string]> = [
    [ymd(year, 1, 1), 'Confraternização Universal'],
    [addDays(easter, -48), 'Carnaval (segunda-feira)'],
    [addDays(easter, -47), 'Carnaval (terça-feira)'],
    [addDays(easter, -2), 'Sexta-feira da Paixão'],
    [ymd(year, 4, 21), 'Tiradentes'],
    [ymd(year, 5, 1), 'Dia do Trabalho'],
    [addDays(easter, 60), 'Corpus Christi'],
    [ymd(year, 9, 7), 'Independência do Brasil'],
    [ymd(year, 10, 12), 'Nossa Senhora Aparecida'],
    [ymd(year, 11, 2), 'Finados'],
    [ymd(year, 11, 15), 'Proclamação da República'],
    [ymd(year, 12, 24), 'Véspera de Natal'],
    [ymd(year, 12, 25), 'Natal'],
  ];
  if (year <= 2021) out.push([ymd(year, 1, 25), 'Aniversário de São Paulo']);
  if ((year >= 1998 && year <= 2019) || year === 2021) out.push([ymd(year, 7, 9), 'Revolução Constitucionalista']);
  if ((year >= 2004 && year <= 2019) || year >= 2024) out.push([ymd(year, 11, 20), 'Dia da Consciência Negra']);
  if (year === 2014) out.push(['2014-06-12', 'Copa do Mundo: abertura']);
  let lastDay = ymd(year, 12, 31);
  while (!isWeekday(new Date(`${lastDay}T00:00:00Z`))) lastDay = addDays(lastDay, -1);
  out.push([lastDay, 'Último dia útil do ano']);
  return out;
}

/** Easter Sunday (Gregorian), by the anonymous Gregorian algorithm (Meeus / Butcher). */
export function easterSunday(year: number): string {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return ymd(year, month, day);
}

function ymd(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function isWeekday(d: Date): boolean {
  const dow = d.getUTCDay();
  return dow !== 0 && dow !== 6;
}

function weekdayOf(date: string): number {
  return new Date(`${date}T00:00:00Z`).getUTCDay();
}

/** The n-th given weekday (0 = Sunday) of a month. */
function nthWeekday(year: number, month: number, weekday: number, n: number): string {
  const first = ymd(year, month, 1);
  return addDays(first, ((weekday - weekdayOf(first) + 7) % 7) + 7 * (n - 1));
}

function lastWeekday(year: number, month: number, weekday: number): string {
  const last = addDays(month === 12 ? ymd(year + 1, 1, 1) : ymd(year, month + 1, 1), -1);
  return addDays(last, -((weekdayOf(last) - weekday + 7) % 7));
}

/** US observance: Saturday -> Friday, Sunday -> Monday. */
function observed(date: string): string {
  const dow = weekdayOf(date);
  return dow === 6 ? addDays(date, -1) : dow === 0 ? addDays(date, 1) : date;
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The next `count` trading days strictly after `date`: real sessions of the ticker's exchange. */
export function nextTradingDays(ticker: string, date: string, count: number): string[] {
  const out: string[] = [];
  for (let d = addDays(date, 1); out.length < count; d = addDays(d, 1)) if (isTradingDay(ticker, d)) out.push(d);
  return out;
}

/** The most recent trading day on or before `date`. */
export function tradingDayOnOrBefore(ticker: string, date: string): string {
  let d = date;
  while (!isTradingDay(ticker, d)) d = addDays(d, -1);
  return d;
}

/** Trading days in (from, to]: how many bars a series ending at `from` is behind `to`. */
export function tradingDaysBetween(ticker: string, from: string, to: string): number {
  let n = 0;
  for (let d = addDays(from, 1); d <= to; d = addDays(d, 1)) if (isTradingDay(ticker, d)) n++;
  return n;
}

/** Today's date in New York, where the equities we track close. */
export function todayInNewYork(now: Date = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York' }).format(now);
}

/**
 * Where each exchange's daily bar settles: its time zone and a time a little after its close
 * (NYSE closes 16:00 New York; B3's session ends 17:00 or 18:00 Sao Paulo depending on US summer
 * time, with a closing call after it). Forex and other weekday markets follow New York, as before.
 */
const SETTLES: Record<Exclude<Exchange, 'CRYPTO'>, { timeZone: string; at: string }> = {
  NYSE: { timeZone: 'America/New_York', at: '16:30' },
  B3: { timeZone: 'America/Sao_Paulo', at: '18:30' },
  WEEKDAYS: { timeZone: 'America/New_York', at: '16:30' },
};

/**
 * The last trading day whose session is over: today once the exchange's bar has settled (see
 * SETTLES), else the previous trading day. Crypto days end at midnight UTC.
 */
export function lastCompletedTradingDay(ticker: string, now: Date = new Date()): string {
  const exchange = exchangeOf(ticker);
  if (exchange === 'CRYPTO') return addDays(now.toISOString().slice(0, 10), -1);
  const { timeZone, at } = SETTLES[exchange];
  const today = new Intl.DateTimeFormat('en-CA', { timeZone }).format(now);
  const hm = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hour12: false }).format(now);
  const candidate = hm >= at ? today : addDays(today, -1);
  return tradingDayOnOrBefore(ticker, candidate);
}
