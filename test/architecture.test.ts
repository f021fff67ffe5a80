// The import rules (.dependency-cruiser.cjs) hold for the project, and they do catch what they
// forbid: a circle, a service importing another service's source, Node plumbing in model/.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import { CHANNELS } from '@stocks/db';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = createRequire(import.meta.url)(path.join(REPO_ROOT, '.dependency-cruiser.cjs')) as IConfiguration;

async function violations(baseDir: string, roots: string[]): Promise<Array<{ rule: string; from: string; to: string }>> {
  const { output } = await cruise(roots, { ...config.options, baseDir, validate: true, ruleSet: { forbidden: config.forbidden } });
  const result = output as ICruiseResult;
  return result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}

describe('import rules', () => {
  const fixture = mkdtempSync(path.join(tmpdir(), 'import-rules-'));
  after(() => rmSync(fixture, { recursive: true, force: true }));

  test('the project breaks none of them', async () => {
    const found = await violations(REPO_ROOT, ['common/src', '3_db/src', '2_load_data/src', '4_nn_estimator/src', '1_shepherd/src']);
    assert.deepEqual(found, []);
  });

  test('they catch a circle, a service importing another service, a relative path into common and Node in model/', async () => {
    const write = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(fixture, file)), { recursive: true });
      writeFileSync(path.join(fixture, file), text);
    };
    write('4_nn_estimator/src/a.ts', "import { b } from './b.ts';\nexport const a = () => b;\n");
    write('4_nn_estimator/src/b.ts', "import { a } from './a.ts';\nexport const b = () => a;\n");
    write('4_nn_estimator/src/uses-loader.ts', "import { csv } from '../../2_load_data/src/csv.ts';\nexport const x = csv;\n");
    write('2_load_data/src/csv.ts', 'export const csv = 1;\n');
    write('2_load_data/src/reaches-in.ts', "import { bars } from '../../common/src/bars.ts';\nexport const y = bars;\n");
    write('common/src/bars.ts', 'export const bars = 2;\n');
    write('4_nn_estimator/src/model/impure.ts', "import { readFileSync } from 'node:fs';\nexport const z = readFileSync;\n");
    const found = await violations(fixture, ['4_nn_estimator/src', '2_load_data/src', 'common/src']);
    const rules = new Set(found.map((v) => v.rule));
    for (const rule of ['no-circular', 'no-service-imports-another-service', 'no-relative-path-into-another-workspace', 'model-is-pure']) {
      assert.ok(rules.has(rule), `${rule} not reported: ${JSON.stringify(found)}`);
    }
    assert.ok(found.some((v) => v.rule === 'no-service-imports-another-service' && v.from === '4_nn_estimator/src/uses-loader.ts'));
  });
});

test('arch.dot shows every table the migrations create and every channel the database announces on', () => {
  const dot = readFileSync(path.join(REPO_ROOT, 'arch.dot'), 'utf8').replaceAll('\\n', ' '); // label line breaks
  const migrations = path.join(REPO_ROOT, '3_db', 'migrations');
  const tables = readdirSync(migrations)
    .flatMap((file) => [...readFileSync(path.join(migrations, file), 'utf8').matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)].map((m) => m[1]!));
  assert.ok(tables.includes('served_forecasts') && tables.includes('prices'), `tables read: ${tables.join(', ')}`);
  for (const name of [...tables, ...Object.values(CHANNELS)]) assert.match(dot, new RegExp(`\\b${name}\\b`), `arch.dot does not show ${name}`);
});
