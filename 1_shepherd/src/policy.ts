import { addDays } from '@stocks/common';

/** What one ticker needs in a run. Pure, so the staleness rule is tested without I/O. */
export interface TickerPlan {
  /** Range to ask 2_load_data for, or undefined when the stored prices are up to date. */
  load?: { start_date: string; end_date: string };
  /** Train from scratch when there is no model; fine-tune only if new bars arrived. */
  training: 'train' | 'fine-tune-if-new-data' | 'none';
}

export function planTicker(input: {
  /** Newest stored bar, undefined when nothing is stored. */
  newestStored?: string;
  lastCompletedTradingDay: string;
  hasModel: boolean;
  initialHistoryYears: number;
}): TickerPlan {
  const { newestStored, lastCompletedTradingDay: last } = input;
  let load: TickerPlan['load'];
  if (!newestStored) {
    load = { start_date: yearsBefore(last, input.initialHistoryYears), end_date: last };
  } else if (newestStored < last) {
    load = { start_date: addDays(newestStored, 1), end_date: last };
  }
  const training = !input.hasModel ? 'train' : load ? 'fine-tune-if-new-data' : 'none';
  return { load, training };
}

/** The same calendar day `years` earlier (29 February falls on 1 March). */
export function yearsBefore(date: string, years: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return d.toISOString().slice(0, 10);
}
