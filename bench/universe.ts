/**
 * `npm run bench:universe`: a universe of 500 tickers (test/support/universe-data.ts) through the
 * real services. Parts, chosen by `BENCH_PARTS` (comma-separated; default every part):
 *
 *   serving   bench/support/universe-serving.ts  runServingPart():  RSS, cached GET vs bare, /metrics
 *   pipeline  bench/support/universe-pipeline.ts runPipelinePart(): backfill, first training, nightly cycle
 *
 * Each part prints its figures beside their targets (MET / MISSED) and returns the targets it
 * missed; the bench exits 1 when any part missed one or could not run. Needs the local Postgres and
 * ../shared/market-data. `UNIVERSE_TICKERS` (default 500) sizes the universe.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface PartResult { missed: string[] }
const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Each part lives in its own module exporting `run<Name>Part()`. */
const PARTS: Record<string, { module: string; run: string }> = {
  serving: { module: 'universe-serving.ts', run: 'runServingPart' },
  pipeline: { module: 'universe-pipeline.ts', run: 'runPipelinePart' },
};

const selected = (process.env.BENCH_PARTS ?? Object.keys(PARTS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const unknown = selected.filter((p) => !PARTS[p]);
if (unknown.length) throw new Error(`BENCH_PARTS: unknown part(s) ${unknown.join(', ')} (known: ${Object.keys(PARTS).join(', ')})`);

console.log(`bench:universe — parts ${selected.join(', ')}; ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at start`);
const missed: string[] = [];
for (const name of selected) {
  const { module, run } = PARTS[name]!;
  const file = path.join(HERE, 'support', module);
  if (!existsSync(file)) {
    console.log(`\n== ${name}: NOT RUN (bench/support/${module} is not in this tree) ==`);
    missed.push(`${name}: not run`);
    continue;
  }
  const part = (await import(file)) as Record<string, () => Promise<PartResult>>;
  const result = await part[run]!();
  missed.push(...result.missed.map((m) => `${name}: ${m}`));
}
console.log(`\nload average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(missed.length ? `${missed.length} target(s) missed or not run: ${missed.join('; ')}` : 'all targets met');
process.exitCode = missed.length ? 1 : 0;
