// The forecast page: plain ES module, no build step. Reads the estimator's JSON endpoints.
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { axisPrice, axisSize, driftLook, signedPct, skillClass } from './format.js';
import { tickerPicker } from './ticker-picker.js';

const $ = (id) => document.getElementById(id);
const COLORS = { close: '#1f5fbf', forecast: '#d9620b', past: '#7c3aed' };
const price = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const pct = (x, digits = 0) => (x == null ? '–' : `${(100 * x).toFixed(digits)}%`);
const num = (x) => (x == null || !Number.isFinite(x) ? '–' : price.format(x));
const when = (iso) => (iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }) : '–');
const toTs = (date) => Date.parse(`${date}T00:00:00Z`) / 1000;

/** What the page shows, for people and for the browser test. */
const state = { ticker: null, tickers: [], chart: null, counts: null };
window.stocksPage = state;

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function getJson(url) {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new HttpError(res.status, body?.message ?? res.statusText);
  return body;
}
/** A 404 (no model yet, nothing stored) is an answer, not a failure. */
const orNull = (promise) => promise.catch((err) => (err.status === 404 ? null : Promise.reject(err)));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return node;
}

function showMessage(text) {
  $('message').hidden = !text;
  $('message').textContent = text ?? '';
}

async function init() {
  const { tickers } = await getJson('/tickers');
  state.tickers = tickers;
  const updateAddress = () => {
    const q = new URLSearchParams({ ticker: picker.value, days: $('days').value, horizon: $('horizon').value });
    history.replaceState(null, '', `?${q}`);
  };
  const picker = tickerPicker($('ticker'), $('ticker-list'), {
    describe: (t) => (t.champion_version !== null ? `model v${t.champion_version}` : 'no model'),
    onPick: (ticker) => {
      updateAddress();
      void load(ticker);
    },
  });
  state.picker = picker;
  picker.setTickers(tickers);
  if (tickers.length === 0) {
    showMessage('No prices are stored yet. Load some with POST /load on 2_load_data (or let the shepherd run).');
    document.body.dataset.state = 'ready';
    return;
  }
  const params = new URLSearchParams(location.search);
  const wanted = params.get('ticker')?.toUpperCase();
  const initial = tickers.find((t) => t.ticker === wanted) ?? tickers.find((t) => t.champion_version !== null) ?? tickers[0];
  picker.set(initial.ticker);
  for (const id of ['days', 'horizon']) {
    if (params.get(id)) $(id).value = params.get(id);
    $(id).addEventListener('change', () => {
      updateAddress();
      void load(picker.value);
    });
  }
  $('controls').addEventListener('submit', (e) => e.preventDefault());
  await load(initial.ticker);
}

async function load(ticker) {
  document.body.dataset.state = 'loading';
  state.ticker = ticker;
  showMessage(null);
  const t = encodeURIComponent(ticker);
  const days = Number($('days').value);
  const horizon = Number($('horizon').value);
  try {
    const [prices, predict, past, models, monitoring, jobs] = await Promise.all([
      getJson(`/prices?ticker=${t}&days=${days}`),
      orNull(getJson(`/predict?ticker=${t}&horizon=${horizon}`)),
      getJson(`/forecasts?ticker=${t}&step=1&limit=5000`),
      getJson(`/models?ticker=${t}`),
      orNull(getJson(`/monitoring?ticker=${t}`)),
      getJson(`/jobs?ticker=${t}&limit=10`),
    ]);
    if (state.ticker !== ticker) return; // another ticker was chosen meanwhile
    renderFreshness(state.tickers.find((x) => x.ticker === ticker));
    renderChart(ticker, prices.prices, predict, past.forecasts);
    renderLive(monitoring);
    renderModels(models.models, monitoring, models.metrics_windows);
    renderJobs(jobs.jobs);
    if (!predict) showMessage(`${ticker} has no trained model yet: the chart shows prices only. Train one with POST /train.`);
    document.body.dataset.state = 'ready';
  } catch (err) {
    showMessage(`Could not load ${ticker}: ${err.message}`);
    document.body.dataset.state = 'error';
  }
}

function renderFreshness(info) {
  const pill = $('freshness');
  if (!info) { pill.textContent = ''; return; }
  const behind = info.stale_trading_days;
  pill.textContent = `Data through ${info.last_date}${behind > 0 ? ` · ${behind} trading day${behind === 1 ? '' : 's'} behind` : ' · up to date'}`;
  pill.className = `pill ${behind > 0 ? 'stale' : 'fresh'}`;
}

/**
 * One x axis (days) for: closes, the forecast (starting from the last close) with its 80% and
 * 95% bands, and past one-day-ahead forecasts placed at the date they were for.
 */
