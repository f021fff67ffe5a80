/**
 * npm run bench — every bench, one after another (never in parallel: they measure speed on the
 * same cores), each in its own process as `npm run bench:<name>` would run it. Their output
 * passes through; a summary at the end lists, per bench, the lines that say MISSED (every bench
 * prints that word for a missed target). Exit 1 when any bench missed a target or failed.
 * `npm run bench -- train serve` runs only those.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCHES = ['ingest', 'train', 'backtest', 'calibration-noise', 'serve', 'scale', 'soak', 'universe'] as const;
const here = path.dirname(fileURLToPath(import.meta.url));

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(BENCHES as readonly string[]).includes(name));
if (unknown.length) {
  console.error(`unknown bench: ${unknown.join(', ')} (known: ${BENCHES.join(', ')})`);
  process.exit(2);
}
const selected = asked.length ? BENCHES.filter((name) => asked.includes(name)) : BENCHES;

const results: Array<{ name: string; code: number | null; seconds: number; missed: string[] }> = [];
for (const name of selected) {
  console.log(`\n=== bench:${name} ===`);
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const missed = output.split('\n').filter((l) => l.includes('MISSED')).map((l) => l.trim());
  results.push({ name, code, seconds: (performance.now() - started) / 1000, missed });
}

console.log('\n=== summary ===');
for (const r of results) {
  // Exit 1 is also what a bench that threw returns: without a MISSED line that is a failure.
  const verdict = r.missed.length ? `${r.missed.length} line(s) MISSED:` : r.code === 0 ? 'targets met' : `failed (exit ${r.code})`;
  console.log(`  bench:${r.name.padEnd(8)} ${r.seconds.toFixed(0).padStart(5)} s  ${verdict}`);
  for (const line of r.missed) console.log(`      ${line}`);
}
process.exitCode = results.every((r) => r.code === 0 && !r.missed.length) ? 0 : 1;
