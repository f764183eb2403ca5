// The local stack (scripts/up --detach, scripts/down) as a developer runs it, beside the system
// services its own installation brings: on a Debian host with systemd, installing nats-server,
// redis-server and prometheus starts them on 4222 (monitoring 8222), 6379 and 9090. Here those
// ports are held by this test (or already by such a service), and scripts/up must still start
// everything with its default NATS ports; with NATS moved onto a held port it must refuse, naming
// the port and its variable, and start nothing.
//
// The other ports (NGINX, edges, gRPC, admin) are moved to free ones so that a developer's own
// stack on the defaults does not collide with this test; NATS keeps its default (14222, 18222),
// which is what this test is about: if a stack already holds it, the test says so and fails.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { freePorts, httpStatus } from "../lib/stack.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const BUILD_DIR = process.env.ROOMCAST_BUILD_DIR ?? path.join(ROOT, "build");
const kSystemPorts = [4222, 8222, 6379, 9090];
const kStackNatsPorts = [14222, 18222];

const held = [];
let stateDir;
let env;

/** Runs a script to completion (bounded); resolves {code, output}. */
function run(script, args, { timeout }) {
    return new Promise((resolve, reject) => {
        const child = spawn(path.join(ROOT, "scripts", script), args, {
            cwd: ROOT,
            env,
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
        });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        const timer = setTimeout(() => {
            try {
                process.kill(-child.pid, "SIGKILL");
            } catch {}
            reject(new Error(`scripts/${script} ${args.join(" ")} did not finish within ${timeout} ms:\n${output}`));
        }, timeout);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("exit", (code) => {
            clearTimeout(timer);
            resolve({ code, output });
        });
    });
}

/** Whether `pid` runs (a zombie waiting for init to reap it has exited: it is not running). */
function running(pid) {
    let stat;
    try {
        stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
        return false;
    }
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
}

function listening(port) {
    return new Promise((resolve) => {
        const s = net.connect({ port, host: "127.0.0.1" });
        s.setTimeout(1_000, () => (s.destroy(), resolve(false)));
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
    });
}

/** Holds `port` on 127.0.0.1 unless something (a system service) already listens there. */
async function hold(port) {
    const server = net.createServer((c) => c.destroy());
    const ok = await new Promise((resolve) => {
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) {
        held.push(server);
    }
    assert.ok(await listening(port), `port ${port} must be listening for this test`);
}

before(async () => {
    for (const port of kStackNatsPorts) {
        assert.equal(await listening(port), false,
            `port ${port} (the local stack's default NATS port) is in use: stop the stack holding it ` +
            "(scripts/down) before running this test");
    }
    for (const port of kSystemPorts) {
        await hold(port);
    }
    stateDir = mkdtempSync(path.join(os.tmpdir(), "roomcast-local-stack-"));
    const [http, e1, e1a, e2, e2a, rooms, roomsA, presence, presenceA, auth, authA] = await freePorts(11);
    env = { ...process.env };
    for (const name of Object.keys(env)) {
        if (name.startsWith("ROOMCAST_")) {
            delete env[name];  // the developer's own settings must not move this stack
        }
    }
    Object.assign(env, {
        ROOMCAST_STATE_DIR: stateDir,
        ROOMCAST_BUILD_DIR: BUILD_DIR,
        ROOMCAST_HTTP_PORT: String(http),
        ROOMCAST_EDGE1_PORT: String(e1),
        ROOMCAST_EDGE1_ADMIN_PORT: String(e1a),
        ROOMCAST_EDGE2_PORT: String(e2),
        ROOMCAST_EDGE2_ADMIN_PORT: String(e2a),
        ROOMCAST_ROOMS_PORT: String(rooms),
        ROOMCAST_ROOMS_ADMIN_PORT: String(roomsA),
        ROOMCAST_PRESENCE_PORT: String(presence),
        ROOMCAST_PRESENCE_ADMIN_PORT: String(presenceA),
        ROOMCAST_AUTH_PORT: String(auth),
        ROOMCAST_AUTH_ADMIN_PORT: String(authA),
    });
});

after(async () => {
    if (stateDir) {
        if (existsSync(path.join(stateDir, "pids"))) {
            await run("down", [], { timeout: 120_000 }).catch(() => {});
        }
        rmSync(stateDir, { recursive: true, force: true });
    }
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
});

test("scripts/up refuses a NATS port that a system service holds, naming it, and starts nothing", async () => {
    const saved = env;
    env = { ...saved, ROOMCAST_NATS_PORT: "4222" };
    try {
        const { code, output } = await run("up", ["--detach", "--no-build"], { timeout: 240_000 });
        assert.notEqual(code, 0, `scripts/up must fail:\n${output}`);
        assert.match(output, /port\(s\) already in use: 4222 \(ROOMCAST_NATS_PORT\)/);
        assert.equal(existsSync(path.join(stateDir, "pids")), false, "nothing was started");
    } finally {
        env = saved;
    }
});

test("scripts/up --detach starts the whole stack beside listeners on 4222, 8222, 6379 and 9090; scripts/down stops it", async () => {
    const up = await run("up", ["--detach", "--no-build"], { timeout: 300_000 });
    assert.equal(up.code, 0, `scripts/up --detach failed:\n${up.output}`);

    assert.equal(await httpStatus(`http://127.0.0.1:${env.ROOMCAST_HTTP_PORT}/roomcast/nginx/healthz`), 200);
    // An Engine.IO handshake through NGINX reaches an edge.
    const hs = await fetch(`http://127.0.0.1:${env.ROOMCAST_HTTP_PORT}/socket.io/?EIO=4&transport=polling`,
        { signal: AbortSignal.timeout(10_000) });
    assert.equal(hs.status, 200);
    assert.match(await hs.text(), /^0\{"sid":"edge-[12]\./);
    // The stack's NATS is on its own port, and dev.env tells backends so.
    const devEnv = readFileSync(path.join(stateDir, "dev.env"), "utf8");
    assert.match(devEnv, /ROOMCAST_BACKEND_NATS_URL=["']?nats:\/\/backend:[^@\s]+@127\.0\.0\.1:14222/);
    assert.ok(await listening(14222), "the stack's nats-server listens on 14222");

    const pids = readFileSync(path.join(stateDir, "pids"), "utf8").trim().split("\n")
        .map((line) => Number(line.split(/\s+/)[2]));
    assert.ok(pids.length >= 7, `scripts/up recorded its processes: ${pids}`);
    const down = await run("down", [], { timeout: 120_000 });
    assert.equal(down.code, 0, `scripts/down failed:\n${down.output}`);
    for (const pid of pids) {
        assert.equal(running(pid), false, `process ${pid} is gone after scripts/down`);
    }
    // The held ports were never disturbed.
    for (const port of kSystemPorts) {
        assert.ok(await listening(port), `port ${port} still held`);
    }
});
