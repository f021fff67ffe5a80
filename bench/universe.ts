/**
 * npm run bench:universe — a universe of tickers (500 by default) on this machine. Parts, chosen
 * by BENCH_PARTS (comma-separated; default every part), each printing its figures beside their
 * targets (MISSED when missed):
 * - `serving`: runServingPart() from ./support/universe-serving.ts
 * - `pipeline`: runPipelinePart() from ./support/universe-pipeline.ts — first backfill, first
 *   training (sampled, extrapolated), nightly cycles with 1 and 2 workers, failing tickers.
 * Exit 1 when a target was missed.
 */
import { runPipelinePart } from './support/universe-pipeline.ts';

type Part = () => Promise<{ missed: string[] }>;
const PARTS: Record<string, Part> = {
  pipeline: runPipelinePart,
};

const asked = (process.env.BENCH_PARTS ?? Object.keys(PARTS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const unknown = asked.filter((p) => !(p in PARTS));
if (unknown.length) {
  console.error(`unknown BENCH_PARTS: ${unknown.join(', ')} (known: ${Object.keys(PARTS).join(', ')})`);
  process.exit(2);
}
const missed: string[] = [];
for (const name of asked) {
  console.log(`\n--- bench:universe ${name} ---`);
  missed.push(...(await PARTS[name]!()).missed);
}
console.log(missed.length ? `\nbench:universe: ${missed.length} target(s) MISSED` : '\nbench:universe: every target met');
process.exitCode = missed.length ? 1 : 0;
