import { type Pool, promClient, type Registry } from '@stocks/common';
import { models } from '@stocks/db';
import type { Monitor, MonitoringReport } from './monitor.ts';

/**
 * Live-error and drift gauges, computed from Postgres on scrape for every ticker with a
 * champion (one report per ticker per scrape, shared by the gauges), so every replica reports
 * the same figures as GET /monitoring.
 */
export function createMonitoringMetrics(registry: Registry, pool: Pool, monitor: Monitor) {
  const r = [registry];
  let read: { at: number; reports: Promise<MonitoringReport[]> } | undefined;
  const reports = () => {
    if (!read || Date.now() - read.at > 1_000) {
      const load = async () => {
        const champions = await models.listChampions(pool);
        const out: MonitoringReport[] = [];
        for (const c of champions) {
          const report = await monitor.report(c.ticker).catch(() => undefined);
          if (report) out.push(report);
        }
        return out;
      };
      read = { at: Date.now(), reports: load().catch(() => []) };
    }
    return read.reports;
  };
  const live = (name: string, help: string, value: (row: MonitoringReport['live'][number]) => Array<[Record<string, string>, number | null]>) =>
    new promClient.Gauge({
      name, help, labelNames: ['ticker', 'version', 'window', 'model', 'level'] as const, registers: r,
      async collect() {
        this.reset();
        for (const rep of await reports()) {
          for (const row of rep.live) {
            for (const [labels, v] of value(row)) {
              if (v !== null && Number.isFinite(v)) this.set({ ticker: rep.ticker, version: String(row.model_version), window: row.window, ...labels }, v);
            }
          }
        }
      },
    });
  const perTicker = (name: string, help: string, value: (rep: MonitoringReport) => number | null) =>
    new promClient.Gauge({
      name, help, labelNames: ['ticker'] as const, registers: r,
      async collect() {
        this.reset();
        for (const rep of await reports()) {
          const v = value(rep);
          if (v !== null && Number.isFinite(v)) this.set({ ticker: rep.ticker }, v);
        }
      },
    });
  const m = {
    liveMae: live('live_forecast_mae', 'Realised MAE of served forecasts (model) and of the naive forecast made at the same time (naive), per ticker, version and window',
      (row) => [[{ model: 'model' }, row.mae], [{ model: 'naive' }, row.naive_mae]]),
    liveMape: live('live_forecast_mape', 'Realised MAPE (%) of served forecasts and of naive, per ticker, version and window',
      (row) => [[{ model: 'model' }, row.mape], [{ model: 'naive' }, row.naive_mape]]),
    liveCoverage: live('live_forecast_interval_coverage', 'Share of realised actuals inside the served prediction interval (level 80 or 95)',
      (row) => [[{ level: '80' }, row.coverage80], [{ level: '95' }, row.coverage95]]),
    liveCount: live('live_forecasts_realised', 'Realised served forecast points per ticker, version and window', (row) => [[{}, row.n]]),
    driftKs: perTicker('returns_drift_ks_statistic', 'KS statistic of recent daily returns against the champion training window', (rep) => rep.drift.ks_statistic),
    driftP: perTicker('returns_drift_p_value', 'Combined KS p-value (returns and absolute returns, Bonferroni) of recent daily returns against the champion training window', (rep) => rep.drift.p_value),
    driftPsi: perTicker('returns_drift_psi', 'Population stability index of recent daily returns against the training window (information)', (rep) => rep.drift.psi),
    driftDetected: perTicker('returns_drift_detected', '1 when the KS p-value is below DRIFT_THRESHOLD', (rep) => (rep.drift.p_value === null ? null : rep.drift.detected ? 1 : 0)),
    worse: perTicker('live_champion_worse_than_naive', '1 when the champion realised MAE over the last 20 trading days exceeds naive (with enough forecasts)',
      (rep) => (rep.champion_live ? (rep.champion_live.worse_than_naive ? 1 : 0) : null)),
    recorded: new promClient.Counter({ name: 'served_forecast_points_recorded_total', help: 'Served forecast points stored for live monitoring', registers: r }),
    recordErrors: new promClient.Counter({ name: 'served_forecast_record_errors_total', help: 'Served forecasts that could not be stored for monitoring', registers: r }),
    writes: new promClient.Counter({
      name: 'served_forecast_writes_total', help: 'Database writes of served forecasts (one per new ticker, version, origin or longer horizon), by outcome',
      labelNames: ['outcome'] as const, registers: r,
    }),
  };
  m.recorded.inc(0);
  m.recordErrors.inc(0);
  return m;
}
