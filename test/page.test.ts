import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { readMarketData } from './support/market-data.ts';
import { loadUniverseSources, universeTicker } from './support/universe-data.ts';
import { freePort } from './support/private-postgres.ts';
import { getJson, type RunningService, startService, stopService } from './support/stack.ts';
import { REPO_ROOT } from './support/compose.ts';

/**
 * The forecast page in a real browser (Debian's headless Chromium through playwright-core)
 * against the estimator running as its own process on real AAPL bars: forecasts served day
 * after day while the actual closes arrive, then a fine-tune, then the page.
 * In CI a missing browser fails the test; elsewhere it skips with the command to install it.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env.CI) throw new Error(`CI needs Chromium at ${CHROMIUM} for the page test (.ci/run installs the Debian package chromium).`);
const skip = haveBrowser ? false : `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`;

const ORIGIN = '2023-10-31';
const SERVED_DAYS = 15;
const DAYS_SHOWN = 126;
const HORIZON = 10;
export const SCREENSHOT = path.join(REPO_ROOT, 'test-results', 'page.png');

describe('the forecast page in headless Chromium', { skip }, () => {
  let db: TestDatabase;
  let estimator: RunningService;
  let browser: Browser;
  let versions: number[];

  before(async () => {
    db = await createTestDatabase('stocks_page');
    const aapl = await readMarketData('AAPL');
    await prices.upsertPrices(db.pool, 'AAPL', 'csv', aapl.filter((b) => b.date <= ORIGIN).slice(-450));
    await prices.upsertPrices(db.pool, 'MSFT', 'csv', (await readMarketData('MSFT')).slice(-300));
    estimator = await startService('nn_estimator', await freePort(), {
      DATABASE_URL: db.url, LOG_LEVEL: 'warn', TRAIN_EPOCHS: '1', MODEL_WINDOW: '20', MODEL_UNITS: '8', TRAIN_MAX_BARS: '400',
    });
    const api = estimator.url;
    const job = async (kind: 'train' | 'fine-tune') => {
      const res = await getJson(`${api}/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ticker":"AAPL"}' });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      for (;;) {
        const j = (await getJson(`${api}/jobs/${res.body.job_id}`)).body;
        if (j.status === 'succeeded') return j.model_version as number;
        if (j.status === 'failed') throw new Error(j.error);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await job('train');
    // Day after day: a forecast is served, then the day's real close arrives.
    const next = aapl.filter((b) => b.date > ORIGIN).slice(0, SERVED_DAYS);
    let origin = ORIGIN;
    for (const [i, bar] of next.entries()) {
      // Poll until the forecast is made from the newest bar (a forecast cache may lag a new bar by a moment).
      for (let n = 0; ; n++) {
        const p = await getJson(`${api}/predict?ticker=AAPL&horizon=5`);
        assert.equal(p.status, 200);
        if (p.body.last_date === origin && (await getJson(`${api}/forecasts?ticker=AAPL&step=1`)).body.forecasts.length === i + 1) break;
        if (n > 100) throw new Error(`the forecast from ${origin} was not served and recorded:\n${estimator.output().slice(-1500)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await prices.upsertPrices(db.pool, 'AAPL', 'csv', [bar]);
      origin = bar.date;
    }
    await job('fine-tune');
    versions = (await getJson(`${api}/models?ticker=AAPL`)).body.models.map((m: { version: number }) => m.version);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    if (estimator) await stopService(estimator);
    await db?.drop();
  });

  test('pick a ticker; the chart holds the history, forecast and past forecasts; the table the versions', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
    // Every request answers, except the forecast of a ticker without a model.
    page.on('response', (r) => { if (r.status() >= 400 && !r.url().includes('/predict?ticker=MSFT')) errors.push(`${r.status()} ${r.url()}`); });
    await page.goto(`${estimator.url}/?days=${DAYS_SHOWN}&horizon=${HORIZON}`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 20_000 });
    assert.equal(await page.inputValue('#ticker'), 'AAPL', 'the ticker with a model is shown first');
    await page.click('#ticker');
    assert.deepEqual(await page.$$eval('#ticker-list li[role="option"]', (os) => os.map((o) => (o as any).dataset.ticker)), ['AAPL', 'MSFT']);

    // MSFT has prices but no model: prices only, and the page says why. Picked with the mouse.
    await page.fill('#ticker', 'ms');
    assert.deepEqual(await page.$$eval('#ticker-list li[role="option"]', (os) => os.map((o) => (o as any).dataset.ticker)), ['MSFT']);
    await page.click('#ticker-list li[data-ticker="MSFT"]');
    await page.waitForFunction(() => (globalThis as any).stocksPage.ticker === 'MSFT' && (globalThis as any).document.body.dataset.state === 'ready');
    assert.match(await page.textContent('#message') ?? '', /no trained model/);
    assert.equal(await page.$$eval('#models tbody tr[data-version]', (rows) => rows.length), 0);

    // ...and back with the keyboard.
    await page.click('#ticker');
    await page.keyboard.type('AAP');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (globalThis as any).stocksPage.ticker === 'AAPL' && (globalThis as any).document.body.dataset.state === 'ready');
    const chart = await page.evaluate(() => {
      const u = (globalThis as any).stocksPage.chart;
      return { labels: u.series.map((s: { label?: string }) => s.label ?? ''), counts: u.data.map((col: Array<number | null>) => col.filter((v) => v !== null && v !== undefined).length), canvas: !!(globalThis as any).document.querySelector('#chart canvas') };
    });
    assert.ok(chart.canvas, 'uPlot drew a canvas');
    const count = (label: RegExp) => chart.counts[chart.labels.findIndex((l: string) => label.test(l))];
    assert.equal(count(/^Close$/), DAYS_SHOWN);
    assert.equal(count(/^Forecast/), HORIZON + 1, 'the forecast, starting from the last close');
    assert.equal(count(/^Past forecast/), SERVED_DAYS, 'every one-day-ahead forecast whose close arrived');
    const band = count(/^95% low$/);
    assert.ok(band === 0 || band === HORIZON + 1, `95% band points: ${band}`);

    const rows = await page.$$eval('#models tbody tr[data-version]', (trs) => trs.map((tr) => ({ version: Number(tr.getAttribute('data-version')), champion: tr.classList.contains('champion') })));
    assert.deepEqual(rows.map((r) => r.version), versions);
    assert.equal(rows.filter((r) => r.champion).length, 1);
    assert.deepEqual(await page.$$eval('#jobs tbody tr td:first-child', (tds) => tds.map((td) => td.textContent)), ['fine-tune', 'train']);
    assert.match(await page.textContent('#freshness') ?? '', /Data through 2023-11-21/);
    assert.notEqual(await page.textContent('#live-mae'), '–');
    assert.deepEqual(errors, []);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });

  test('with 500 tickers stored, the ticker list is searched, not scrolled: a few keys reach any of them', async () => {
    // 498 more tickers of the universe the universe bench uses (last 30 bars each), beside AAPL and MSFT.
    const sources = await loadUniverseSources();
    for (let i = 0; i < 498; i++) {
      const u = universeTicker(sources, i, { sessions: 30 });
      await prices.upsertPrices(db.pool, u.ticker, 'csv', u.bars);
    }
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('response', (r) => { if (r.status() >= 400 && !/\/predict\?ticker=(MSFT|U0)/.test(r.url())) errors.push(`${r.status()} ${r.url()}`); });
    const started = Date.now();
    await page.goto(`${estimator.url}/`);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 20_000 });
    const readyMs = Date.now() - started;
    assert.equal(await page.evaluate(() => (globalThis as any).stocksPage.tickers.length), 500);
    assert.equal(await page.getAttribute('#ticker', 'placeholder'), 'Search 500 tickers');
    const options = () => page.$$eval('#ticker-list li[role="option"]', (os) => os.map((o) => (o as any).dataset.ticker as string));
    const matching = async () => Number(await page.getAttribute('#ticker-list', 'data-matches'));

    // Opening the list shows the first 50 and says how many more there are: the DOM stays small.
    await page.click('#ticker');
    assert.equal(await page.getAttribute('#ticker', 'aria-expanded'), 'true');
    assert.equal(await matching(), 500);
    assert.equal((await options()).length, 50);
    assert.match(await page.textContent('#ticker-list li.status') ?? '', /450 more of 500 matching/);

    // Typing narrows it: prefix matches, then matches inside the symbol.
    await page.keyboard.type('U04');
    assert.equal(await matching(), 99, 'U0400 .. U0498');
    assert.deepEqual((await options()).slice(0, 2), ['U0400', 'U0401']);
    await page.fill('#ticker', '049');
    assert.deepEqual(await options(), ['U0049', 'U0490', 'U0491', 'U0492', 'U0493', 'U0494', 'U0495', 'U0496', 'U0497', 'U0498']);
    await page.fill('#ticker', 'u0423');
    assert.deepEqual(await options(), ['U0423']);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (globalThis as any).stocksPage.ticker === 'U0423' && (globalThis as any).document.body.dataset.state === 'ready');
    assert.equal(await page.getAttribute('#ticker', 'aria-expanded'), 'false');
    assert.equal(await page.inputValue('#ticker'), 'U0423');
    assert.match(await page.textContent('#message') ?? '', /U0423 has no trained model/);
    assert.equal(await page.evaluate(() => (globalThis as any).stocksPage.chart.data[1].filter((v: number | null) => v != null).length), 30, 'its 30 stored closes are drawn');
    assert.match(page.url(), /ticker=U0423/);

    // Arrows move through the matches; Escape gives up and keeps the current ticker.
    await page.click('#ticker');
    await page.keyboard.type('U01');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getAttribute('#ticker', 'aria-activedescendant'), 'ticker-list-opt-1');
    await page.keyboard.press('Escape');
    assert.equal(await page.inputValue('#ticker'), 'U0423');
    await page.click('#ticker');
    await page.keyboard.type('nothing');
    assert.equal(await matching(), 0);
    assert.match(await page.textContent('#ticker-list li.status') ?? '', /No ticker matches/);
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => (globalThis as any).stocksPage.ticker), 'U0423', 'Enter on no match picks nothing');

    // The first ticker with a model is still one search away.
    await page.fill('#ticker', 'aapl');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => (globalThis as any).stocksPage.ticker === 'AAPL' && (globalThis as any).document.body.dataset.state === 'ready');
    assert.deepEqual(errors, []);
    console.log(`page with 500 tickers ready in ${readyMs} ms`);
    await page.close();
  });
});
