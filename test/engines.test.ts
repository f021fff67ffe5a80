import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { REPO_ROOT } from './support/compose.ts';

/**
 * `npm ci` on every supported Node version installs without an engine warning: the first release
 * of each supported line (the root package.json's engines) satisfies every locked package's
 * engines.node. (cookie@2, pulled in by fastify's light-my-request, wanted Node 22.)
 */
test('every locked package accepts the Node versions package.json supports', () => {
  const root = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8'));
  const supported: string = root.engines.node;
  // The first release of each LTS line the range allows (the machines run 20, the images 22).
  const versions = [20, 22, 24]
    .map((major) => Array.from({ length: 40 }, (_, minor) => `${major}.${minor}.0`).find((v) => semver.satisfies(v, supported)))
    .filter((v): v is string => v !== undefined);
  assert.ok(versions.some((v) => v.startsWith('20.')) && versions.some((v) => v.startsWith('22.')), `engines ${supported} must allow Node 20 and 22`);
  const refused: string[] = [];
  for (const [where, pkg] of Object.entries<{ engines?: { node?: string }; version?: string }>(lock.packages)) {
    const wants = pkg.engines?.node;
    if (!where || !wants) continue;
    for (const v of versions) {
      if (!semver.satisfies(v, wants)) refused.push(`${where.replace(/^.*node_modules\//, '')}@${pkg.version} wants node ${wants}, not ${v}`);
    }
  }
  assert.deepEqual(refused, []);
});
