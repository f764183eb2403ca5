// roomcastctl against the real services (PRODUCT.md §3): an operator drives a room end to end
// while real socket.io-client users are in it, and discovers the services through gRPC server
// reflection (what grpcurl does).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { connect as natsConnect } from "nats";
import { ClientPool, EventLog, withTimeout } from "../lib/clients.mjs";
import { Inbox, connectUser, joinRoom, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { kNatsAdminUser, repoDir } from "../lib/stack.mjs";

let stack;
let keyDir;
const clients = new ClientPool();

const buildDir = process.env.ROOMCAST_BUILD_DIR ? path.resolve(process.env.ROOMCAST_BUILD_DIR) : path.join(repoDir, "build");
const ctlPath = path.join(buildDir, "tools", "roomcastctl", "roomcastctl");

/**
 * Runs roomcastctl with the stack's addresses and token; resolves {code, stdout, stderr}.
 * `env` replaces that environment (for config-file and context tests).
 */
function ctl(args, { token = stack.adminToken, env: only = null } = {}) {
    const env = only ? { PATH: process.env.PATH, ...only } : {
        PATH: process.env.PATH,
        ROOMCAST_ROOMS_ADDR: stack.services.rooms.grpcAddress,
        ROOMCAST_PRESENCE_ADDR: stack.services.presence.grpcAddress,
        ROOMCAST_AUTH_ADDR: stack.services.auth.grpcAddress,
        ROOMCAST_TIMEOUT: "10s",
        // No config file of the machine's user leaks into these tests.
        ROOMCAST_CONFIG: path.join(os.tmpdir(), "roomcastctl-e2e-no-config.json"),
        ...(token ? { ROOMCAST_ADMIN_TOKEN: token } : {}),
    };
    return new Promise((resolve) => {
        execFile(ctlPath, args, { env, timeout: 20_000 }, (err, stdout, stderr) => {
            resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
        });
    });
}

async function ctlJson(args) {
    const r = await ctl([...args, "--json"]);
    assert.equal(r.code, 0, `roomcastctl ${args.join(" ")}: ${r.stderr}`);
    return JSON.parse(r.stdout);
}

before(async () => {
    // edge-3 is drained by the `edges list` test; the drain ends well within the 5 s the test
    // library waits after SIGTERM.
    // The auth service manages a key directory, so `keys rotate` has somewhere to write.
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "roomcastctl-keys-"));
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    fs.writeFileSync(path.join(keyDir, "2026-01-a.pem"), privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2", "edge-3"],
        services: ["rooms", "presence", "auth"],
        edgeArgs: ["--drain-spread", "3s", "--drain-timeout", "4s"],
        serviceArgs: { auth: ["--key-dir", keyDir] },
    });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
    if (keyDir) {
        fs.rmSync(keyDir, { recursive: true, force: true });
    }
});

