// prepack: copies the repository's proto files the SDK loads into the package (proto/), so the
// tarball is self-contained; postpack (--clean) removes the copy, so that in the repository the
// loader always reads the one source of truth, ../../proto.
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(pkg, 'proto');
const files = ['roomcast/backend/v1/backend.proto', 'roomcast/bus/v1/bus.proto'];

rmSync(target, { recursive: true, force: true });
if (process.argv[2] !== '--clean') {
  const source = path.resolve(pkg, '../../proto');
  for (const f of files) {
    mkdirSync(path.dirname(path.join(target, f)), { recursive: true });
    cpSync(path.join(source, f), path.join(target, f));
  }
}
