import type { Pool } from '@stocks/common';
import { models, type ChampionGaugeRow } from '@stocks/db';

/** What the monitoring reports say about a ticker (serving replicas only). */
export interface TickerFlags {
  drift: boolean;
  liveWorseThanNaive: boolean;
  /** Combined KS p-value of the drift test (lower: stronger drift). */
  driftPValue: number | null;
}

export interface TickerSelection {
  /** Tickers with per-ticker series in this scrape. */
  tickers: Set<string>;
  champions: ChampionGaugeRow[];
  /** Champions without series of their own. */
  omitted: number;
  /** Counts over every champion, whether it has series or not. */
  flagged: { returns_drift: number; live_worse_than_naive: number; validation_worse_than_naive: number };
}

/**
 * Which tickers get series of their own in /metrics. With a universe of 500 tickers, a series per
 * ticker for each of a dozen gauges made a scrape ~280 KB (3,500 samples); Prometheus' cost grows
 * with series too. So: the pinned tickers (METRICS_TICKERS), then up to METRICS_TICKER_SERIES_MAX
 * others, those needing attention first (drift, live error worse than naive, validation skill
 * below 0; then the lowest skill), and ticker-free counts over all of them. Alerts per ticker keep
 * working as long as fewer than the max need attention at once; the counts say when more do.
 */
export class TickerSeries {
  private readonly flags = new Map<string, TickerFlags>();
  private flagsVersion = 0;
  private read: { at: number; rows: Promise<ChampionGaugeRow[]> } | undefined;
  private memo: { rows: ChampionGaugeRow[]; flagsVersion: number; selection: TickerSelection } | undefined;
  private readonly pinned: Set<string>;

  constructor(private readonly pool: Pool, private readonly max: number, pinned: readonly string[] = []) {
    this.pinned = new Set(pinned);
  }

  /** The champions' gauge figures, read at most once a second (one scrape collects many gauges). */
  champions(): Promise<ChampionGaugeRow[]> {
    if (!this.read || Date.now() - this.read.at > 1_000) {
      this.read = { at: Date.now(), rows: models.listChampionGauges(this.pool).catch(() => []) };
    }
    return this.read.rows;
  }

  /** Monitoring flags of a ticker (undefined: it has no report any more). */
  setFlags(ticker: string, flags: TickerFlags | undefined): void {
    if (flags) this.flags.set(ticker, flags);
    else this.flags.delete(ticker);
    this.flagsVersion++;
  }

  async select(): Promise<TickerSelection> {
    const rows = await this.champions();
    if (this.memo && this.memo.rows === rows && this.memo.flagsVersion === this.flagsVersion) return this.memo.selection;
    const selection = selectTickers(rows, this.flags, this.max, this.pinned);
    this.memo = { rows, flagsVersion: this.flagsVersion, selection };
    return selection;
  }

  /** Whether `ticker` has series of its own, for series written outside a scrape (tickers without a champion: pinned only). */
  async has(ticker: string): Promise<boolean> {
    return this.pinned.has(ticker) || (await this.select()).tickers.has(ticker);
  }
}

/** Pinned tickers, then the `max` champions needing attention most (see TickerSeries). */
export function selectTickers(champions: ChampionGaugeRow[], flags: ReadonlyMap<string, TickerFlags>, max: number, pinned: ReadonlySet<string>): TickerSelection {
  const flagged = { returns_drift: 0, live_worse_than_naive: 0, validation_worse_than_naive: 0 };
  const ranked = champions.map((c) => {
    const f = flags.get(c.ticker);
    const skill = c.naive_mae > 0 ? 1 - c.mae / c.naive_mae : null;
    const worse = skill !== null && skill < 0;
    if (f?.drift) flagged.returns_drift++;
    if (f?.liveWorseThanNaive) flagged.live_worse_than_naive++;
    if (worse) flagged.validation_worse_than_naive++;
    return { ticker: c.ticker, score: Number(f?.drift ?? false) + Number(f?.liveWorseThanNaive ?? false) + Number(worse), skill, p: f?.driftPValue ?? null };
  });
  ranked.sort((a, b) => b.score - a.score
    || (a.skill ?? Number.POSITIVE_INFINITY) - (b.skill ?? Number.POSITIVE_INFINITY)
    || (a.p ?? 1) - (b.p ?? 1)
    || (a.ticker < b.ticker ? -1 : a.ticker > b.ticker ? 1 : 0));
  const tickers = new Set<string>();
  for (const c of champions) if (pinned.has(c.ticker)) tickers.add(c.ticker);
  let others = 0;
  for (const r of ranked) {
    if (others >= max) break;
    if (tickers.has(r.ticker)) continue;
    tickers.add(r.ticker);
    others++;
  }
  return { tickers, champions, omitted: champions.length - tickers.size, flagged };
}
