import { addDays } from '@stocks/common';

/** What one ticker needs in a run. Pure, so the staleness rule is tested without I/O. */
export interface TickerPlan {
  /** Range to ask 2_load_data for, or undefined when the stored prices are up to date. */
  load?: { start_date: string; end_date: string };
  /**
   * Train from scratch when there is no model; when new bars arrive, fine-tune, or retrain fully
   * when monitoring says the champion no longer fits (drift, live error worse than naive).
   */
  training: 'train' | 'fine-tune-if-new-data' | 'retrain-if-new-data' | 'none';
  /** Why a full retrain replaces the fine-tune (only with 'retrain-if-new-data'). */
  retrainReasons?: string[];
}

/** What the estimator's GET /monitoring says about the ticker's champion (its `retrain` field). */
export interface MonitoringSignal {
  fullRetrainAdvised: boolean;
  reasons: string[];
}

export function planTicker(input: {
  /** Newest stored bar, undefined when nothing is stored. */
  newestStored?: string;
  lastCompletedTradingDay: string;
  hasModel: boolean;
  initialHistoryYears: number;
  /** The estimator's monitoring verdict, once known (after the load); absent = fine-tune as usual. */
  monitoring?: MonitoringSignal;
}): TickerPlan {
  const { newestStored, lastCompletedTradingDay: last } = input;
  let load: TickerPlan['load'];
  if (!newestStored) {
    load = { start_date: yearsBefore(last, input.initialHistoryYears), end_date: last };
  } else if (newestStored < last) {
    load = { start_date: addDays(newestStored, 1), end_date: last };
  }
  if (!input.hasModel) return { load, training: 'train' };
  if (!load) return { load, training: 'none' };
  if (input.monitoring?.fullRetrainAdvised) {
    const reasons = input.monitoring.reasons.length ? input.monitoring.reasons : ['monitoring advised a full retrain'];
    return { load, training: 'retrain-if-new-data', retrainReasons: reasons };
  }
  return { load, training: 'fine-tune-if-new-data' };
}

/**
 * After a ticker's first load: when the source's newest bar is older than the last trading day
 * (a bundled sample, a CSV folder, a delisted ticker), the initial history counts back from that
 * bar, not from today; the range still missing before the first load's start, or undefined.
 */
export function initialBackfill(firstLoad: { start_date: string }, newestLoaded: string | null, initialHistoryYears: number): { start_date: string; end_date: string } | undefined {
  if (!newestLoaded) return undefined;
  const start = yearsBefore(newestLoaded, initialHistoryYears);
  return start < firstLoad.start_date ? { start_date: start, end_date: addDays(firstLoad.start_date, -1) } : undefined;
}

/** The same calendar day `years` earlier (29 February falls on 1 March). */
export function yearsBefore(date: string, years: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return d.toISOString().slice(0, 10);
}
