import type { AddressInfo } from 'node:net';
import type PgBoss from 'pg-boss';
import type { TestDatabase } from '@stocks/db/testing';
import { MARKET_DATA_DIR } from '../../../test/support/market-data.ts';
import { buildApp as buildLoader } from '../../../2_load_data/src/app.ts';
import { loadLoadDataEnv } from '../../../2_load_data/src/config.ts';
import { buildApp as buildEstimator } from '../../../4_nn_estimator/src/app.ts';
import { loadEstimatorEnv } from '../../../4_nn_estimator/src/config.ts';
import { initBackend } from '../../../4_nn_estimator/src/training/backend.ts';
import { startQueue } from '../../../4_nn_estimator/src/training/queue.ts';

export interface Peers {
  loaderUrl: string;
  estimatorUrl: string;
  estimator: Awaited<ReturnType<typeof buildEstimator>>;
  close(): Promise<void>;
}

/**
 * The services the shepherd drives, real and listening on free ports in this process: the loader
 * on the csv source (test/fixtures/market-data) and the estimator with a small, fast model.
 */
export async function startPeers(db: TestDatabase, model: Record<string, string>): Promise<Peers> {
  const loader = await buildLoader({ env: loadLoadDataEnv({ DATABASE_URL: db.url, MARKET_DATA_SOURCE: 'csv', MARKET_DATA_DIR }), pool: db.pool, logger: false });
  await loader.listen({ port: 0, host: '127.0.0.1' });
  const boss: PgBoss = await startQueue(db.url, { retryLimit: 0, expireInSeconds: 600 }, () => {});
  const estimator = await buildEstimator({
    env: loadEstimatorEnv({ DATABASE_URL: db.url, ...model }),
    pool: db.pool, boss, backend: await initBackend(), logger: false,
  });
  await estimator.listen({ port: 0, host: '127.0.0.1' });
  const url = (a: { server: { address(): unknown } }) => `http://127.0.0.1:${(a.server.address() as AddressInfo).port}`;
  return {
    loaderUrl: url(loader),
    estimatorUrl: url(estimator),
    estimator,
    async close() {
      await estimator.close();
      await boss.stop({ graceful: false, wait: true });
      await loader.close();
    },
  };
}
