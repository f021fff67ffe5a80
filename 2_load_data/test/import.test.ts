import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { prices } from '@stocks/db';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { buildApp } from '../src/app.ts';
import { loadLoadDataEnv } from '../src/config.ts';
import { MARKET_DATA_DIR } from './support/yahoo-replay.ts';

type App = Awaited<ReturnType<typeof buildApp>>;
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKEN = 'import-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const csvFile = (name: string) => path.join(MARKET_DATA_DIR, name);

describe('POST /import', () => {
  let db: TestDatabase;
  let app: App;

  before(async () => {
    db = await createTestDatabase();
    const env = loadLoadDataEnv({ DATABASE_URL: db.url, MARKET_DATA_SOURCE: 'sample', API_TOKEN: TOKEN, IMPORT_MAX_BYTES: String(4 * 1024 * 1024) });
    app = await buildApp({ env, pool: db.pool, logger: false });
  });
  after(async () => {
    await app.close();
    await db.drop();
  });

  const post = (ticker: string, payload: string | Readable, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `/import?ticker=${encodeURIComponent(ticker)}`, headers: { 'content-type': 'text/csv', ...auth, ...headers }, payload });

  test('streams a real Yahoo CSV in; a second import changes nothing', async () => {
    const res = await post('AAPL', createReadStream(csvFile('AAPL.csv')));
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      ticker: 'AAPL', source: 'import', read: 1509, stored: 1509, inserted: 1509, updated: 0, rejected: {},
      first_date: '2018-01-02', last_date: '2023-12-29',
    });
    const again = await post('aapl', createReadStream(csvFile('AAPL.csv')));
    assert.deepEqual([again.json().inserted, again.json().updated], [0, 0]);
    const bar = (await prices.getPrices(db.pool, 'AAPL', { from: '2020-08-28', to: '2020-08-28' }))[0];
    assert.equal(bar?.close, 124.80750274658203);
  });

  test('every fixture file imports whole, ^GSPC quirks included', async () => {
    const files = readdirSync(MARKET_DATA_DIR).filter((f) => f.endsWith('.csv'));
    assert.equal(files.length, 5);
    for (const file of files) {
      const lines = readFileSync(csvFile(file), 'utf8').trim().split('\n').length - 1;
      const res = await post(file.replace(/\.csv$/, ''), createReadStream(csvFile(file)));
      assert.equal(res.statusCode, 200, `${file}: ${res.body}`);
      assert.equal(res.json().read, lines, file);
      assert.equal(res.json().stored, lines, file);
      assert.deepEqual(res.json().rejected, {}, file);
    }
    const gspc = await prices.getPrices(db.pool, '^GSPC', { from: '1962-01-02', to: '1962-01-05' });
    assert.ok(gspc.length === 4 && gspc.every((b) => b.open === null && b.close > 60));
  });

  test('null rows and self-contradicting rows are counted, the rest stored', async () => {
    const csv = [
      'Date,Open,High,Low,Close,Adj Close,Volume',
      '2021-01-04,10,11,9,10.5,10.5,100',
      '2021-01-05,null,null,null,null,null,null',
      '2021-01-06,10,11,12,10.5,10.5,100', // low > high
      '2021-01-07,10,11,9,10.6,10.6,-1', // negative volume
      '2021-01-08,10,11,9,10.7,10.7,100',
      '1850-01-08,10,11,9,10.7,10.7,100', // outside the sane date range
    ].join('\n');
    const res = await post('TEST', csv);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual([res.json().read, res.json().stored], [6, 2]);
    assert.deepEqual(res.json().rejected, { null_bar: 1, low_above_high: 1, negative_volume: 1, date_out_of_range: 1 });
  });

  test('a malformed line half-way through stores nothing (one transaction) and names the line', async () => {
    const before = await prices.getPrices(db.pool, '^GSPC');
    // A generated series long enough for 4 chunks of 5000 to be upserted before the bad line.
    const day = (i: number) => new Date(Date.UTC(1940, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
    const good = Array.from({ length: 30_000 }, (_, i) => `${day(i)},${100 + (i % 7)},${110 + (i % 7)},${90 + (i % 7)},${105 + (i % 7)},${105 + (i % 7)},${1000 + i}`);
    // 20 000 good rows = 4 chunks upserted before the bad line, all rolled back.
    const body = ['Date,Open,High,Low,Close,Adj Close,Volume', ...good.slice(0, 20_000), `${day(20_000)},1,2,oops,1,1,1`, ...good.slice(20_001)].join('\n');
    const res = await post('^GSPC', Readable.from([body.slice(0, 700_000), body.slice(700_000)]));
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.json().message, /^CSV line 20002: low is not a number: "oops"; nothing was stored\.$/);
    assert.deepEqual(await prices.getPrices(db.pool, '^GSPC'), before);

    await db.pool.query(`DELETE FROM prices WHERE ticker = 'FRESH'`);
    const fresh = await post('FRESH', Readable.from([body]));
    assert.equal(fresh.statusCode, 400);
    assert.equal((await prices.getCoverage(db.pool, 'FRESH')), undefined);
  });

  test('body size is limited: declared (Content-Length) or counted while streaming -> 413, nothing stored', async () => {
    // ~5 MB > 4 MiB in few rows (a wide extra column), so reaching the limit is quick.
    const big = 'Date,Close,Note\n' + Array.from({ length: 5_000 }, (_, i) => `2001-01-01,${i + 1},${'x'.repeat(1_000)}`).join('\n');
    const declared = await post('BIG', big);
    assert.equal(declared.statusCode, 413, declared.body);
    assert.match(declared.json().message, /IMPORT_MAX_BYTES/);
    const streamed = await post('BIG', Readable.from((function* () {
      for (let i = 0; i < 50; i++) yield Buffer.from(big.slice(i * 100_000, (i + 1) * 100_000));
    })()));
    assert.equal(streamed.statusCode, 413, streamed.body);
    assert.equal(await prices.getCoverage(db.pool, 'BIG'), undefined);
  });

  test('bad requests: ticker, content type, empty body, header, token', async () => {
    const bad = await post('AAPL; DROP TABLE prices', 'Date,Close\n2020-01-02,1');
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().message, /ticker/);
    const noTicker = await app.inject({ method: 'POST', url: '/import', headers: { 'content-type': 'text/csv', ...auth }, payload: 'Date,Close\n' });
    assert.equal(noTicker.statusCode, 400);
    const json = await app.inject({ method: 'POST', url: '/import?ticker=AAPL', headers: auth, payload: { a: 1 } });
    assert.equal(json.statusCode, 415);
    assert.match(json.json().message, /text\/csv/);
    const xml = await post('AAPL', '<x/>', { 'content-type': 'application/xml' });
    assert.equal(xml.statusCode, 415);
    const empty = await post('AAPL', '');
    assert.equal(empty.statusCode, 400);
    const noClose = await post('AAPL', 'Date,Open\n2020-01-02,1\n');
    assert.equal(noClose.statusCode, 400);
    assert.match(noClose.json().message, /no Close column/);
    const noToken = await app.inject({ method: 'POST', url: '/import?ticker=AAPL', headers: { 'content-type': 'text/csv' }, payload: 'Date,Close\n' });
    assert.equal(noToken.statusCode, 401);
  });

  test('the import is counted in rows_ingested_total and rows_rejected_total', async () => {
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, /rows_ingested_total\{[^}]*ticker="AAPL"[^}]*kind="inserted"[^}]*\} 1509/);
    assert.match(metrics, /rows_rejected_total\{[^}]*ticker="TEST"[^}]*reason="null_bar"[^}]*\} 1/);
  });
});

