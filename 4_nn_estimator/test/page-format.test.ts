// The page's formatting rules (public/format.js), the ones users reported wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error plain browser ES module without types
import { axisPrice, axisSize, driftLook, signedPct, skillClass } from '../public/format.js';

test('0.0% skill is neither green nor red; real skill is', () => {
  assert.equal(skillClass(0), 'neutral');
  assert.equal(skillClass(0.0004), 'neutral');
  assert.equal(skillClass(-0.0004), 'neutral');
  assert.equal(signedPct(-0.0004), '0.0%');
  assert.equal(skillClass(0.012), 'good');
  assert.equal(signedPct(0.012), '+1.2%');
  assert.equal(skillClass(-0.03), 'bad');
  assert.equal(skillClass(null), '');
});

test('the drift card is red only when recent volatility is higher than before', () => {
  assert.deepEqual(driftLook({ detected: true, recent_volatility: 0.006, reference_volatility: 0.012 }), { text: 'Drift (calmer)', className: 'neutral' });
  assert.deepEqual(driftLook({ detected: true, recent_volatility: 0.02, reference_volatility: 0.012 }), { text: 'Drift', className: 'bad' });
  assert.equal(driftLook({ detected: false, recent_volatility: 0.02, reference_volatility: 0.012 }).className, 'good');
});

test('y-axis labels keep every digit of 4-digit prices, and the axis is wide enough for them', () => {
  const labels = axisPrice([4500, 4750, 5000]);
  assert.deepEqual(labels, ['4,500', '4,750', '5,000']);
  assert.deepEqual(axisPrice([182.5, 190]), ['182.50', '190.00']);
  const wide = axisSize(null, ['12,345', '12,500']);
  assert.ok(wide >= 18 + 7.5 * 6, `axis ${wide}px for 6-character labels`);
  assert.ok(axisSize(null, ['4,500']) > 0);
});