function renderChart(ticker, bars, predict, past) {
  const first = bars[0]?.date ?? '9999-12-31';
  const last = bars.at(-1);
  const forecast = predict?.forecast ?? [];
  // Realised ones only (what happened is known), newest version first: one point per date.
  const pastByDate = new Map();
  for (const f of past) if (f.actual !== null && f.target_date >= first && !pastByDate.has(f.target_date)) pastByDate.set(f.target_date, f);

  const dates = [...new Set([...bars.map((b) => b.date), ...forecast.map((f) => f.date), ...pastByDate.keys()])].sort();
  const index = new Map(dates.map((d, i) => [d, i]));
  const column = () => new Array(dates.length).fill(null);
  const [close, fc, l80, u80, l95, u95, pastCol] = [column(), column(), column(), column(), column(), column(), column()];
  for (const b of bars) close[index.get(b.date)] = b.close;
  if (last && forecast.length) {
    const i = index.get(last.date);
    fc[i] = l80[i] = u80[i] = l95[i] = u95[i] = last.close; // bands open from the last close
  }
  for (const f of forecast) {
    const i = index.get(f.date);
    fc[i] = f.close;
    l80[i] = f.lower80 ?? null; u80[i] = f.upper80 ?? null; l95[i] = f.lower95 ?? null; u95[i] = f.upper95 ?? null;
  }
  for (const [d, f] of pastByDate) pastCol[index.get(d)] = f.value;
  const hasBands = forecast.some((f) => f.lower80 != null);

  // Empty, not a dash, where a series has no value (before any hover, or outside the forecast).
  const shown = (_u, v) => (v == null ? '' : num(v));
  const band = (label, alpha) => ({ label, stroke: `rgba(217, 98, 11, ${alpha})`, width: 1, points: { show: false }, value: shown });
  const opts = {
    width: Math.max(320, $('chart').clientWidth),
    height: 380,
    scales: { x: { time: true } },
    cursor: { points: { size: 6 } },
    series: [
      { value: (_u, ts) => (ts == null ? '' : new Date(ts * 1000).toISOString().slice(0, 10)) },
      { label: 'Close', stroke: COLORS.close, width: 1.6, points: { show: false }, value: shown },
      { label: `Forecast${predict ? ` (v${predict.model_version})` : ''}`, stroke: COLORS.forecast, width: 2, dash: [6, 4], points: { show: true, size: 4, fill: COLORS.forecast }, value: shown },
      band('80% low', 0.45), band('80% high', 0.45), band('95% low', 0.25), band('95% high', 0.25),
      {
        label: 'Past forecast, 1 day ahead', stroke: COLORS.past, fill: COLORS.past, width: 0, paths: () => null,
        points: { show: true, size: 6, width: 1, fill: 'rgba(124, 58, 237, 0.55)', stroke: COLORS.past }, value: shown,
      },
    ],
    bands: hasBands ? [
      { series: [6, 5], fill: 'rgba(217, 98, 11, 0.10)' },
      { series: [4, 3], fill: 'rgba(217, 98, 11, 0.20)' },
    ] : [],
    axes: [
      { stroke: '#6b7685', grid: { stroke: '#eef1f4' }, ticks: { stroke: '#e3e7ec' } },
      { stroke: '#6b7685', size: axisSize, grid: { stroke: '#eef1f4' }, ticks: { stroke: '#e3e7ec' }, values: (_u, vals) => axisPrice(vals) },
    ],
  };
  state.chart?.destroy();
  const data = [dates.map(toTs), close, fc, l80, u80, l95, u95, pastCol];
  state.chart = new uPlot(opts, data, $('chart'));
  state.counts = { close: bars.length, forecast: forecast.length, past: pastByDate.size };

  $('chart-title').textContent = `${ticker}: closes and forecast`;
  const notes = [];
  if (predict) {
    notes.push(`Forecast by model v${predict.model_version} from ${predict.last_date} for ${forecast.length} trading days.`);
    const source = { model: 'the learned volatility network', ewma: 'EWMA(0.94) volatility', garch: 'GARCH(1,1)-t', static: 'static two-year quantiles' }[predict.interval_model];
    notes.push(hasBands ? `Shaded: 80% (darker) and 95% prediction bands${source ? ` from ${source} (the band model this version serves)` : ''}.` : 'This version has no prediction intervals.');
  }
  notes.push(pastByDate.size ? `Purple dots: ${pastByDate.size} one-day-ahead forecasts served earlier, at the day they were for.` : 'No earlier forecast has reached its date yet.');
  $('chart-note').textContent = notes.join(' ');
}

