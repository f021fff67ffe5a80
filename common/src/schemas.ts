import { z } from 'zod';
import { ISO_DATE, TICKER_PATTERN } from './bars.ts';

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
