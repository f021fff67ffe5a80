import { readMarketData, SHARED_MARKET_DATA_DIR } from '../../test/support/market-data.ts';
import { initBackend } from '../../4_nn_estimator/src/training/backend.ts';
import { fitLearnedScale, DEFAULT_LEARNED_OPTIONS, type LearnedScaleOptions } from '../../4_nn_estimator/src/model/bands/learned.ts';
import { ewmaFitter } from '../../4_nn_estimator/src/model/bands/ewma.ts';
import { qlike, meanOf } from '../../4_nn_estimator/src/model/bands/scoring.ts';
await initBackend('wasm');
const tickers = (process.env.T ?? 'GOOG,NVDA').split(',');
const variants: Record<string, LearnedScaleOptions> = {
  default: DEFAULT_LEARNED_OPTIONS,
  linear: { ...DEFAULT_LEARNED_OPTIONS, candidates: [{ hidden: 0, l2: 1e-2 }] },
  linear_h1: { ...DEFAULT_LEARNED_OPTIONS, horizon: 1, candidates: [{ hidden: 0, l2: 1e-2 }] },
  h5: { ...DEFAULT_LEARNED_OPTIONS, horizon: 5 },
};
for (const ticker of tickers) {
  const all = await readMarketData(ticker, ticker === '^GSPC' ? 2520 : undefined, SHARED_MARKET_DATA_DIR);
  const testStart = Math.floor(all.length * 0.8);
  const res: Record<string, number[]> = { ewma: [] };
  const z2: Record<string, number[]> = { ewma: [] };
  const cho: string[] = [];
  const fits: Record<string, any> = {};
  let ew: any;
  for (let t = testStart, i = 0; t < all.length - 1; t++, i++) {
    const recent = all.slice(Math.max(0, t + 1 - 2520), t + 1);
    if (i % 63 === 0) {
      ew = ewmaFitter().fit(recent);
      for (const [n, o] of Object.entries(variants)) { fits[n] = fitLearnedScale(recent, o); if (n === 'default') cho.push(JSON.stringify(fits[n].base.state.selection.chosen)); }
    }
    const r = Math.log(all[t + 1]!.close / all[t]!.close);
    const ve = ew.forecast(recent, 1).variance[0];
    res.ewma!.push(qlike(ve, r)); z2.ewma!.push(r * r / ve);
    for (const n of Object.keys(variants)) {
      const v = fits[n].base.variances(recent, 1)[0];
      (res[n] ??= []).push(qlike(v, r)); (z2[n] ??= []).push(r * r / v);
      const vc = Math.exp(0.5 * Math.log(v) + 0.5 * Math.log(ve));
      (res[n + '+ewma'] ??= []).push(qlike(vc, r)); (z2[n + '+ewma'] ??= []).push(r * r / vc);
    }
  }
  console.log(ticker, cho.join(' '));
  for (const n of Object.keys(res)) console.log(`  ${n.padEnd(16)} qlike-ewma ${(meanOf(res[n]!) - meanOf(res.ewma!)).toFixed(4)} mean z2 ${meanOf(z2[n]!).toFixed(3)}`);
}
