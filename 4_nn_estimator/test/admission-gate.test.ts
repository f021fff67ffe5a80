import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAdmissionGate } from '../src/serving/admission-gate.ts';

test('the gate admits up to its capacity; a release hands the slot to the oldest waiter', async () => {
  const gate = createAdmissionGate(2, 5_000);
  assert.equal(await gate.enter(), true);
  assert.equal(await gate.enter(), true);
  const order: string[] = [];
  const third = gate.enter().then((ok) => { order.push(`third ${ok}`); });
  const fourth = gate.enter().then((ok) => { order.push(`fourth ${ok}`); });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([gate.inFlight, gate.waiting], [2, 2]);
  gate.release();
  await third;
  assert.deepEqual(order, ['third true'], 'the first to wait is the first admitted');
  assert.equal(gate.inFlight, 2, 'the slot passed over, never above capacity');
  gate.release();
  await fourth;
  gate.release();
  gate.release();
  assert.deepEqual([gate.inFlight, gate.waiting], [0, 0]);
});

test('a request that waited past its time is shed, and a later release does not admit it', async () => {
  const gate = createAdmissionGate(1, 30);
  assert.equal(await gate.enter(), true);
  const started = performance.now();
  assert.equal(await gate.enter(), false);
  assert.ok(performance.now() - started >= 25, 'it was held before being shed');
  gate.release();
  assert.equal(gate.inFlight, 0, 'the slot came back instead of going to the timed-out waiter');
  assert.equal(await gate.enter(), true);
});

test('with no wait, a request past capacity is shed at once', async () => {
  const gate = createAdmissionGate(1, 0);
  assert.equal(await gate.enter(), true);
  assert.equal(await gate.enter(), false);
});
