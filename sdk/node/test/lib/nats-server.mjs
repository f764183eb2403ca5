// A real nats-server per test file: JetStream on in a temp store dir, a random port on
// 127.0.0.1, and the closed bus's users: the SDK connects as the `backend` role with exactly the
// permissions scripts/up and the chart give it (k8s/helm/roomcast/files/nats-roles.json, rendered
// by scripts/lib/nats-auth.mjs) and a password (so URL credentials are exercised); the test's
// edge side connects as an unrestricted user. Killed by its PID.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { loadRoles, quote, renderAuthorization } from '../../../../scripts/lib/nats-auth.mjs';

export const USER = 'backend';
export const PASS = 'p@ss:w/rd secret';
export const EDGE_USER = 'test-edge';
export const EDGE_PASS = 'edge-secret';

export async function startNatsServer({ timeoutMs = 15000 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'roomcast-sdk-nats-'));
  const conf = path.join(dir, 'nats.conf');
  writeFileSync(
    conf,
    [
      'listen: "127.0.0.1:-1"',
      `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'js'))} }`,
      renderAuthorization(
        loadRoles().filter((r) => r.name === USER),
        () => quote(PASS),
        [{ user: EDGE_USER, password: quote(EDGE_PASS), comment: 'plays the edges and the operator' }],
      ),
      '',
    ].join('\n'),
  );
  const proc = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  // A test process that dies before its after() hook must not leave the server behind.
  const killOnExit = () => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server not ready in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    let port = null;
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (m) port = Number(m[1]);
      if (port !== null && /Server is ready/.test(log)) {
        clearTimeout(timer);
        resolve(port);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}):\n${log}`));
    });
  });
  const url = `nats://127.0.0.1:${port}`;
  return {
    port,
    url,
    // The URL form ROOMCAST_BACKEND_NATS_URL has (scripts/up): credentials inside.
    urlWithCredentials: `nats://${encodeURIComponent(USER)}:${encodeURIComponent(PASS)}@127.0.0.1:${port}`,
    auth: { servers: url, user: USER, pass: PASS },
    edgeAuth: { servers: url, user: EDGE_USER, pass: EDGE_PASS },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        process.kill(proc.pid, 'SIGTERM');
        const timer = setTimeout(() => process.kill(proc.pid, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
