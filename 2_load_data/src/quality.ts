/**
 * Data-quality rule applied to every source's bars before they are stored.
 *
 * 1. Bars are sorted by date. When a date appears more than once the LAST one in input order wins
 *    (Yahoo appends a fresher partial bar for today); each dropped duplicate counts as
 *    `duplicate_date`. A date that isn't `YYYY-MM-DD` is rejected as `invalid_date`, one before
 *    1900-01-01 or more than a week in the future as `date_out_of_range`.
 * 2. `close` must be finite and > 0, otherwise the bar is rejected as `invalid_close`: the close
 *    series is what everything downstream uses.
 * 3. `open`, `high`, `low` and `adj_close` that are null, 0, negative or not finite become null,
 *    and the bar is kept. Yahoo's ^GSPC has open = 0 for 1962-1982; its closes are still good.
 * 4. `volume` < 0 rejects the bar as `negative_volume`. Volume 0 or null is kept (zero volume
 *    before 1950 is real: the index had no volume feed); a non-finite volume becomes null.
 * 5. With both `high` and `low` present, `low > high` rejects the bar as `low_above_high`.
 * 6. `close` above `high` or below `low` by more than 0.5% (CLOSE_RANGE_TOLERANCE) rejects the bar
 *    as `close_outside_range`. Only bounds that are present are checked; the tolerance absorbs
 *    float32 rounding and the small intraday/closing-auction mismatches seen in Yahoo data.
 *
 * Rejected bars are counted by reason, never silently dropped.
 */
import { type DailyBar, ISO_DATE } from '@stocks/common';

export const CLOSE_RANGE_TOLERANCE = 0.005;
/** The sane range of a bar's date, the same bounds POST /load accepts. */
export const EARLIEST_DATE = '1900-01-01';
const latestDate = () => new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);

export type RejectReason =
  | 'duplicate_date'
  | 'invalid_date'
  | 'date_out_of_range'
  | 'invalid_close'
  | 'negative_volume'
  | 'low_above_high'
  | 'close_outside_range';

export interface CleanResult {
  bars: DailyBar[];
  rejected: Record<string, number>;
}

export function cleanBars(bars: DailyBar[]): CleanResult {
  const rejected: Record<string, number> = {};
  const reject = (reason: RejectReason): void => {
    rejected[reason] = (rejected[reason] ?? 0) + 1;
  };

  const byDate = new Map<string, DailyBar>();
  for (const bar of bars) {
    if (byDate.has(bar.date)) reject('duplicate_date');
    byDate.set(bar.date, bar); // later input overwrites earlier
  }

  const kept: DailyBar[] = [];
  const latest = latestDate();
  for (const date of [...byDate.keys()].sort()) {
    const bar = byDate.get(date);
    if (!bar) continue;
    const verdict = checkBar(bar, latest);
    if (typeof verdict === 'string') reject(verdict);
    else kept.push(verdict);
  }
  return { bars: kept, rejected };
}

/** The normalised bar, or the reason it is rejected. */
function checkBar(bar: DailyBar, latest: string): DailyBar | RejectReason {
  if (!ISO_DATE.test(bar.date)) return 'invalid_date';
  if (bar.date < EARLIEST_DATE || bar.date > latest) return 'date_out_of_range';
  if (!isPrice(bar.close)) return 'invalid_close';
  if (typeof bar.volume === 'number' && bar.volume < 0) return 'negative_volume';

  const clean: DailyBar = {
    date: bar.date,
    open: priceOrNull(bar.open),
    high: priceOrNull(bar.high),
    low: priceOrNull(bar.low),
    close: bar.close,
    adj_close: priceOrNull(bar.adj_close),
    volume: typeof bar.volume === 'number' && Number.isFinite(bar.volume) ? bar.volume : null,
  };
  if (clean.high !== null && clean.low !== null && clean.low > clean.high) return 'low_above_high';
  if (clean.high !== null && clean.close > clean.high * (1 + CLOSE_RANGE_TOLERANCE)) return 'close_outside_range';
  if (clean.low !== null && clean.close < clean.low * (1 - CLOSE_RANGE_TOLERANCE)) return 'close_outside_range';
  return clean;
}

function isPrice(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function priceOrNull(value: number | null | undefined): number | null {
  return isPrice(value) ? value : null;
}

/** Adds the counts of `extra` into `into` (returns `into`). */
export function mergeRejected(into: Record<string, number>, extra: Record<string, number>): Record<string, number> {
  for (const [reason, count] of Object.entries(extra)) into[reason] = (into[reason] ?? 0) + count;
  return into;
}
