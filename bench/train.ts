/**
 * npm run bench:train — training speed on the backend in use (tfjs-node in Docker, wasm here).
 * For 10 years (2520 trading days) of ^GSPC: seconds per epoch, a full training (early stopping,
 * up to the configured epochs), and a fine-tune after 5 new trading days (warm start on the recent
 * slice). Two configurations: the service default (window 60, units 32, 30 epochs) and the modest
 * one the backtest bench and the tests use sizes of (window 20, units 8). Targets: full training
 * under 60 s on wasm; fine-tune under 10% of a full training.
 */
import { readMarketData, SHARED_MARKET_DATA_DIR } from '../test/support/market-data.ts';
import { initBackend, isBackendName } from '../4_nn_estimator/src/training/backend.ts';
import type { ModelConfig } from '../4_nn_estimator/src/model/config.ts';
import { trainModel } from '../4_nn_estimator/src/model/train.ts';

const bars = await readMarketData('^GSPC', 2520 + 5, SHARED_MARKET_DATA_DIR);
const history = bars.slice(0, -5); // 10 years; the last 5 days arrive later
const backend = await initBackend(isBackendName(process.env.TF_BACKEND) ? process.env.TF_BACKEND : undefined);

const CONFIGS: Array<{ name: string; config: Partial<ModelConfig> }> = [
  { name: 'default w60/u32/30ep', config: {} },
  { name: 'small w20/u8/30ep', config: { window: 20, units: 8 } },
];

console.log(`bench:train on ${backend}: ^GSPC ${history[0]!.date}..${history.at(-1)!.date} (${history.length} bars), fine-tune after 5 new days`);
const rows: string[][] = [];
const verdicts: string[] = [];
for (const { name, config } of CONFIGS) {
  const full = await trainModel({ ticker: '^GSPC', bars: history, config });
  const fullS = full.duration_ms / 1000;
  const perEpoch = fullS / Math.max(1, full.epochs_run);
  const tuned = await trainModel({
    ticker: '^GSPC',
    bars,
    warmStart: { artifact: full.artifact, scaler: full.scaler, config: full.config, alpha: full.alpha, trainedThrough: full.train_range.end },
  });
  const tuneS = tuned.duration_ms / 1000;
  rows.push([name, String(full.n_train), String(full.epochs_run), perEpoch.toFixed(2), fullS.toFixed(1), String(tuned.n_train), String(tuned.epochs_run), tuneS.toFixed(2), `${((100 * tuneS) / fullS).toFixed(1)}%`, full.skill.toFixed(4)]);
  verdicts.push(`  ${name}: full training ${fullS.toFixed(1)} s < 60 s: ${fullS < 60 ? 'MET' : 'MISSED'}; fine-tune ${((100 * tuneS) / fullS).toFixed(1)}% of full < 10%: ${tuneS < 0.1 * fullS ? 'MET' : 'MISSED'}`);
}
const head = ['config', 'train windows', 'epochs', 's/epoch', 'full s', 'fine-tune windows', 'ft epochs', 'fine-tune s', 'ft/full', 'val skill'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
for (const r of rows) console.log(line(r));
console.log('\ntargets (wasm):');
for (const v of verdicts) console.log(v);
if (verdicts.some((v) => v.includes('MISSED'))) process.exitCode = 1;
