/**
 * The bench's intervals for its means (bench/support/block-bootstrap.ts): on dependent series, as
 * overlapping windows' losses are, resampling blocks keeps the interval honest where resampling
 * single origins makes it too narrow.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockBootstrapInterval, blockIndices } from '../bench/support/block-bootstrap.ts';
import { mulberry32 } from '../4_nn_estimator/src/model/random.ts';

/** An AR(1) series with mean 0 (phi 0.8: a half-life of about three origins). */
function ar1(n: number, random: () => number): number[] {
  const out: number[] = [];
  let x = 0;
  for (let i = 0; i < n + 50; i++) {
    const e = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    x = 0.8 * x + e;
    if (i >= 50) out.push(x);
  }
  return out;
}

test('block indices: n of them, each in range, in runs of consecutive origins', () => {
  const idx = blockIndices(45, 20, mulberry32(3));
  assert.equal(idx.length, 45);
  assert.ok(idx.every((i) => i >= 0 && i < 45));
  for (const start of [0, 20]) for (let j = 1; j < 20; j++) assert.equal(idx[start + j], (idx[start]! + j) % 45);
});

test('the 90% interval of a mean covers the true mean about 90% of the time on a dependent series; single-origin resampling does not', () => {
  const random = mulberry32(5);
  const trials = 150;
  let coveredByBlocks = 0;
  let coveredBySingles = 0;
  for (let s = 0; s < trials; s++) {
    const x = ar1(450, random);
    const mean = (indices: readonly Int32Array[]) => {
      let sum = 0;
      for (const i of indices[0]!) sum += x[i]!;
      return sum / indices[0]!.length;
    };
    const [lo, hi] = blockBootstrapInterval([x.length], mean, { resamples: 400, seed: s + 1 });
    if (lo <= 0 && hi >= 0) coveredByBlocks++;
    const [lo1, hi1] = blockBootstrapInterval([x.length], mean, { resamples: 400, seed: s + 1, block: 1 });
    if (lo1 <= 0 && hi1 >= 0) coveredBySingles++;
  }
  assert.ok(coveredByBlocks / trials > 0.78 && coveredByBlocks / trials < 0.97, `blocks of 20 cover ${coveredByBlocks / trials}`);
  assert.ok(coveredBySingles / trials < 0.6, `single origins cover ${coveredBySingles / trials}`);
});
