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
    /** Circuit breaker: opens when more than this % of Yahoo fetches in the window failed... */
    YAHOO_BREAKER_ERROR_PERCENT: z.coerce.number().min(1).max(100).default(50),
    /** ...and at least this many fetches were made in it (one failure alone never opens it). */
    YAHOO_BREAKER_MIN_REQUESTS: z.coerce.number().int().min(1).default(5),
    /** Length of the rolling window the failure rate is measured over. */
    YAHOO_BREAKER_WINDOW_MS: z.coerce.number().int().min(1_000).default(60_000),
    /** How long the breaker stays open before letting one trial fetch through. */
    YAHOO_BREAKER_RESET_MS: z.coerce.number().int().min(10).default(30_000),
    /** Largest CSV body POST /import accepts (bytes). ^GSPC's 96 years are 2.5 MB. */
    IMPORT_MAX_BYTES: z.coerce.number().int().min(1_024).default(64 * 1024 * 1024),
    /** An upload pausing longer than this is cut (408): well before Postgres's 60 s idle-in-transaction limit. */
    IMPORT_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).max(50_000).default(15_000),
    /** POST /import at once per process; more answer 503 + Retry-After (each holds a pool connection). */
    IMPORT_MAX_CONCURRENT: z.coerce.number().int().min(1).max(8).default(4),
  })
  .refine((e) => e.MARKET_DATA_SOURCE !== 'csv' || e.MARKET_DATA_DIR, {
    message: 'MARKET_DATA_SOURCE=csv needs MARKET_DATA_DIR, a folder of <TICKER>.csv files',
    path: ['MARKET_DATA_DIR'],
  });

export type LoadDataEnv = z.infer<typeof loadDataEnvSchema>;
export const loadLoadDataEnv = (env: NodeJS.ProcessEnv = process.env): LoadDataEnv => loadEnv(loadDataEnvSchema, env);
