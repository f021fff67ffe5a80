// The shepherd's client types are generated from the loader's and the estimator's OpenAPI
// documents; this fails when a service's API changed and the generated files were not refreshed.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { CLIENTS_DIR, generateClientTypes } from '../scripts/openapi-clients.ts';

test("the shepherd's client types match the OpenAPI the services publish today", async () => {
  const generated = await generateClientTypes();
  assert.deepEqual(Object.keys(generated).sort(), ['load-data.openapi.ts', 'nn-estimator.openapi.ts']);
  for (const [file, text] of Object.entries(generated)) {
    const committed = await readFile(path.join(CLIENTS_DIR, file), 'utf8');
    assert.ok(committed === text, `1_shepherd/src/clients/${file} is out of date with the service's OpenAPI: run npm run openapi:clients`);
  }
});