function renderLive(monitoring) {
  const live = monitoring?.live ?? [];
  // The champion's; until its forecasts are realised, the newest version that has some.
  const row = live.find((r) => r.champion && r.window === '20d') ?? live.find((r) => r.champion)
    ?? live.find((r) => r.window === '20d') ?? live[0] ?? null;
  const span = row ? (row.window === 'all' ? 'all served forecasts' : `last ${row.window_days} trading days`) : 'no realised forecasts yet';
  $('live-window').textContent = row ? `v${row.model_version}${row.champion ? '' : ' (before the champion)'}, ${span}` : span;
  $('live-mae').textContent = row ? num(row.mae) : '–';
  $('live-naive').textContent = row ? num(row.naive_mae) : '–';
  const skill = $('live-skill');
  skill.textContent = signedPct(row?.skill_vs_naive);
  skill.className = `big ${skillClass(row?.skill_vs_naive)}`;
  $('live-note').textContent = row
    ? `${row.n} forecast points realised (${row.first_target} to ${row.last_target}), MAPE ${row.mape.toFixed(2)}% vs naive ${row.naive_mape.toFixed(2)}%.`
    : 'Errors appear once the closes of forecast dates are loaded.';

  $('cov80').textContent = pct(row?.coverage80);
  $('cov95').textContent = pct(row?.coverage95);
  $('cov-note').textContent = row?.n_intervals ? `Over ${row.n_intervals} realised forecasts with intervals; nominal 80% and 95%.` : 'No realised forecast with intervals yet.';

  const drift = monitoring?.drift;
  const stateEl = $('drift-state');
  if (!drift || drift.p_value == null) {
    stateEl.textContent = '–';
    stateEl.className = 'big';
    $('drift-p').textContent = 'p-value';
    $('drift-vol').textContent = '–';
    $('drift-note').textContent = drift?.note ?? '';
  } else {
    const look = driftLook(drift);
    stateEl.textContent = look.text;
    stateEl.className = `big ${look.className}`;
    $('drift-p').textContent = `p = ${drift.p_value < 0.001 ? drift.p_value.toExponential(1) : drift.p_value.toFixed(3)} (threshold ${drift.threshold})`;
    $('drift-vol').textContent = `${pct(drift.recent_volatility, 2)} / ${pct(drift.reference_volatility, 2)}`;
    $('drift-note').textContent = `Last ${drift.n_recent} daily returns against ${drift.n_reference} of the training window (${drift.reference_range?.start} to ${drift.reference_range?.end}).`;
  }
  if (monitoring?.retrain.full_retrain_advised) $('drift-note').textContent += ` Full retrain advised: ${monitoring.retrain.reasons.join('; ')}.`;
}

function bandsCell(skill) {
  if (!skill) return el('td', { class: 'muted' }, '–');
  const own = skill.per_model[skill.served]?.['1'];
  const ref = skill.per_model.static?.['1'];
  const rel = own && ref ? own.interval_score95 / ref.interval_score95 - 1 : null;
  return el('td', { class: skillClass(rel == null ? null : -rel), title: skill.reason }, `${skill.served}${rel == null ? '' : ` ${signedPct(rel)}`}`);
}

function renderModels(models, monitoring, note) {
  $('models-note').textContent = note ?? '';
  const liveAll = new Map((monitoring?.live ?? []).filter((r) => r.window === 'all').map((r) => [r.model_version, r]));
  const body = $('models').querySelector('tbody');
  body.replaceChildren();
  if (models.length === 0) body.append(el('tr', {}, el('td', { colspan: '12', class: 'muted' }, 'No model versions yet.')));
  for (const m of models) {
    const live = liveAll.get(m.version);
    const skill = m.skill_vs_naive;
    const status = m.champion ? el('span', { class: 'badge champion' }, '★ champion') : el('span', { class: `badge ${m.status}`, title: m.status_reason ?? '' }, m.status);
    body.append(el('tr', { class: m.champion ? 'champion' : '', 'data-version': String(m.version) },
      el('td', {}, `v${m.version}`),
      el('td', {}, m.kind),
      el('td', {}, status),
      el('td', {}, m.trained_range.end),
      el('td', { class: 'num' }, num(m.metrics.mae)),
      el('td', { class: 'num' }, num(m.baseline.mae)),
      el('td', { class: `num ${skillClass(skill)}` }, signedPct(skill)),
      el('td', { class: `num ${live ? (live.mae <= live.naive_mae ? 'good' : 'bad') : ''}` }, live ? num(live.mae) : '–'),
      el('td', { class: 'num' }, live ? num(live.naive_mae) : '–'),
      el('td', { class: 'num' }, live ? String(live.n) : '0'),
      bandsCell(m.interval_skill),
      el('td', {}, when(m.created_at)),
    ));
  }
}

function renderJobs(jobs) {
  const body = $('jobs').querySelector('tbody');
  body.replaceChildren();
  if (jobs.length === 0) body.append(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No jobs yet.')));
  for (const j of jobs) {
    const took = j.started_at && j.finished_at ? `${((Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000).toFixed(1)} s` : '–';
    body.append(el('tr', {},
      el('td', {}, j.kind),
      el('td', {}, el('span', { class: `badge ${j.status}` }, j.status)),
      el('td', {}, j.model_version ? `v${j.model_version}` : '–'),
      el('td', {}, when(j.created_at)),
      el('td', { class: 'num' }, took),
      el('td', { class: 'error' }, j.error ?? ''),
    ));
  }
}

new ResizeObserver(() => {
  if (state.chart) state.chart.setSize({ width: Math.max(320, $('chart').clientWidth), height: 380 });
}).observe($('chart'));

init().catch((err) => {
  showMessage(`The page could not start: ${err.message}`);
  document.body.dataset.state = 'error';
});
