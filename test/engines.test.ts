import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { REPO_ROOT } from './support/compose.ts';

/**
 * `npm ci` on every supported Node version installs without an engine warning: the lowest
 * release of each supported major (the root package.json's engines) satisfies every locked
 * package's engines.node. (cookie@2, pulled in by fastify's light-my-request, wanted Node 22.)
 */
test('every locked package accepts the Node versions package.json supports', () => {
  const root = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8'));
  const supported: string = root.engines.node;
  const lowest = semver.minVersion(supported)!.version;
  // The lowest release of the range and the first of each later LTS line it allows (the images run 22).
  const versions = [lowest, ...['22.0.0', '24.0.0'].filter((v) => semver.satisfies(v, supported))];
  assert.ok(versions.includes('22.0.0'), `engines ${supported} must include Node 22 (the images)`);
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
