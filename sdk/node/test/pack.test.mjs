// `npm pack` makes a self-contained package: prepack copies the proto files in, the packed
// loader finds them there (no repository around it), and postpack removes the copy again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('the packed package carries the proto files and loads them', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'roomcast-sdk-pack-'));
  try {
    run('npm', ['pack', '--silent', '--pack-destination', dir], pkg);
    assert.ok(!existsSync(path.join(pkg, 'proto')), 'postpack removed the copy');
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tgz, 'a tarball');
    run('tar', ['-xzf', path.join(dir, tgz), '-C', dir], pkg);
    const packed = path.join(dir, 'package');
    for (const f of ['roomcast/backend/v1/backend.proto', 'roomcast/bus/v1/bus.proto']) {
      assert.ok(existsSync(path.join(packed, 'proto', f)), f);
    }
    assert.ok(existsSync(path.join(packed, 'index.d.ts')));
    assert.ok(existsSync(path.join(packed, 'README.md')));
    symlinkSync(path.join(pkg, 'node_modules'), path.join(packed, 'node_modules'));
    const out = run(process.execPath, ['--input-type=module', '-e', `
      const p = await import(${JSON.stringify(path.join(packed, 'src', 'proto.mjs'))});
      const t = p.types();
      const bytes = p.encode(t.Emit, { user_id: 'u', event: 'e' });
      console.log(JSON.stringify({ dir: t.dir, user: p.decode(t.Emit, bytes).user_id }));
      const sdk = await import(${JSON.stringify(path.join(packed, 'src', 'index.mjs'))});
      console.log(typeof sdk.connect);
    `], dir);
    const [first, second] = out.trim().split('\n');
    assert.deepEqual(JSON.parse(first), { dir: path.join(packed, 'proto'), user: 'u' });
    assert.equal(second, 'function');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
