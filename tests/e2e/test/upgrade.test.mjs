// Default transports: the client opens over HTTP long-polling and upgrades to WebSocket.

import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, afterEach, before, test } from "node:test";
import { ClientPool, emitWithAck, nextEvent, sleep, waitConnected } from "../lib/clients.mjs";
import { startServer } from "../lib/servers.mjs";

let server;
const clients = new ClientPool();

before(async () => {
    server = await startServer();
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await server?.stop();
});

/**
 * An http.Agent for the client's WebSocket transport that holds the TCP connect until `release()`.
 * It keeps the session on polling for as long as the test needs, so "messages flow before the
 * upgrade" is checked deterministically instead of racing a loopback upgrade that can finish
 * before the CONNECT reply.
 */
function gatedAgent() {
    let release;
    const gate = new Promise((resolve) => {
        release = resolve;
    });
    const agent = new http.Agent();
    let attempts = 0;
    agent.createConnection = (options, callback) => {
        attempts += 1;
        gate.then(() => callback(null, net.createConnection(options)));
        return undefined;
    };
    return { agent, release, attempts: () => attempts };
}

test("polling → websocket upgrade; messages flow before and after", async () => {
    const gated = gatedAgent();
    const { socket, log } = clients.socket(server.url, {
        forceNew: true,
        auth: { via: "upgrade" },
        transportOptions: { websocket: { agent: gated.agent } },
    });
    try {
        // Buffered before connect, flushed once the namespace is joined.
        const earlyAck = emitWithAck(socket, "message-with-ack", ["before upgrade", Buffer.from([1, 2, 3])]);
        earlyAck.catch(() => {}); // awaited below; avoid an unhandled rejection if we fail first
        socket.emit("message", "early", { n: 1 });
        socket.on("ack-request", (...args) => args.pop()("pong", ...args));

        await nextEvent(socket.io, "open", { what: "engine open" });
        const engine = socket.io.engine;
        assert.equal(engine.transport.name, "polling", "a default client must open over polling");
        const upgraded = nextEvent(engine, "upgrade", { timeout: 10_000, what: "engine upgrade to websocket" });
        upgraded.catch(() => {});

        await waitConnected(socket);
        assert.deepEqual(await log.take("auth"), [{ via: "upgrade" }]);
        assert.deepEqual(await earlyAck, ["before upgrade", Buffer.from([1, 2, 3])]);
        assert.deepEqual(await log.take("message-back"), ["early", { n: 1 }]);
        socket.emit("server-ack", "before");
        assert.deepEqual(await log.take("ack-request"), ["before"]);
        assert.deepEqual(await log.take("ack-result"), [{ ok: true, reply: ["pong", "before"] }]);
        assert.equal(engine.transport.name, "polling", "all of the above must have used polling");
        assert.ok(gated.attempts() >= 1, "the client never tried to open the websocket probe");

        // Let the WebSocket probe connect; the upgrade completes.
        gated.release();
        const [upgradeTransport] = await upgraded;
        assert.equal(upgradeTransport.name, "websocket");
        assert.equal(socket.io.engine.transport.name, "websocket");
        assert.equal(socket.io.engine, engine, "the upgrade must keep the same Engine.IO session");
        const sid = engine.id;

        assert.deepEqual(
            await emitWithAck(socket, "message-with-ack", ["after upgrade", { b: Buffer.from("xyz") }]),
            ["after upgrade", { b: Buffer.from("xyz") }],
        );
        socket.emit("message", "late", [Buffer.from([9])]);
        assert.deepEqual(await log.take("message-back"), ["late", [Buffer.from([9])]]);
        socket.emit("server-ack", "after");
        assert.deepEqual(await log.take("ack-request"), ["after"]);
        assert.deepEqual(await log.take("ack-result"), [{ ok: true, reply: ["pong", "after"] }]);

        // Same session, no reconnection, no stray events.
        assert.equal(socket.io.engine.id, sid);
        assert.equal(socket.io.engine.transport.name, "websocket");
        await sleep(200);
        assert.deepEqual(log.untaken(), []);
    } finally {
        gated.release();
    }
});

test("default client upgrades without help and messages flow", async () => {
    const { socket, log } = clients.socket(server.url, { forceNew: true });
    await waitConnected(socket);
    assert.deepEqual(await log.take("auth"), [{}]);
    const engine = socket.io.engine;
    if (engine.transport.name !== "websocket") {
        await nextEvent(engine, "upgrade", { timeout: 10_000, what: "engine upgrade to websocket" });
    }
    assert.equal(engine.transport.name, "websocket");
    assert.deepEqual(await emitWithAck(socket, "message-with-ack", ["x", 1]), ["x", 1]);
});

test("upgraded session survives several heartbeats (300 ms ping interval)", async () => {
    const { socket } = clients.socket(server.url, { forceNew: true });
    await waitConnected(socket);
    const engine = socket.io.engine;
    if (engine.transport.name !== "websocket") {
        await nextEvent(engine, "upgrade", { timeout: 10_000, what: "engine upgrade to websocket" });
    }
    let pings = 0;
    engine.on("ping", () => {
        pings += 1;
    });
    let disconnected;
    socket.on("disconnect", (reason) => {
        disconnected = reason;
    });
    await sleep(1_200);
    assert.equal(disconnected, undefined, `disconnected during heartbeats: ${disconnected}`);
    assert.ok(pings >= 2, `expected at least 2 pings in 1.2 s, got ${pings}`);
    assert.deepEqual(await emitWithAck(socket, "message-with-ack", ["alive"]), ["alive"]);
});
