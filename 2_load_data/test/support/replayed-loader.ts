import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../../src/app.ts';
import { loadLoadDataEnv } from '../../src/config.ts';
import { createYahooSource, type YahooSourceOptions } from '../../src/sources/yahoo.ts';
import { startYahooReplay, type YahooReplay } from './yahoo-replay.ts';

export interface ReplayedLoader {
  db: TestDatabase;
  yahoo: YahooReplay;
  app: Awaited<ReturnType<typeof buildApp>>;
  close(): Promise<void>;
}

/**
 * 2_load_data on a database of its own, its Yahoo source (the real yahoo-finance2 client) pointed
 * at a replay server answering from test/fixtures/market-data. `env` adds settings (breaker, limits);
 * `yahoo` sets the client's timeouts and retries for the faults a test injects.
 */
export async function startReplayedLoader(opts: { env?: Record<string, string>; yahoo?: Omit<YahooSourceOptions, 'baseUrl'> } = {}): Promise<ReplayedLoader> {
  const db = await createTestDatabase();
  const yahoo = await startYahooReplay();
  const env = loadLoadDataEnv({ DATABASE_URL: db.url, ...opts.env });
  const source = createYahooSource({ baseUrl: yahoo.url, ...opts.yahoo });
  const app = await buildApp({ env, pool: db.pool, source, logger: false });
  return {
    db, yahoo, app,
    async close() {
      await app.close();
      await yahoo.close();
      await db.drop();
    },
  };
}
