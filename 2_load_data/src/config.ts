import { z } from 'zod';
import { baseEnvSchema, loadEnv, port } from '@stocks/common';

export const loadDataEnvSchema = baseEnvSchema
  .extend({
    PORT: port(8001),
    MARKET_DATA_SOURCE: z.enum(['yahoo', 'csv', 'sample']).default('yahoo'),
    /** Folder of `<TICKER>.csv` files in Yahoo's format, for MARKET_DATA_SOURCE=csv. */
    MARKET_DATA_DIR: z.string().optional(),
    /** Where the Yahoo client sends its calls instead of *.finance.yahoo.com (tests, proxies). */
    YAHOO_BASE_URL: z.string().url().optional(),
    YAHOO_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
    YAHOO_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
    YAHOO_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(4),
  })
  .refine((e) => e.MARKET_DATA_SOURCE !== 'csv' || e.MARKET_DATA_DIR, {
    message: 'MARKET_DATA_SOURCE=csv needs MARKET_DATA_DIR, a folder of <TICKER>.csv files',
    path: ['MARKET_DATA_DIR'],
  });

export type LoadDataEnv = z.infer<typeof loadDataEnvSchema>;
export const loadLoadDataEnv = (env: NodeJS.ProcessEnv = process.env): LoadDataEnv => loadEnv(loadDataEnvSchema, env);
