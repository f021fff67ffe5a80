import { z } from 'zod';
import { EARLIEST_DATE, ISO_DATE, latestBarDate, MAX_PRICE, MAX_VOLUME, MIN_PRICE, TICKER_PATTERN } from './bars.ts';

/** Request fields every service validates the same way (one schema: validation, types, OpenAPI). */
export const tickerSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(TICKER_PATTERN, 'must be a Yahoo symbol such as AAPL, BRK-B, ^GSPC or BTC-USD (letters, digits, . - ^ =; at most 15 characters)');

/**
 * YYYY-MM-DD (already matched by ISO_DATE) names a real day: arithmetic, no Date objects, since
 * POST /predict validates one per bar (Date parsing was ~10% of its CPU).
 */
export function isRealCalendarDate(s: string): boolean {
  const year = Number(s.slice(0, 4));
  const month = Number(s.slice(5, 7));
  const day = Number(s.slice(8, 10));
  if (!(month >= 1 && month <= 12 && day >= 1)) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

/** A real calendar date written YYYY-MM-DD (2021-02-30 is refused). */
export const isoDateSchema = z
  .string()
  .regex(ISO_DATE, 'must be a date as YYYY-MM-DD')
  .refine(isRealCalendarDate, 'is not a real calendar date');

/** A bar's date: a real calendar day between 1900-01-01 and a week from now. */
export const barDateSchema = isoDateSchema
  .refine((s) => s >= EARLIEST_DATE, `must be on or after ${EARLIEST_DATE}`)
  .refine((s) => s <= latestBarDate(), 'must not be more than a week in the future')
  .describe(`YYYY-MM-DD, from ${EARLIEST_DATE} to a week from today`);

/** A price: MIN_PRICE .. MAX_PRICE (shown in /docs as minimum and maximum). */
export const priceSchema = z.number().min(MIN_PRICE, `must be at least ${MIN_PRICE}`).max(MAX_PRICE, `must be at most ${MAX_PRICE}`);

/** A day's volume: 0 .. MAX_VOLUME shares. */
export const volumeSchema = z.number().min(0, 'must not be negative').max(MAX_VOLUME, `must be at most ${MAX_VOLUME}`);

/** A stored row's id or version in a path: a positive whole number a bigint column can hold. */
export const rowIdSchema = (what: string) => z.coerce.number().int('must be a whole number').min(1, `must be ${what}`)
  .max(Number.MAX_SAFE_INTEGER, `must be at most ${Number.MAX_SAFE_INTEGER}`);
