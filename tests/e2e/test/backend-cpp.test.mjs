// The C++ backend library through real edges (issue 13): roomcast_test_backend
// (libs/backend/examples/test_backend.cpp, built on roomcast::backend) answers custom events,
// join and publish hooks and prints lifecycle events, while socket.io-client users on two edges
// drive it. Real nats-server with the closed-bus roles: the backend runs as role "backend".
//
// Needs the edge side of issue 13 (custom events, hooks, lifecycle, emit delivery) and its
// flags --hook-join-prefixes / --hook-publish-prefixes.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { after, afterEach, before, test } from "node:test";
import { ClientPool, EventLog, emitWithAck, eventually, expectNoEvent, withTimeout } from "../lib/clients.mjs";
import { Inbox, assertError, connectUser, joinRoom, publishOk, request, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { repoDir } from "../lib/stack.mjs";

const buildDir = process.env.ROOMCAST_BUILD_DIR ? path.resolve(process.env.ROOMCAST_BUILD_DIR) : path.join(repoDir, "build");
const backendPath = path.join(buildDir, "libs", "backend", "roomcast_test_backend");

let stack;
const clients = new ClientPool();
const backends = [];

// Killed on any exit, so a failing test never leaks a backend.
process.on("exit", () => {
    for (const b of backends) {
        if (b.exitCode === null) {
            b.child.kill("SIGKILL");
        }
    }
});

/** Starts roomcast_test_backend as role "backend"; resolves once it printed "ready". */
async function startBackend({ queue = "roomcast-backend" } = {}) {
    const { user, pass } = stack.natsCredentials("backend");
    const url = new URL(stack.natsUrl);
    url.username = encodeURIComponent(user);
    url.password = encodeURIComponent(pass);
    const child = spawn(backendPath, ["--queue", queue], {
        env: { PATH: process.env.PATH, ROOMCAST_BACKEND_NATS_URL: url.toString() },
        stdio: ["ignore", "pipe", "pipe"],
    });
    const backend = { child, lines: [], stderr: [], exitCode: null, waiters: [] };
    backends.push(backend);
    child.on("exit", (code, signal) => {
        backend.exitCode = code ?? signal;
    });
    readline.createInterface({ input: child.stderr }).on("line", (l) => backend.stderr.push(l));
    const ready = new Promise((resolve, reject) => {
        child.on("exit", () => reject(new Error(`backend exited before ready: ${backend.stderr.join("\n")}`)));
        readline.createInterface({ input: child.stdout }).on("line", (line) => {
            backend.lines.push(line);
            if (line === "ready") {
                resolve();
            }
        });
    });
    await withTimeout(ready, 10_000, "roomcast_test_backend ready");
    return backend;
}

/** Lifecycle lines a backend printed, parsed. */
function lifecycle(backend) {
    return backend.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

async function stopBackend(backend) {
    if (backend.exitCode !== null) {
        return;
    }
    const exited = new Promise((resolve) => backend.child.once("exit", resolve));
    backend.child.kill("SIGTERM");
    await withTimeout(exited, 10_000, "backend exit on SIGTERM");
}

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2"],
        edgeArgs: ["--hook-join-prefixes", "cpp-private:", "--hook-publish-prefixes", "cpp-mod:"],
    });
    await startBackend();
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    for (const b of backends) {
        await stopBackend(b);
    }
    await stack?.stop();
});

test("custom events: results, errors, binary arguments and the caller's context", async () => {
    const alice = await connectUser(clients, stack, stack.edges[0].url, { user: "cpp-alice" });
    assert.deepEqual(await request(alice.socket, "echo", { a: [1, "x"] }), { ok: true, result: [{ a: [1, "x"] }] });
    assert.deepEqual(await emitWithAck(alice.socket, "add", [1, 2, 3.5]), [{ ok: true, result: 6.5 }]);
    assertError(await request(alice.socket, "add", "one"), "bad_request", "add with a string");

    const bytes = Buffer.from([0, 1, 2, 255]);
    const [binary] = await emitWithAck(alice.socket, "echo", [{ blob: bytes }]);
    assert.equal(binary.ok, true);
    assert.ok(Buffer.from(binary.result[0].blob).equals(bytes), "binary comes back as binary");

    const [who] = await emitWithAck(alice.socket, "whoami", []);
    assert.equal(who.ok, true, JSON.stringify(who));
    assert.equal(who.result.user.id, "cpp-alice");
    assert.equal(who.result.socket, alice.socket.id);
    assert.equal(who.result.edge, "edge-1");
    assert.equal(who.result.nsp, "/");

    assert.deepEqual(await emitWithAck(alice.socket, "slow", [200], { timeout: 10_000 }), [{ ok: true, result: { slept: 200 } }]);
    assertError(await request(alice.socket, "no-such-event", {}), "unavailable", "an event nobody handles");
});

test("join hook: cpp-private: rooms admit ok-* users only; other rooms are not asked", async () => {
    const ok = await connectUser(clients, stack, stack.edges[0].url, { user: "ok-carol" });
    const no = await connectUser(clients, stack, stack.edges[1].url, { user: "dave" });
    const room = uniqueRoom("cpp-private:");
    await joinRoom(ok.socket, room);
    assertError(await request(no.socket, "join", { room }), "forbidden", "dave joining a cpp-private room");
    await joinRoom(no.socket, uniqueRoom("cpp-open"));
});

