import type { Pool } from '@stocks/common';
import { jobs, models } from '@stocks/db';
import type { EstimatorMetrics } from './metrics.ts';

/** Champion version and validation errors per ticker, read from Postgres (every replica agrees). */
export async function refreshModelGauges(pool: Pool, m: EstimatorMetrics): Promise<void> {
  const champions = await models.listChampions(pool);
  for (const c of champions) {
    m.championVersion.set({ ticker: c.ticker }, c.version);
    m.validationMae.set({ ticker: c.ticker, model: 'champion' }, c.metrics.mae);
    m.validationMae.set({ ticker: c.ticker, model: 'naive' }, c.baseline.mae);
    m.validationMape.set({ ticker: c.ticker, model: 'champion' }, c.metrics.mape);
    m.validationMape.set({ ticker: c.ticker, model: 'naive' }, c.baseline.mape);
    if (c.baseline.mae > 0) m.skill.set({ ticker: c.ticker }, 1 - c.metrics.mae / c.baseline.mae);
  }
}

export async function refreshJobGauges(pool: Pool, m: EstimatorMetrics): Promise<void> {
  const counts = await jobs.countJobsByStatus(pool);
  for (const status of ['queued', 'running'] as const) {
    m.jobs.set({ status }, counts.filter((c) => c.status === status).reduce((s, c) => s + c.count, 0));
  }
}