test("roomcastctl drives a room end to end: create, members, publish, history, presence, kick, delete", async () => {
    const room = uniqueRoom("ops:");
    const created = await ctlJson(["rooms", "create", room, "--private", "--label", "team=blue"]);
    assert.equal(created.room.id, room);
    assert.equal(created.room.visibility, "VISIBILITY_PRIVATE");
    assert.equal((await ctl(["rooms", "create", room])).code, 4, "creating it twice fails (ALREADY_EXISTS: exit 4)");

    // A token from the auth service, a member added by the operator.
    const token = (await ctl(["token", "issue", "ops-user", "--name", "Ops User", "--ttl", "10m"])).stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal((await ctl(["rooms", "add", room, "ops-user", "--role", "member"])).code, 0);
    const members = await ctlJson(["rooms", "members", room]);
    assert.deepEqual(members.members.map((m) => m.user_id), ["ops-user"]);

    const user = await connectUser(clients, stack, stack.edges[1].url, { token });
    const log = new EventLog(user.socket);
    const inbox = new Inbox(user.socket, "notice");
    for (let i = 0; ; i++) {
        const ack = await new Promise((resolve) => user.socket.emit("join", { room }, resolve));
        if (ack.ok) {
            break;
        }
        assert.ok(i < 50, `member could not join: ${JSON.stringify(ack)}`);
        await new Promise((r) => setTimeout(r, 100));
    }

    const published = await ctlJson(["rooms", "publish", room, "notice", '{"text":"maintenance at noon"}']);
    const [got] = await inbox.waitFor(1, { what: "the operator's notice" });
    assert.deepEqual(got.data, { text: "maintenance at noon" });
    assert.equal(got.meta.from, "server");
    assert.equal(got.offset, published.offset);
    const history = await ctlJson(["rooms", "history", room, "--limit", "10"]);
    assert.deepEqual(history.messages.map((m) => m.offset), [published.offset]);

    const stats = await ctlJson(["presence", "stats", room]);
    assert.deepEqual([Number(stats.clients), Number(stats.users)], [1, 1]);
    const table = await ctl(["presence", "get", room]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /ops-user/);
    assert.match(table.stdout, /Ops User/);

    assert.equal((await ctl(["rooms", "kick", room, "ops-user", "--reason", "maintenance"])).code, 0);
    const [kicked] = await log.take("kicked", { timeout: 5_000 });
    assert.deepEqual(kicked, { room, reason: "maintenance" });

    assert.equal((await ctl(["rooms", "delete", room])).code, 0);
    assert.equal((await ctl(["rooms", "get", room])).code, 3, "the room is gone (NOT_FOUND: exit 3)");
    const list = await ctl(["rooms", "list", "--prefix", "ops:"]);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, new RegExp(room));
});

test("roomcastctl users emit publishes an Emit for the user on roomcast.emit; an invalid event exits 7 with the server's error", async () => {
    // Watches the bus as every edge does (delivery to sockets is the edges' part, tested there).
    const nc = await natsConnect({ ...stack.natsOptions(kNatsAdminUser), name: "roomcastctl-test" });
    try {
        const sub = nc.subscribe("roomcast.emit");
        await nc.flush();
        const firstEmit = (async () => {
            for await (const m of sub) {
                return Buffer.from(m.data);
            }
            return null;
        })();
        const sent = await ctl(["users", "emit", "emit-user", "ops-notice", '{"text":"you have mail"}']);
        assert.equal(sent.code, 0, sent.stderr);
        assert.equal(sent.stdout, "emitted ops-notice to user emit-user\n");
        const emit = await withTimeout(firstEmit, 5_000, "the Emit on roomcast.emit");
        // Protobuf strings are their bytes: the user, the event and the arguments as a JSON array.
        for (const part of ["emit-user", "ops-notice", '[{"text":"you have mail"}]']) {
            assert.ok(emit.includes(Buffer.from(part)), `the Emit carries ${part}: ${emit.toString("hex")}`);
        }
    } finally {
        await nc.close();
    }

    const reserved = await ctl(["users", "emit", "emit-user", "publish", "{}"]);
    assert.equal(reserved.code, 7, "INVALID_ARGUMENT: exit 7");
    assert.match(reserved.stderr, /PublishToUser: INVALID_ARGUMENT/);
    const badSocket = await ctl(["users", "emit", "--socket", "not a socket", "ops-notice"]);
    assert.equal(badSocket.code, 7);
    assert.match(badSocket.stderr, /INVALID_ARGUMENT/);
    const usage = await ctl(["users", "emit", "emit-user"]);
    assert.equal(usage.code, 2, "a missing event is a usage error; nothing is sent");
});

test("without the admin token every admin command fails with UNAUTHENTICATED (exit 5); token jwks needs none", async () => {
    const r = await ctl(["rooms", "list"], { token: null });
    assert.equal(r.code, 5);
    assert.match(r.stderr, /UNAUTHENTICATED/);
    assert.equal((await ctl(["presence", "stats", "x"], { token: null })).code, 5);
    assert.equal((await ctl(["token", "issue", "u"], { token: null })).code, 5);
    assert.equal((await ctl(["rooms", "list"], { token: "not-the-admin-token" })).code, 5, "a wrong token too");
    const jwks = await ctl(["token", "jwks"], { token: null });
    assert.equal(jwks.code, 0, jwks.stderr);
});

