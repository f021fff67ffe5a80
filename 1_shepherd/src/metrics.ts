import { exchangeOf, lastCompletedTradingDay, refreshedInBackground, type Pool, promClient, type Registry, tradingDaysBetween } from '@stocks/common';
import { prices, runs } from '@stocks/db';

export type ShepherdMetrics = ReturnType<typeof createShepherdMetrics>;

export function createShepherdMetrics(registry: Registry, pool: Pool, watchlist: string[]) {
  const r = [registry];
  // The newest stored date of every watched ticker: one statement (500 index probes, ~5-60 ms
  // depending on the machine's load) refreshed in the background at most every 15 s, so a scrape
  // reads memory. Freshness is counted in trading days: 15 s of lag cannot change it materially.
  const newestDates = refreshedInBackground(() => prices.lastDates(pool, watchlist), 15_000);
  const m = {
    runs: new promClient.Counter({ name: 'shepherd_runs_total', help: 'Finished shepherd runs by status', labelNames: ['status'] as const, registers: r }),
    steps: new promClient.Counter({ name: 'shepherd_steps_total', help: 'Shepherd steps by step and status', labelNames: ['step', 'status'] as const, registers: r }),
    lastRun: new promClient.Gauge({
      name: 'shepherd_last_run_timestamp_seconds',
      help: 'When the last run finished (unix seconds; 0 before the first run)',
      registers: r,
      // From the runs table, not from this process's memory: a restarted (or another) replica
      // reports the last run too, instead of 0 ("no run for 56 years").
      async collect() {
        const at = await runs.lastFinishedAt(pool).catch(() => undefined);
        if (at !== undefined) this.set(at ? at.getTime() / 1000 : 0);
      },
    }),
    freshness: new promClient.Gauge({
      name: 'data_freshness_trading_days',
      help: 'Trading days between the newest stored bar and the last completed trading day, per watched ticker',
      labelNames: ['ticker'] as const,
      registers: r,
      // Read from Postgres (not this process's memory of its runs) so every replica reports what it holds.
      // One statement for the whole watchlist (up to 500 tickers), read in the background: a query
      // per ticker on each scrape made a scrape take ~1 s at 500.
      async collect() {
        const newest = await newestDates().catch(() => undefined);
        if (!newest) return;
        // Tickers of one exchange share the calendar, and a universe mostly shares its last date:
        // count the days once per (exchange, date) rather than once per ticker (~1 ms each).
        const now = new Date();
        const counted = new Map<string, number>();
        for (const { ticker, last_date } of newest) {
          const key = `${exchangeOf(ticker)}|${last_date}`;
          let days = counted.get(key);
          if (days === undefined) {
            days = tradingDaysBetween(ticker, last_date, lastCompletedTradingDay(ticker, now));
            counted.set(key, days);
          }
          this.set({ ticker }, days);
        }
      },
    }),
  };
  // Start every known series at 0 so the first failure is an increase() alerts can see.
  for (const status of ['succeeded', 'partial', 'failed']) m.runs.inc({ status }, 0);
  return m;
}
