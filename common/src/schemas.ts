import { z } from 'zod';
import { ISO_DATE, TICKER_PATTERN } from './bars.ts';

/** Request fields every service validates the same way (one schema: validation, types, OpenAPI). */
export const tickerSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(TICKER_PATTERN, 'must be a Yahoo symbol such as AAPL, BRK-B, ^GSPC or BTC-USD (letters, digits, . - ^ =; at most 15 characters)');

/** A real calendar date written YYYY-MM-DD (2021-02-30 is refused). */
export const isoDateSchema = z
  .string()
  .regex(ISO_DATE, 'must be a date as YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), 'is not a real calendar date');