test("grpcurl-style discovery through server reflection lists and describes every service", async () => {
    const expected = {
        rooms: "roomcast.rooms.v1.RoomAdmin",
        presence: "roomcast.presence.v1.Presence",
        auth: "roomcast.auth.v1.Auth",
    };
    for (const [name, service] of Object.entries(expected)) {
        const address = stack.services[name].grpcAddress;
        const listed = await ctl(["grpc", "list", "--addr", address]);
        assert.equal(listed.code, 0, listed.stderr);
        const services = listed.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
        assert.ok(services.includes(service), `${name}: ${listed.stdout}`);
        assert.ok(services.includes("grpc.health.v1.Health"), `${name} serves health: ${listed.stdout}`);
        const described = await ctl(["grpc", "describe", service, "--addr", address]);
        assert.equal(described.code, 0, described.stderr);
        assert.match(described.stdout, /rpc /, `${name}: methods are described`);
    }
});

test("one --server or a named context reaches all three services; flag > variable > context; the token stays in its file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "roomcastctl-ctx-"));
    try {
        const config = path.join(dir, "roomcast", "config.json");
        const tokenFile = path.join(dir, "admin.token");
        fs.writeFileSync(tokenFile, `${stack.adminToken}\n`, { mode: 0o600 });
        const env = { ROOMCAST_CONFIG: config, ROOMCAST_TIMEOUT: "10s" };
        const { rooms, presence, auth } = stack.services;

        const added = await ctl(["context", "add", "e2e", "--rooms-addr", rooms.grpcAddress, "--presence-addr",
            presence.grpcAddress, "--auth-addr", auth.grpcAddress, "--admin-token-file", tokenFile, "--select"], { env });
        assert.equal(added.code, 0, added.stderr);
        assert.equal(fs.statSync(config).mode & 0o777, 0o600, "the config file is owner-only");
        assert.ok(!fs.readFileSync(config, "utf8").includes(stack.adminToken), "the token is not copied into the config");

        // Every service through the current context alone.
        const room = uniqueRoom("ctx:");
        const created = await ctl(["rooms", "create", room], { env });
        assert.equal(created.code, 0, created.stderr);
        const stats = await ctl(["presence", "stats", room, "--json"], { env });
        assert.equal(stats.code, 0, stats.stderr);
        const token = await ctl(["token", "issue", "ctx-user"], { env });
        assert.equal(token.code, 0, token.stderr);

        // --server HOST:PORT sends every service's calls to that one address (here: rooms).
        const viaServer = await ctl(["rooms", "get", room, "--server", rooms.grpcAddress, "--context", "e2e"], { env });
        assert.equal(viaServer.code, 0, viaServer.stderr);
        // A variable beats the context; a flag beats the variable; the specific flag beats --server.
        const dead = "127.0.0.1:1";
        const envServer = await ctl(["rooms", "get", room, "--timeout", "2s"], { env: { ...env, ROOMCAST_SERVER: dead } });
        assert.equal(envServer.code, 6, `ROOMCAST_SERVER over the context: UNAVAILABLE is exit 6: ${envServer.stderr}`);
        assert.match(envServer.stderr, /UNAVAILABLE/);
        const flagOverEnv = await ctl(["rooms", "get", room, "--server", rooms.grpcAddress], { env: { ...env, ROOMCAST_ROOMS_ADDR: dead } });
        assert.equal(flagOverEnv.code, 0, flagOverEnv.stderr);
        const specific = await ctl(["rooms", "get", room, "--server", dead, "--rooms-addr", rooms.grpcAddress], { env });
        assert.equal(specific.code, 0, specific.stderr);

        // A second context, switched to and away from; unknown names are usage errors (2) for
        // commands and not-found (3) for context commands.
        assert.equal((await ctl(["context", "add", "down", "--server", "127.0.0.1:1"], { env })).code, 0);
        assert.equal((await ctl(["context", "use", "down"], { env })).code, 0);
        assert.equal((await ctl(["rooms", "get", room, "--timeout", "2s"], { env })).code, 6, "the current context is used");
        assert.equal((await ctl(["rooms", "get", room, "--context", "e2e"], { env })).code, 0, "--context wins over the current one");
        assert.equal((await ctl(["rooms", "get", room], { env: { ...env, ROOMCAST_CONTEXT: "e2e" } })).code, 0);
        const listed = await ctl(["context", "list"], { env });
        assert.match(listed.stdout, /^\*\s+down\s+127\.0\.0\.1:1\s+no$/m);
        assert.equal((await ctl(["rooms", "get", room, "--context", "nope"], { env })).code, 2);
        assert.equal((await ctl(["context", "use", "nope"], { env })).code, 3);
        assert.equal((await ctl(["context", "remove", "down"], { env })).code, 0);
        const shown = await ctl(["context", "show", "e2e", "--json"], { env });
        assert.equal(shown.code, 0, shown.stderr);
        assert.equal(JSON.parse(shown.stdout).resolved.rooms, rooms.grpcAddress);

        // Without a token anywhere: exit 5.
        assert.equal((await ctl(["rooms", "get", room, "--rooms-addr", rooms.grpcAddress], { env: { ROOMCAST_CONFIG: path.join(dir, "none.json") } })).code, 5);
        assert.equal((await ctl(["rooms", "delete", room], { env: { ...env, ROOMCAST_CONTEXT: "e2e" } })).code, 0);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

test("completion bash|zsh prints a script bash accepts, listing every command group", async () => {
    const bash = await ctl(["completion", "bash"]);
    assert.equal(bash.code, 0, bash.stderr);
    for (const group of ["rooms", "users", "presence", "token", "grpc", "context", "completion"]) {
        assert.match(bash.stdout, new RegExp(`\\b${group}\\)`), group);
    }
    // Sourcing it defines the completion function and registers it.
    const out = execFileSync("bash", ["-c", `source /dev/stdin <<'EOF'\n${bash.stdout}\nEOF\ncomplete -p roomcastctl`], { encoding: "utf8" });
    assert.match(out, /_roomcastctl/);
    const zsh = await ctl(["completion", "zsh"]);
    assert.equal(zsh.code, 0, zsh.stderr);
    assert.match(zsh.stdout, /^#compdef roomcastctl/);
});

/** Polls `probe` (async, returns a value or null) every 250 ms until it returns non-null; bounded. */
async function until(probe, what, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await probe();
        if (last) {
            return last;
        }
        assert.ok(Date.now() < deadline, `${what} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 250));
    }
}

test("edges list shows each edge's connections, rooms, version and draining from its heartbeat; rooms list --live the rooms with sockets", async () => {
    const room = uniqueRoom("live:");
    assert.equal((await ctl(["rooms", "create", room])).code, 0);
    const user = await connectUser(clients, stack, stack.edges[0].url);
    await joinRoom(user.socket, room);
    const version = execFileSync(path.join(buildDir, "services", "edge", "roomcast_edge"), ["--version"], { encoding: "utf8" }).trim().split(/\s+/).pop();

    const edges = await until(async () => {
        const r = await ctl(["edges", "list", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const list = JSON.parse(r.stdout).edges;
        const one = list.find((e) => e.id === "edge-1");
        return one && one.connections >= 1 && one.rooms >= 1 ? list : null;
    }, "edge-1's heartbeat counting the client and its room");
    assert.deepEqual(edges.map((e) => e.id), ["edge-1", "edge-2", "edge-3"], "ascending by id");
    for (const e of edges) {
        assert.equal(e.alive, true, e.id);
        assert.equal(e.draining, false, e.id);
        assert.equal(e.version, version, `${e.id} reports its build`);
    }
    const table = await ctl(["edges", "list"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+CONNECTIONS\s+ROOMS\s+VERSION\s+DRAINING\s+ALIVE\s+LAST SEEN$/m);
    assert.match(table.stdout, /^edge-1\s+\d+\s+\d+\s+\S+\s+no\s+yes\s+\d{4}-\d\d-\d\dT/m);
    const paged = await ctl(["edges", "list", "--page-size", "1"]);
    assert.equal(paged.code, 0, paged.stderr);
    assert.match(paged.stderr, /more results: --page-token \S+/);
    assert.equal((await ctl(["edges", "list", "--page-size", "5000"])).code, 7, "page_size out of range: INVALID_ARGUMENT, exit 7");

    const live = await until(async () => {
        const r = await ctl(["rooms", "list", "--live", "--prefix", "live:", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const found = JSON.parse(r.stdout).rooms.find((x) => x.room_id === room);
        return found ?? null;
    }, "the joined room in rooms list --live");
    assert.deepEqual([Number(live.clients), Number(live.users)], [1, 1]);
    const liveTable = await ctl(["rooms", "list", "--live", "--prefix", room]);
    assert.match(liveTable.stdout, new RegExp(`^${room}\\s+1\\s+1$`, "m"));
    assert.equal((await ctl(["rooms", "list", "--live"], { token: null })).code, 5);

    // The user leaves: the room is no longer live.
    user.socket.disconnect();
    await until(async () => {
        const r = await ctl(["rooms", "list", "--live", "--prefix", room, "--json"]);
        return r.code === 0 && JSON.parse(r.stdout).rooms.length === 0;
    }, "the room gone from rooms list --live after its only socket left");

    // SIGTERM to edge-3 with a client on it: the drain shows as draining (the edge writes its
    // heartbeat when the drain starts; the key outlives the edge).
    const stay = await connectUser(clients, stack, stack.edges[2].url, { reconnection: false });
    const exited = stack.edges[2].stop();
    try {
        await until(async () => {
            const r = await ctl(["edges", "list", "--json"]);
            const e3 = r.code === 0 ? JSON.parse(r.stdout).edges.find((e) => e.id === "edge-3") : null;
            return e3?.draining ? e3 : null;
        }, "edge-3 reported as draining", 5_000);
    } finally {
        stay.socket.close();
        await exited;
    }
});

test("keys list and keys rotate: a new key in the auth service's key directory signs once published, edges accept its tokens, old tokens stay valid", async () => {
    const kidOf = (token) => JSON.parse(Buffer.from(token.split(".")[0], "base64url")).kid;
    const keys = async () => {
        const r = await ctl(["keys", "list", "--json"]);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout).keys.filter((k) => k.kid !== "");
    };
    await until(async () => {
        const [first] = await keys();
        return first?.kid === "2026-01-a" && first.signing && first.published;
    }, "the initial key signing and published");
    const oldToken = (await ctl(["token", "issue", "before-rotation"])).stdout.trim();
    assert.equal(kidOf(oldToken), "2026-01-a");

    const rotated = await ctl(["keys", "rotate"]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const kid = rotated.stdout.match(/^key (\S+) \(ES256\) written/)?.[1];
    assert.ok(kid, rotated.stdout);
    assert.equal(fs.statSync(path.join(keyDir, `${kid}.pem`)).mode & 0o777, 0o600, "the private key file is owner-only");
    // The service asks for a publication at once: the new key signs within seconds, not at the
    // next 10 s reload.
    await until(async () => {
        const list = await keys();
        const fresh = list.find((k) => k.kid === kid);
        return fresh?.signing && fresh.published && list.find((k) => k.kid === "2026-01-a")?.signing === false;
    }, "the rotated key signing", 8_000);
    const table = await ctl(["keys", "list"]);
    assert.match(table.stdout, new RegExp(`^${kid}\\s+ES256\\s+yes\\s+no\\s+yes$`, "m"));
    assert.match(table.stdout, /^2026-01-a\s+ES256\s+no\s+no\s+yes$/m);

    const newToken = (await ctl(["token", "issue", "after-rotation"])).stdout.trim();
    assert.equal(kidOf(newToken), kid);
    // The edges verify both with what the auth service published.
    await connectUser(clients, stack, stack.edges[0].url, { token: newToken });
    await connectUser(clients, stack, stack.edges[1].url, { token: oldToken });

    assert.equal((await ctl(["keys", "rotate", "--kid", "2000-01"])).code, 4, "a kid that sorts first: FAILED_PRECONDITION, exit 4");
    assert.equal((await ctl(["keys", "rotate", "--kid", "../x"])).code, 7, "an invalid kid: INVALID_ARGUMENT, exit 7");
    assert.equal((await ctl(["keys", "rotate", "--algorithm", "HS256"])).code, 2, "checked before sending: usage, exit 2");
    assert.equal((await ctl(["keys", "list"], { token: null })).code, 5);
    assert.equal((await ctl(["keys", "rotate"], { token: null })).code, 5);
});
