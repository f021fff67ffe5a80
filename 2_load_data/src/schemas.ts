import { z } from 'zod';
import { barDateSchema, tickerSchema } from '@stocks/common';

/** A real calendar date between 1900-01-01 and a week from now. */
export const isoDateSchema = barDateSchema;

export const loadRequestSchema = z
  .object({
    ticker: tickerSchema,
    start_date: isoDateSchema.describe('First day to load, inclusive'),
    end_date: isoDateSchema.describe('Last day to load, inclusive'),
  })
  .strict()
  .refine((b) => b.start_date <= b.end_date, { message: 'start_date must be on or before end_date', path: ['start_date'] });

export const loadResponseSchema = z.object({
  ticker: z.string(),
  source: z.enum(['yahoo', 'csv', 'sample']),
  fetched: z.number().int().describe('Clean bars received from the source and written (the whole history when history_rewritten)'),
  inserted: z.number().int(),
  updated: z.number().int(),
  rejected: z.record(z.string(), z.number().int()).describe('Bars dropped, by reason (see README: data quality)'),
  first_date: z.string().nullable(),
  last_date: z.string().nullable(),
  splits: z.number().int(),
  dividends: z.number().int(),
  history_rewritten: z.boolean().describe('A new split made Yahoo rescale the series: the stored history was re-fetched and replaced'),
  deleted: z.number().int().describe('Stored rows removed because the rewritten history no longer has their date'),
});

/** POST /import?ticker=AAPL with a Yahoo-format CSV body. */
export const importQuerySchema = z.object({ ticker: tickerSchema }).strict();

export const importResponseSchema = z.object({
  ticker: z.string(),
  source: z.literal('import'),
  read: z.number().int().describe('Data lines read from the CSV'),
  stored: z.number().int().describe('Bars that passed the data-quality rule and were upserted'),
  inserted: z.number().int(),
  updated: z.number().int(),
  rejected: z.record(z.string(), z.number().int()).describe('Lines dropped, by reason (see README: data quality)'),
  first_date: z.string().nullable(),
  last_date: z.string().nullable(),
});

export type LoadRequest = z.infer<typeof loadRequestSchema>;
export type LoadResponse = z.infer<typeof loadResponseSchema>;
export type ImportResponse = z.infer<typeof importResponseSchema>;

