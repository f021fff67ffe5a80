import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refreshedInBackground } from '../src/metrics.ts';

test('a /metrics value refreshed in the background: the first read waits, later ones never do', async () => {
  let reads = 0;
  let release: (() => void) | undefined;
  const slow = () => new Promise<number>((resolve) => {
    reads++;
    release = () => resolve(reads);
  });
  const value = refreshedInBackground(slow, 20);
  const first = value();
  release!();
  assert.equal(await first, 1);
  assert.equal(await value(), 1, 'fresh: no read');
  assert.equal(reads, 1);
  await new Promise((r) => setTimeout(r, 30));
  // Stale: answered at once with the old value while one read runs (not one per call).
  assert.equal(await value(), 1);
  assert.equal(await value(), 1);
  assert.equal(reads, 2);
  release!();
  await new Promise((r) => setImmediate(r));
  assert.equal(await value(), 2);

  // A failing refresh keeps the last value and is retried later; a failing first read rejects.
  const failing = refreshedInBackground(async () => { throw new Error('db down'); }, 0);
  await assert.rejects(failing(), /db down/);
});