describe('npm run import (CLI)', () => {
  let db: TestDatabase;
  let dir: string;
  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'import-cli-'));
    await writeFile(path.join(dir, 'BRK-B.csv'), 'Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,1,1.5,1.5,10\n2020-01-03,null,null,null,null,null,null\n');
    await writeFile(path.join(dir, 'not a ticker.csv'), 'Date,Close\n2020-01-02,1\n');
    await writeFile(path.join(dir, 'BROKEN.csv'), 'Date,Close\n2020-01-02,abc\n');
    await writeFile(path.join(dir, 'notes.txt'), 'ignored');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await db.drop();
  });

  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', '2_load_data/src/import-cli.ts', ...args], {
      cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: db.url },
    }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

  test('imports files and folders; the ticker comes from the file name; bad files are reported, exit 1', async () => {
    const r = await run(csvFile('^GSPC.csv'), dir);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /\^GSPC: read 127, stored 127 \(127 inserted, 0 updated\), 1949-12-01\.\.1987-10-30, rejected none/);
    assert.match(r.stdout, /BRK-B: read 2, stored 1 .*rejected null_bar=1/);
    assert.match(r.stderr, /not a ticker\.csv: skipped/);
    assert.match(r.stderr, /BROKEN\.csv: nothing stored: CSV line 2: close is not a number/);
    assert.equal((await prices.getCoverage(db.pool, '^GSPC'))?.rows, 127);
    assert.equal(await prices.getCoverage(db.pool, 'BROKEN'), undefined);
  });

  test('all good files -> exit 0; no argument -> usage, exit 2', async () => {
    const ok = await run(csvFile('MSFT.csv'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /MSFT: read 753/);
    const usage = await run();
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: npm run import/);
  });
});
