// index.d.ts compiles, and a typed backend using it type-checks (with the wrong uses in
// test/types/example.ts rejected).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import test from 'node:test';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('tsc --noEmit on test/types/example.ts', () => {
  const tsc = path.join(pkg, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', path.join(pkg, 'test', 'types', 'tsconfig.json')], {
    cwd: pkg,
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
