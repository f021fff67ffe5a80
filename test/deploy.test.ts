import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { createTestDatabase, type TestDatabase } from '@stocks/db/testing';
import { composeEnvironment, REPO_ROOT } from './support/compose.ts';
import { MARKET_DATA_DIR } from './support/market-data.ts';
import { freePort } from './support/private-postgres.ts';
import { getJson, type RunningService, startService, stopService } from './support/stack.ts';

/**
 * Docker cannot run here, so the deployment is checked piece by piece: each Node service runs
 * with the environment docker-compose.yaml gives it (service host names mapped to 127.0.0.1),
 * Debian's Prometheus scrapes them with the project's configuration, and every metric the
 * Grafana dashboard queries must be exported by some service.
 */
// Free ports handed out by the system (filled in before()), so parallel checkouts do not collide.
const PORTS = { '2_load_data': 0, '4_nn_estimator': 0, '1_shepherd': 0 };
let PROMETHEUS_PORT = 0;
const TOKEN = 'test-token-0123456789abcdef';

// What a user's .env would say for this run: csv source, two tickers, small fast models.
const DOTENV = {
  MARKET_DATA_SOURCE: 'csv',
  WATCHLIST: 'AAPL,MSFT',
  API_TOKEN: TOKEN,
  TRAIN_EPOCHS: '1',
  MODEL_WINDOW: '20',
  MODEL_UNITS: '8',
  TRAIN_MAX_BARS: '400',
  JOB_POLL_INTERVAL_MS: '250',
  LOG_LEVEL: 'info',
};

/** Map compose's network (service names, container paths) onto this machine. */
function localise(env: Record<string, string>, db: TestDatabase): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    let value = v;
    for (const [service, port] of Object.entries(PORTS)) {
      value = value.replace(new RegExp(`//${service}:\\d+`), `//127.0.0.1:${port}`);
    }
    out[k] = value;
  }
  out.DATABASE_URL = db.url; // same server, a database of the test's own
  if (out.MARKET_DATA_DIR === '/data/market') out.MARKET_DATA_DIR = MARKET_DATA_DIR; // the volume
  delete out.PORT;
  return out;
}

