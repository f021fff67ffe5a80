/**
 * Faults on POST /import against a running loader process, over real sockets: a stalled upload
 * (slowloris), the import's database session terminated mid-upload, more uploads than the bound.
 * Each used to end the process ("closing after an uncaught error") or exhaust the pool.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { timedFetch, waitFor } from './support/faults.ts';
import { freePort } from './support/private-postgres.ts';
import { type RunningService, startService, stopService } from './support/stack.ts';

/** A generated Yahoo CSV of `n` weekdays from 1990 (plain data: the fault is the point). */
function csv(n: number): { header: string; lines: string[] } {
  const lines: string[] = [];
  const day = new Date(Date.UTC(1990, 0, 1));
  let close = 100;
  while (lines.length < n) {
    if (day.getUTCDay() !== 0 && day.getUTCDay() !== 6) {
      close *= 1 + Math.sin(lines.length) * 0.01;
      const c = close.toFixed(4);
      lines.push(`${day.toISOString().slice(0, 10)},${c},${c},${c},${c},${c},1000\n`);
    }
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return { header: 'Date,Open,High,Low,Close,Adj Close,Volume\n', lines };
}

/** Send the request line, headers and `body`, then nothing: the answer (or the close) resolves. */
function stalledUpload(url: string, ticker: string, body: string): { socket: net.Socket; answer: Promise<{ status: number | null; text: string; closed: boolean }> } {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  socket.write(`POST /import?ticker=${ticker} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: text/csv\r\nContent-Length: ${Buffer.byteLength(body) + 100_000}\r\n\r\n`);
  socket.write(body);
  const answer = new Promise<{ status: number | null; text: string; closed: boolean }>((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => { text += d; });
    const done = () => resolve({ status: /^HTTP\/1\.1 (\d+)/.exec(text) ? Number(/^HTTP\/1\.1 (\d+)/.exec(text)![1]) : null, text, closed: true });
    socket.on('close', done);
    socket.on('error', () => {});
  });
  return { socket, answer };
}

async function storedRows(db: TestDatabase, ticker: string): Promise<number> {
  return (await db.pool.query(`SELECT count(*)::int AS n FROM prices WHERE ticker = $1`, [ticker])).rows[0].n;
}

async function importWorks(loader: RunningService, ticker: string): Promise<void> {
  const { header, lines } = csv(300);
  const res = await timedFetch(`${loader.url}/import?ticker=${ticker}`, {
    method: 'POST', headers: { 'content-type': 'text/csv' }, body: header + lines.join(''),
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.stored, 300);
}

describe('POST /import faults against a running loader', () => {
  let db: TestDatabase;
  let loader: RunningService;

  before(async () => {
    db = await createTestDatabase('stocks_faults_import');
    loader = await startService('load_data', await freePort(), {
      DATABASE_URL: db.url, LOG_LEVEL: 'warn', MARKET_DATA_SOURCE: 'sample', RATE_LIMIT_PER_MINUTE: '0',
      IMPORT_IDLE_TIMEOUT_MS: '1500', IMPORT_MAX_CONCURRENT: '2',
    });
  });
  after(async () => {
    await stopService(loader);
    await db.drop();
  });

  test('a stalled upload is cut by the service with 408; no session is left in a transaction', async () => {
    const { header, lines } = csv(2);
    const started = Date.now();
    const { answer } = stalledUpload(loader.url, 'SLOW', header + lines.join(''));
    const got = await answer;
    assert.equal(got.status, 408, got.text);
    assert.match(got.text, /stopped arriving/);
    assert.ok(Date.now() - started < 10_000, 'cut after IMPORT_IDLE_TIMEOUT_MS, long before Postgres would');
    const open = await db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`);
    assert.equal(open.rows[0].n, 0);
    assert.equal(await storedRows(db, 'SLOW'), 0);
    assert.equal(loader.process.exitCode, null, 'the loader is alive');
    await importWorks(loader, 'AFTERSLOW');
  });

  test('the import\'s session terminated mid-upload ends that import (nothing stored), not the process', async () => {
    // More rows than one chunk (5,000): the transaction is open and waiting for the rest.
    const { header, lines } = csv(5_200);
    const { socket, answer } = stalledUpload(loader.url, 'KILLED', header + lines.join(''));
    const pid = await waitFor('the import to hold a transaction', async () => {
      const { rows } = await db.pool.query(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'load_data' AND state LIKE 'idle in transaction%'`,
      );
      return rows[0]?.pid as number | undefined;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    const got = await answer;
    socket.destroy();
    assert.ok(got.status === 503 || got.status === null, `an error answer or a closed socket, got: ${got.text.slice(0, 300)}`);
    if (got.status === 503) assert.match(got.text, /Database unavailable/);
    await new Promise((r) => setTimeout(r, 500)); // an uncaught 'error' would end the process by now
    assert.equal(loader.process.exitCode, null, `the loader is alive:\n${loader.output().slice(-2000)}`);
    assert.equal(await storedRows(db, 'KILLED'), 0, 'the server rolled the import back');
    await importWorks(loader, 'AFTERKILL');
  });

  test('past IMPORT_MAX_CONCURRENT an import answers 503 with Retry-After at once; /health/ready stays up', async () => {
    const { header, lines } = csv(5_100);
    const held = [stalledUpload(loader.url, 'HOLD1', header + lines.join('')), stalledUpload(loader.url, 'HOLD2', header + lines.join(''))];
    await waitFor('two imports to be running', async () => {
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'load_data' AND state LIKE 'idle in transaction%'`,
      );
      return rows[0].n === 2;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    const third = await timedFetch(`${loader.url}/import?ticker=THIRD`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'Date,Close\n2020-01-02,1\n' });
    assert.equal(third.status, 503, JSON.stringify(third.body));
    assert.ok(third.ms < 3_000, `answered at once (${third.ms} ms)`);
    const ready = await timedFetch(`${loader.url}/health/ready`);
    assert.equal(ready.status, 200);
    for (const h of held) await h.answer; // both are cut by the idle timeout
    await importWorks(loader, 'THIRD');
  });
});
