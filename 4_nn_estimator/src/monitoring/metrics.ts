import { type Pool, promClient, type Registry } from '@stocks/common';
import { models } from '@stocks/db';
import type { ChangeHandlers } from '../serving/change-listener.ts';
import type { TickerSeries } from '../ticker-series.ts';
import type { Monitor, MonitoringReport } from './monitor.ts';

/** How long a burst of change events is gathered before the reports are recomputed. */
const SETTLE_MS = 250;

/**
 * Live-error and drift gauges, the same figures as GET /monitoring. They are kept current on
 * events (a price or champion change announced by Postgres, the listener reconnecting) and hold
 * their values between them: a /metrics scrape reads memory and costs the same for 1 or 500
 * tickers. Only replicas that listen for changes (the serving ones) fill them; one replica
 * reporting is enough, the dashboard takes max by ticker. Series exist for the tickers `series`
 * selects (its flags come from these reports: drifting and worse-than-naive tickers first).
 */
export function createMonitoringMetrics(registry: Registry, pool: Pool, monitor: Monitor, series: TickerSeries) {
  const r = [registry];
  const reports = new Map<string, MonitoringReport>();
  let reportsVersion = 0;
  let rendered: { selection: unknown; reportsVersion: number } | undefined;
  /** Rewrite every series from the reports of the selected tickers, once per selection and set of reports. */
  const ensureRendered = async () => {
    const selection = await series.select();
    if (rendered?.selection === selection && rendered.reportsVersion === reportsVersion) return;
    rendered = { selection, reportsVersion };
    for (const { gauge } of all) gauge.reset();
    for (const rep of reports.values()) if (selection.tickers.has(rep.ticker)) for (const { write } of all) write(rep);
  };
  const all: Array<{ gauge: promClient.Gauge<string>; write: (rep: MonitoringReport) => void }> = [];
  const live = (name: string, help: string, value: (row: MonitoringReport['live'][number]) => Array<[Record<string, string>, number | null]>) => {
    const gauge = new promClient.Gauge({ name, help, labelNames: ['ticker', 'version', 'window', 'model', 'level'] as const, registers: r, collect: ensureRendered });
    const write = (rep: MonitoringReport) => {
      for (const row of rep.live) {
        for (const [labels, v] of value(row)) {
          if (v !== null && Number.isFinite(v)) gauge.set({ ticker: rep.ticker, version: String(row.model_version), window: row.window, ...labels }, v);
        }
      }
    };
    all.push({ gauge: gauge as promClient.Gauge<string>, write });
    return { gauge, write };
  };
  const perTicker = (name: string, help: string, value: (rep: MonitoringReport) => number | null) => {
    const gauge = new promClient.Gauge({ name, help, labelNames: ['ticker'] as const, registers: r, collect: ensureRendered });
    const write = (rep: MonitoringReport) => {
      const v = value(rep);
      if (v !== null && Number.isFinite(v)) gauge.set({ ticker: rep.ticker }, v);
    };
    all.push({ gauge: gauge as promClient.Gauge<string>, write });
    return { gauge, write };
  };
  [
    live('live_forecast_mae', 'Realised MAE of served forecasts (model) and of the naive forecast made at the same time (naive), per ticker, version and window',
      (row) => [[{ model: 'model' }, row.mae], [{ model: 'naive' }, row.naive_mae]]),
    live('live_forecast_mape', 'Realised MAPE (%) of served forecasts and of naive, per ticker, version and window',
      (row) => [[{ model: 'model' }, row.mape], [{ model: 'naive' }, row.naive_mape]]),
    live('live_forecast_interval_coverage', 'Share of realised actuals inside the served prediction interval (level 80 or 95)',
      (row) => [[{ level: '80' }, row.coverage80], [{ level: '95' }, row.coverage95]]),
    live('live_forecasts_realised', 'Realised served forecast points per ticker, version and window', (row) => [[{}, row.n]]),
    perTicker('returns_drift_ks_statistic', 'KS statistic of recent daily returns against the champion training window', (rep) => rep.drift.ks_statistic),
    perTicker('returns_drift_p_value', 'Combined KS p-value (returns and absolute returns, Bonferroni) of recent daily returns against the champion training window', (rep) => rep.drift.p_value),
    perTicker('returns_drift_psi', 'Population stability index of recent daily returns against the training window (information)', (rep) => rep.drift.psi),
    perTicker('returns_drift_detected', '1 when the KS p-value is below DRIFT_THRESHOLD', (rep) => (rep.drift.p_value === null ? null : rep.drift.detected ? 1 : 0)),
    perTicker('live_champion_worse_than_naive', '1 when the champion realised MAE over the last 20 trading days exceeds naive (with enough forecasts)',
      (rep) => (rep.champion_live ? (rep.champion_live.worse_than_naive ? 1 : 0) : null)),
  ];
  /** The reports changed (a ticker that lost its champion disappears at the next scrape). */
  const render = () => {
    reportsVersion++;
  };
  const keep = (ticker: string, report: MonitoringReport | undefined) => {
    if (report) reports.set(ticker, report);
    else reports.delete(ticker);
    series.setFlags(ticker, report && {
      drift: report.drift.detected === true,
      liveWorseThanNaive: report.champion_live?.worse_than_naive === true,
      driftPValue: report.drift.p_value,
    });
  };

  // Tickers to recompute; `everything` = every ticker with a champion (start, reconnect, TRUNCATE).
  const dirty = new Set<string>();
  let everything = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let refreshes = 0;
  const refresh = async () => {
    const everyTicker = everything;
    const tickers = [...dirty];
    everything = false;
    dirty.clear();
    const targets = everyTicker ? (await models.listChampionGauges(pool)).map((c) => c.ticker) : tickers;
    if (everyTicker) {
      const wanted = new Set(targets);
      for (const t of [...reports.keys()]) if (!wanted.has(t)) keep(t, undefined);
    }
    for (const ticker of targets) {
      const report = await monitor.report(ticker).catch(() => undefined);
      // No champion (or no prices) any more: the ticker's series go.
      if (report?.champion_version != null) keep(ticker, report);
      else if (report) keep(ticker, undefined);
    }
    render();
    refreshes++;
  };
  const schedule = (ticker: string | '*') => {
    if (ticker === '*') everything = true;
    else dirty.add(ticker);
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      // One refresh at a time; events during it schedule the next.
      running = running.then(refresh).catch((err: Error) => {
        monitor.opts.log.warn({ err: err.message }, 'could not refresh the monitoring gauges');
        everything = true;
      });
    }, SETTLE_MS);
    timer.unref();
  };

  const m = {
    recorded: new promClient.Counter({ name: 'served_forecast_points_recorded_total', help: 'Served forecast points stored for live monitoring', registers: r }),
    recordErrors: new promClient.Counter({ name: 'served_forecast_record_errors_total', help: 'Served forecasts that could not be stored for monitoring', registers: r }),
    writes: new promClient.Counter({
      name: 'served_forecast_writes_total', help: 'Database writes of served forecasts (one per new ticker, version, origin or longer horizon), by outcome',
      labelNames: ['outcome'] as const, registers: r,
    }),
    /** What the change listener calls: prices or a champion changed, or it (re)connected. */
    handlers: (): ChangeHandlers => ({
      champion: (ticker) => schedule(ticker),
      prices: (ticker) => schedule(ticker),
      reset: () => schedule('*'),
    }),
    /** Resolves once the changes announced so far are in the gauges (tests, benches). */
    async settled(): Promise<void> {
      while (timer || dirty.size || everything) {
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        await running;
      }
      await running;
    },
    /** Refreshes done so far (tests: a scrape must not cause one). */
    get refreshes() {
      return refreshes;
    },
    close(): void {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
  m.recorded.inc(0);
  m.recordErrors.inc(0);
  return m;
}
