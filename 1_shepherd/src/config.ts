import { z } from 'zod';
import cron from 'node-cron';
import { baseEnvSchema, csvList, loadEnv, port, TICKER_PATTERN } from '@stocks/common';

/** The most tickers one run takes (WATCHLIST and POST /run). */
export const MAX_RUN_TICKERS = 500;

export const shepherdEnvSchema = baseEnvSchema.extend({
  PORT: port(8003),
  LOAD_DATA_URL: z.string().url().default('http://127.0.0.1:8001'),
  ESTIMATOR_URL: z.string().url().default('http://127.0.0.1:8002'),
  WATCHLIST: csvList
    .default(['^GSPC'])
    .pipe(z.array(z.string().toUpperCase().regex(TICKER_PATTERN, 'each ticker must be a Yahoo symbol such as AAPL or ^GSPC')).min(1)
      .transform((list) => [...new Set(list)])
      .pipe(z.array(z.string()).max(MAX_RUN_TICKERS, `at most ${MAX_RUN_TICKERS} distinct tickers`))),
  /** Weekdays 22:30 UTC: after the New York close in both summer and winter time. */
  SHEPHERD_CRON: z.string().default('30 22 * * 1-5').refine((s) => cron.validate(s), 'must be a cron expression such as "30 22 * * 1-5"'),
  /** The time zone SHEPHERD_CRON is read in (the containers' TZ). */
  TZ: z.string().default('UTC').refine(isTimeZone, 'must be an IANA time zone such as UTC or America/New_York'),
  SHEPHERD_RUN_ON_START: z.enum(['true', 'false']).default('true').transform((s) => s === 'true'),
  /** How much history a ticker's first load asks for. */
  INITIAL_HISTORY_YEARS: z.coerce.number().int().min(1).max(100).default(10),
  /** Give up waiting for a training job after this long (the job itself goes on). */
  JOB_WAIT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(3600),
  JOB_POLL_INTERVAL_MS: z.coerce.number().int().min(50).default(2000),
  /**
   * Tickers a run works on at once (load, then queue its training and wait for it). Keep it at
   * least twice the estimator workers so each always has a queued job; each lane holds a ticker
   * lock, i.e. one Postgres connection, and needs another for its queries now and then (the pool
   * is sized from it: 2 x SHEPHERD_CONCURRENCY + 2).
   * The loader bounds the Yahoo calls themselves (YAHOO_CONCURRENCY).
   */
  SHEPHERD_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(4),
  /**
   * Full retrainings (~10-50x a fine-tune) monitoring may trigger in one run; past it drifting
   * champions are fine-tuned and retrained on a later run, so a night's length stays bounded.
   * 0 = no limit (the default; a universe sets it, docs/operations-scaling.md).
   */
  SHEPHERD_MAX_RETRAINS_PER_RUN: z.coerce.number().int().min(0).default(0),
});

/** The shepherd's pool: per lane its ticker lock and its short queries, plus the run's lock and one for HTTP reads. */
export const shepherdPoolSize = (env: Pick<ShepherdEnv, 'SHEPHERD_CONCURRENCY'>): number => 2 * env.SHEPHERD_CONCURRENCY + 2;

export type ShepherdEnv = z.infer<typeof shepherdEnvSchema>;
export const loadShepherdEnv = (env: NodeJS.ProcessEnv = process.env): ShepherdEnv => loadEnv(shepherdEnvSchema, env);

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
