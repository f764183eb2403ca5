// The gRPC services (rooms, presence, auth) refuse to start on a bad --log-level or a missing or
// short --admin-token, with the same words, naming the program, and exit 2 before they touch
// NATS (libs/grpcutil check_service_flags). Runs the built binaries; no stack needed.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { repoDir } from "../lib/stack.mjs";

const buildDir = process.env.ROOMCAST_BUILD_DIR ? path.resolve(process.env.ROOMCAST_BUILD_DIR) : path.join(repoDir, "build");
const kToken = "t".repeat(32);

/** Runs `service` with only PATH (and `env`) in its environment; resolves {code, stderr}. */
function run(service, args, env = {}) {
    const bin = path.join(buildDir, "services", service, `roomcast_${service}`);
    return new Promise((resolve) => {
        // A NATS URL nobody listens on: a service that wrongly got past its checks fails fast
        // with exit 1 instead of waiting for a server.
        execFile(bin, [...args, "--nats-url", "nats://127.0.0.1:1"], { env: { PATH: process.env.PATH, ...env }, timeout: 10_000 },
            (err, _stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal) : 0, stderr }));
    });
}

for (const service of ["rooms", "presence", "auth"]) {
    test(`roomcast_${service} refuses a bad --log-level and a missing or short --admin-token (exit 2)`, async () => {
        const program = `roomcast_${service}`;
        const cases = [
            [["--log-level", "loud"], { ROOMCAST_ADMIN_TOKEN: kToken }, "--log-level must be debug, info, warn or error"],
            [[], {}, "--admin-token (ROOMCAST_ADMIN_TOKEN) is required"],
            [["--admin-token", "too-short"], {}, "--admin-token must be at least 32 bytes (it has 9): generate one, e.g. with `openssl rand -hex 32`"],
            [[], { ROOMCAST_ADMIN_TOKEN: "short", ROOMCAST_LOG_LEVEL: "warn" }, "--admin-token must be at least 32 bytes (it has 5): generate one, e.g. with `openssl rand -hex 32`"],
        ];
        for (const [args, env, message] of cases) {
            const r = await run(service, args, env);
            assert.equal(r.code, 2, `${program} ${args.join(" ")}: ${r.stderr}`);
            assert.equal(r.stderr, `${program}: ${message}\n`);
        }
    });
}