describe('deployment wiring without Docker', () => {
  let db: TestDatabase;
  const services: RunningService[] = [];
  let prometheus: ChildProcess | undefined;
  let promDir: string | undefined;

  before(async () => {
    for (const k of Object.keys(PORTS) as (keyof typeof PORTS)[]) PORTS[k] = await freePort();
    PROMETHEUS_PORT = await freePort();
    db = await createTestDatabase('stocks_deploy');
    const start = (name: keyof typeof PORTS, svc: 'load_data' | 'nn_estimator' | 'shepherd') =>
      startService(svc, PORTS[name], localise(composeEnvironment(name, DOTENV), db));
    services.push(await start('2_load_data', 'load_data'), await start('4_nn_estimator', 'nn_estimator'));
    services.push(await start('1_shepherd', 'shepherd'));
  });

  after(async () => {
    prometheus?.kill('SIGTERM');
    for (const s of services.reverse()) await stopService(s);
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    await db.drop();
  });

  test('the services wired as compose wires them run the product end to end, with the token', async () => {
    const shepherd = `http://127.0.0.1:${PORTS['1_shepherd']}`;
    let run: any;
    for (let i = 0; i < 600 && (!run || run.status === 'running'); i++) {
      await new Promise((r) => setTimeout(r, 300));
      run = (await getJson(`${shepherd}/runs`)).body.runs[0];
    }
    assert.equal(run?.status, 'succeeded', JSON.stringify(run));
    const predict = await getJson(`http://127.0.0.1:${PORTS['4_nn_estimator']}/predict?ticker=MSFT&horizon=3`);
    assert.equal(predict.status, 200);
    assert.equal(predict.body.forecast.length, 3);

    // Mutating endpoints need the token compose sets; reads stay open.
    const load = (headers: Record<string, string>) => getJson(`http://127.0.0.1:${PORTS['2_load_data']}/load`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ ticker: 'AAPL', start_date: '2023-12-01', end_date: '2023-12-29' }),
    });
    assert.equal((await load({})).status, 401);
    assert.equal((await load({ authorization: 'Bearer wrong-token-0123456789' })).status, 401);
    assert.equal((await load({ authorization: `Bearer ${TOKEN}` })).status, 200);
    assert.equal((await getJson(`${shepherd}/run`, { method: 'POST' })).status, 401);

    // The request id minted by the shepherd shows up in the other services' logs.
    const loader = services.find((s) => s.name === 'load_data')!;
    assert.match(loader.output(), /"reqId":"shepherd-run-\d+-AAPL"/);
    // Secrets never reach the logs.
    for (const s of services) assert.ok(!s.output().includes(TOKEN), `${s.name} logged the token`);
  });

  test("Debian's Prometheus scrapes every service with the project's configuration", { skip: !hasPrometheus() && !process.env.CI && 'prometheus not installed (apt-get install prometheus)' }, async () => {
    promDir = mkdtempSync(path.join(tmpdir(), 'prom-'));
    const config = parse(readFileSync(path.join(REPO_ROOT, 'ops/prometheus/prometheus.local.yml'), 'utf8'));
    config.global.scrape_interval = '1s';
    config.global.scrape_timeout = '1s';
    config.global.evaluation_interval = '1s';
    config.rule_files = [path.join(REPO_ROOT, 'ops/prometheus/alerts.yml')];
    for (const job of config.scrape_configs) {
      for (const sc of job.static_configs) {
        sc.targets = sc.targets.map((t: string) => {
          const port = t.split(':')[1];
          const mapped = { '8001': PORTS['2_load_data'], '8002': PORTS['4_nn_estimator'], '8003': PORTS['1_shepherd'], '9090': PROMETHEUS_PORT }[port!];
          return `127.0.0.1:${mapped}`;
        });
      }
    }
    const configFile = path.join(promDir, 'prometheus.yml');
    writeFileSync(configFile, stringify(config));
    prometheus = spawn('prometheus', [
      `--config.file=${configFile}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let promLog = '';
    prometheus.stderr!.on('data', (d) => { promLog = (promLog + d).slice(-5000); });
    const api = `http://127.0.0.1:${PROMETHEUS_PORT}/api/v1`;

    let targets: any[] = [];
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 500));
      try {
        targets = (await getJson(`${api}/targets`)).body.data.activeTargets;
        if (targets.length >= 4 && targets.every((t) => t.health === 'up')) break;
      } catch { /* starting */ }
    }
    assert.deepEqual(targets.map((t) => [t.labels.job, t.health]).sort(), [
      ['1_shepherd', 'up'], ['2_load_data', 'up'], ['4_nn_estimator', 'up'], ['prometheus', 'up'],
    ], promLog);
    const query = async (q: string) => (await getJson(`${api}/query?query=${encodeURIComponent(q)}`)).body.data.result;
    const services = new Set((await query('sum by (service) (http_requests_total)')).map((r: any) => r.metric.service));
    assert.deepEqual([...services].sort(), ['load_data', 'nn_estimator', 'shepherd']);
    assert.ok((await query('model_champion_version')).length >= 2, 'champion versions per ticker');
    assert.ok((await query('data_freshness_trading_days')).length >= 2, 'freshness per ticker');
    const rules = (await getJson(`${api}/rules`)).body.data.groups.flatMap((g: any) => g.rules);
    assert.ok(rules.length > 0 && rules.every((r: any) => r.health === 'ok'), 'alert rules evaluate');
  });

  test('every metric the Grafana dashboard queries is exported by some service', async () => {
    const exported = new Set<string>();
    for (const s of services) {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      for (const m of text.matchAll(/^# TYPE (\S+) (\w+)/gm)) {
        exported.add(m[1]!);
        if (m[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(m[1] + suffix);
      }
    }
    const dashboard = JSON.parse(readFileSync(path.join(REPO_ROOT, 'ops/grafana/dashboards/stocks.json'), 'utf8'));
    const queried = new Set<string>();
    const walk = (o: unknown): void => {
      if (Array.isArray(o)) o.forEach(walk);
      else if (o && typeof o === 'object') {
        for (const [k, v] of Object.entries(o)) {
          if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') {
            for (const name of metricNames(v)) queried.add(name);
          } else walk(v);
        }
      }
    };
    walk(dashboard);
    assert.ok(queried.size > 15, `found ${queried.size} metric names in the dashboard`);
    // The Yahoo circuit breaker exists only with the Yahoo source (these services read CSVs);
    // 2_load_data/test/app.test.ts checks the gauge on the Yahoo source.
    const onlyWithYahoo = new Set(['yahoo_circuit_open']);
    const missing = [...queried].filter((m) => !exported.has(m) && !onlyWithYahoo.has(m));
    assert.deepEqual(missing, [], `queried by the dashboard but exported by no service: ${missing.join(', ')}`);
  });

  test('arch.png was regenerated from arch.dot (npm run arch records the source hash)', () => {
    const dot = readFileSync(path.join(REPO_ROOT, 'arch.dot'));
    const recorded = readFileSync(path.join(REPO_ROOT, 'arch.dot.sha256'), 'utf8').trim();
    assert.equal(createHash('sha256').update(dot).digest('hex'), recorded, 'arch.dot changed: run `npm run arch` and commit arch.png');
    const png = readFileSync(path.join(REPO_ROOT, 'arch.png'));
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
  });
});

const PROMQL_WORDS = new Set([
  'sum', 'max', 'min', 'avg', 'count', 'by', 'without', 'rate', 'increase', 'irate', 'histogram_quantile', 'label_values',
  'and', 'or', 'unless', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'topk', 'bottomk', 'abs',
  'clamp_min', 'clamp_max', 'time', 'vector', 'scalar', 'delta', 'deriv', 'avg_over_time', 'max_over_time', 'min_over_time', 'changes', 'resets', 'absent', 'le',
]);

/** Metric names in a PromQL expression: identifiers not inside {…} or […], not functions or keywords. */
function metricNames(expr: string): string[] {
  const stripped = expr.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ').replace(/"[^"]*"/g, ' ').replace(/\$\w+/g, ' ');
  const withoutGrouping = stripped.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...withoutGrouping.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .map((m) => m[0])
    .filter((w) => !PROMQL_WORDS.has(w) && /_/.test(w));
}

function hasPrometheus(): boolean {
  return spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
}