test("publish hook: darn is replaced before it is stored, forbidden-word is refused", async () => {
    const room = uniqueRoom("cpp-mod:");
    const writer = await connectUser(clients, stack, stack.edges[0].url, { user: "cpp-writer" });
    const reader = await connectUser(clients, stack, stack.edges[1].url, { user: "cpp-reader" });
    await joinRoom(writer.socket, room);
    await joinRoom(reader.socket, room);
    const inbox = new Inbox(reader.socket, "message");
    await publishOk(writer.socket, room, "message", { text: "darn, darn it", n: 1 });
    const [got] = await inbox.waitFor(1, { what: "the moderated message" });
    assert.deepEqual(got.data, { text: "****, **** it", n: 1 });
    assertError(await request(writer.socket, "publish", { room, event: "message", data: { text: "a forbidden-word" } }),
        "forbidden", "a publish with the forbidden word");
    const history = await request(reader.socket, "history", { room });
    assert.equal(history.ok, true, JSON.stringify(history));
    assert.deepEqual(history.messages.map((m) => m.data), [{ text: "****, **** it", n: 1 }]);
});

test("notify emits to every socket of the calling user on both edges and to nobody else", async () => {
    const a1 = await connectUser(clients, stack, stack.edges[0].url, { user: "cpp-notified" });
    const a2 = await connectUser(clients, stack, stack.edges[1].url, { user: "cpp-notified" });
    const other = await connectUser(clients, stack, stack.edges[1].url, { user: "cpp-bystander" });
    const logs = [new EventLog(a1.socket), new EventLog(a2.socket)];
    assert.deepEqual(await request(a1.socket, "notify", { text: "you have mail" }), { ok: true, result: { sent: true } });
    for (const log of logs) {
        const [notice] = await log.take("notice", { timeout: 5_000 });
        assert.deepEqual(notice, { text: "you have mail" });
    }
    await expectNoEvent(other.socket, "notice", 500, "a notice for another user");
});

test("emit_ephemeral reaches the room's members on both edges as (data, {room, from}), unstored", async () => {
    const room = uniqueRoom("cpp-eph");
    const caller = await connectUser(clients, stack, stack.edges[0].url, { user: "cpp-eph-caller" });
    const a = await connectUser(clients, stack, stack.edges[0].url, { user: "cpp-eph-a" });
    const b = await connectUser(clients, stack, stack.edges[1].url, { user: "cpp-eph-b" });
    const outsider = await connectUser(clients, stack, stack.edges[1].url, { user: "cpp-eph-out" });
    await joinRoom(a.socket, room);
    await joinRoom(b.socket, room);
    const inboxes = [new Inbox(a.socket, "cursor"), new Inbox(b.socket, "cursor")];
    assert.deepEqual(await request(caller.socket, "cursor", { room, data: { x: 3, y: 4 } }), { ok: true, result: { sent: true } });
    for (const [i, inbox] of inboxes.entries()) {
        const [got] = await inbox.waitFor(1, { what: `the ephemeral cursor on edge ${i + 1}` });
        assert.equal(got.args.length, 2, `(data, meta) only: ${JSON.stringify(got.args)}`);
        assert.deepEqual(got.data, { x: 3, y: 4 });
        assert.deepEqual(got.meta, { room, from: "server" });
    }
    await expectNoEvent(outsider.socket, "cursor", 500, "a cursor for a room the socket is not in");
    const history = await request(a.socket, "history", { room });
    assert.equal(history.ok, true, JSON.stringify(history));
    assert.deepEqual(history.messages, [], "an ephemeral event is not in history");
    assertError(await request(caller.socket, "cursor", { room: "not a room", data: 1 }), "bad_request", "an invalid room id");
});

test("lifecycle events reach the backend once each: connect, join, leave, disconnect", async () => {
    const backend = backends[0];
    const user = await connectUser(clients, stack, stack.edges[0].url, { user: "cpp-life" });
    const socketId = user.socket.id;
    const room = uniqueRoom("cpp-life");
    await joinRoom(user.socket, room);
    assert.equal((await request(user.socket, "leave", { room })).ok, true);
    user.socket.disconnect();
    const mine = () => lifecycle(backend).filter((e) => e.socket === socketId);
    await eventually(() => assert.ok(mine().some((e) => e.lifecycle === "disconnect")), { timeout: 5_000, what: "the disconnect event" });
    const kinds = mine().map((e) => e.lifecycle);
    assert.deepEqual(kinds, ["connect", "join", "leave", "disconnect"]);
    for (const e of mine()) {
        assert.equal(e.user, "cpp-life");
        assert.equal(e.edge, "edge-1");
    }
    assert.equal(mine()[1].room, room);
});

test("a second replica in the same queue group shares the requests; with both gone clients get unavailable", async () => {
    const second = await startBackend();
    const user = await connectUser(clients, stack, stack.edges[0].url, { user: "cpp-replicas" });
    const replicas = new Set();
    for (let i = 0; i < 20; i++) {
        const [who] = await emitWithAck(user.socket, "whoami", []);
        assert.equal(who.ok, true, JSON.stringify(who));
        replicas.add(who.result.replica);
    }
    // NATS picks a queue member at random: all 20 on one of two replicas has odds of 2^-19.
    assert.equal(replicas.size, 2, `replicas that answered: ${[...replicas].join(", ")}`);
    await stopBackend(second);
    await stopBackend(backends[0]);
    assertError(await request(user.socket, "echo", 1, { timeout: 10_000 }), "unavailable", "echo with no backend");
    await startBackend();
    assert.deepEqual(await request(user.socket, "echo", 2), { ok: true, result: [2] });
});
