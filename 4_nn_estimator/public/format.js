// Formatting rules of the page, apart from the DOM so they can be tested in Node.
/** Green above zero, red below, grey when it rounds to 0.0% (no skill either way). */
export const skillClass = (x) => (x == null ? '' : Math.abs(x) < 0.0005 ? 'neutral' : x > 0 ? 'good' : 'bad');
export const signedPct = (x) => {
  if (x == null) return '–';
  const shown = Math.abs(x) < 0.0005 ? 0 : x; // no "-0.0%"
  return `${shown > 0 ? '+' : ''}${(100 * shown).toFixed(1)}%`;
};
/** Axis labels: no cents once prices reach four digits, and an axis as wide as its longest label. */
export const axisPrice = (vals) => {
  const top = Math.max(...vals.map((v) => Math.abs(v ?? 0)));
  const digits = top >= 1000 ? 0 : 2;
  return vals.map((v) => (v == null ? '' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })));
};
export const axisSize = (u, values) => (values ? 18 + 7.5 * Math.max(4, ...values.map((v) => String(v).length)) : 64);

/** Drift towards calmer returns is news, not a warning: red only when volatility rose. */
export function driftLook(drift) {
  const calmer = drift.recent_volatility != null && drift.reference_volatility != null && drift.recent_volatility < drift.reference_volatility;
  if (!drift.detected) return { text: 'Stable', className: 'good' };
  return calmer ? { text: 'Drift (calmer)', className: 'neutral' } : { text: 'Drift', className: 'bad' };
}
