import { z } from 'zod';

/** Settings every service shares. Each service extends this with its own. */
export const baseEnvSchema = z.object({
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/stocks'),
  /**
   * Address to listen on. Unset: 0.0.0.0 when API_TOKEN is set, else 127.0.0.1, so a service whose
   * writes are open never listens on the network unless HOST says so (the images set it).
   */
  HOST: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Bearer token required on mutating endpoints when set (read endpoints stay open). */
  API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Writes (POST/PUT/DELETE except POST /predict) allowed per client IP and minute; 0 = no limit. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(120),
  /**
   * Most tickers with series of their own in /metrics (per-ticker gauges and counters); the rest are
   * summed up in ticker-free series, so a scrape stays small with a universe of 500 tickers.
   */
  METRICS_TICKER_SERIES_MAX: z.coerce.number().int().min(0).max(10_000).default(50),
  /** Tickers that always keep their own series (a watchlist the dashboards follow), on top of the max. */
  METRICS_TICKERS: z.string().default('').transform((s) => s.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean)),
});

/** Parse and validate the environment once at boot; fail with every problem listed. */
export function loadEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "not set" (compose passes `VAR=` for unset .env values).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`).join('\n');
    throw new Error(`Invalid environment:\n${problems}`);
  }
  return parsed.data;
}

/** Where a service listens: HOST, else the network only when writes need a token. */
export const listenHost = (env: { HOST?: string; API_TOKEN?: string }): string => env.HOST ?? (env.API_TOKEN ? '0.0.0.0' : '127.0.0.1');

/** Comma-separated list -> trimmed, non-empty items. */
export const csvList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
