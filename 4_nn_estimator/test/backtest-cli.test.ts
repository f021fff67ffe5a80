import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', '4_nn_estimator/src/backtest-cli.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, TF_BACKEND: 'cpu' } })
    .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

test('npm run backtest -- --help prints the usage; a wrong option says so, with the usage, exit 2', async () => {
  const help = await run('--help');
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--ticker T/);
  assert.match(help.stdout, /--origins N/);
  const wrong = await run('--tickr', 'AAPL');
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /Unknown option '--tickr'/);
  assert.match(wrong.stderr, /--ticker T/);
});

test('a backtest prints its progress on stderr and its result on stdout', async () => {
  const r = await run('--ticker', 'AAPL', '--csv', 'test/fixtures/market-data/AAPL.csv', '--origins', '3', '--horizon', '2',
    '--retrain-every', '2', '--epochs', '1', '--window', '10', '--units', '4', '--max-bars', '200');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /backtest: AAPL, 1509 bars, backend cpu/);
  assert.match(r.stderr, /backtest: origin 1\/3 \([\d-]+\), 1 fit/);
  assert.match(r.stderr, /backtest: origin 3\/3 \([\d-]+\), 2 fit/);
  assert.match(r.stdout, /AAPL: 1509 bars, backend cpu/);
});
