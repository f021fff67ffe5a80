import type { DailyBar } from '@stocks/common';

/** Nominal coverage levels (percent) of every served band. */
export const BAND_LEVELS = [80, 95] as const;
export type BandLevel = (typeof BAND_LEVELS)[number];

/** At one origin t, for steps k = 1..H, about the cumulative log return r_{t,k} = log(close[t+k] / close[t]). */
export interface BandForecast {
  /** Forecast variance of r_{t,k} (QLIKE at h=1 scores variance[0] against r_{t,1}^2). */
  variance: number[];
  /** Quantiles of r_{t,k} minus the served point's log move, i.e. centred: band = point * exp(q). */
  lower80: number[]; upper80: number[]; lower95: number[]; upper95: number[];
}

export type BandModelName = 'static' | 'ewma' | 'garch' | 'model';

/** A fitted band model. forecast() sees only bars up to and including the origin (oldest first). */
export interface BandModel { readonly name: BandModelName; forecast(bars: readonly DailyBar[], horizon: number): BandForecast; toJSON(): unknown }

export interface BandModelFitter { readonly name: BandModelName; fit(trainBars: readonly DailyBar[]): BandModel }
