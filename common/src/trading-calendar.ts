/**
 * Trading days. Crypto (`*-USD`) trades every day; equities and indices on weekdays.
 * Exchange holidays are not modelled: a forecast may name a holiday, and the shepherd may ask
 * for a day with no bar, which the loader answers with 0 rows. Both are harmless.
 */
export function tradesEveryDay(ticker: string): boolean {
  return /-USD$/i.test(ticker);
}

export function isTradingDay(ticker: string, date: string): boolean {
  return tradesEveryDay(ticker) || isWeekday(new Date(`${date}T00:00:00Z`));
}

function isWeekday(d: Date): boolean {
  const dow = d.getUTCDay();
  return dow !== 0 && dow !== 6;
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The next `count` trading days strictly after `date` (one Date walked forward: per request). */
export function nextTradingDays(ticker: string, date: string, count: number): string[] {
  const everyDay = tradesEveryDay(ticker);
  const d = new Date(`${date}T00:00:00Z`);
  const out: string[] = [];
  while (out.length < count) {
    d.setUTCDate(d.getUTCDate() + 1);
    if (everyDay || isWeekday(d)) out.push(d.toISOString().slice(0, 10));
  }
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
 * The last trading day whose session is over: today after 16:30 New York time (bars settle a
 * little after the close), else the previous trading day. Crypto days end at midnight UTC.
 */
export function lastCompletedTradingDay(ticker: string, now: Date = new Date()): string {
  if (tradesEveryDay(ticker)) return addDays(now.toISOString().slice(0, 10), -1);
  const today = todayInNewYork(now);
  const hm = new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hour12: false }).format(now);
  const afterClose = hm >= '16:30';
  const candidate = afterClose ? today : addDays(today, -1);
  return tradingDayOnOrBefore(ticker, candidate);
}
