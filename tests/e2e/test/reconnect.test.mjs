// Disconnects: the server dropping the transport (client reconnects with a new socket id) and
// the server disconnecting the socket from its namespace (client stays disconnected).

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
    ClientPool,
    emitWithAck,
    expectNoEvent,
    nextEvent,
    transportModes,
    waitConnected,
} from "../lib/clients.mjs";
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

const kTransportLossReasons = ["transport close", "transport error"];

for (const mode of transportModes) {
    describe(`disconnects over ${mode.name}`, () => {
        test("drop-transport → transport close, automatic reconnect with a new socket id", async () => {
            const { socket, log } = clients.socket(server.url, {
                ...mode.opts,
                forceNew: true,
                auth: { who: "reconnector" },
            });
            await waitConnected(socket);
            assert.deepEqual(await log.take("auth"), [{ who: "reconnector" }]);
            assert.deepEqual(await emitWithAck(socket, "message-with-ack", ["before"]), ["before"]);
            const firstId = socket.id;
            const firstEngineId = socket.io.engine.id;

            const disconnected = nextEvent(socket, "disconnect", { what: "disconnect after drop-transport" });
            const reconnected = nextEvent(socket.io, "reconnect", {
                timeout: 10_000,
                what: "manager reconnect after drop-transport",
            });
            reconnected.catch(() => {});
            socket.emit("drop-transport");
            const [reason] = await disconnected;
            assert.ok(
                kTransportLossReasons.includes(reason),
                `disconnect reason should be one of ${kTransportLossReasons.join(", ")}, got "${reason}"`,
            );
            assert.equal(socket.active, true, "the client should be trying to reconnect");

            await reconnected;
            await waitConnected(socket, { timeout: 10_000, what: "connect after reconnection" });
            assert.notEqual(socket.id, firstId, "a new connection must get a new socket id");
            assert.notEqual(socket.io.engine.id, firstEngineId, "a new connection must get a new Engine.IO sid");
            assert.notEqual(socket.recovered, true, "connection state recovery is off");
            assert.equal(socket.io.engine.transport.name, mode.engineTransport);

            // The connect handler runs again for the new socket.
            assert.deepEqual(await log.take("auth", { what: "auth after reconnect" }), [{ who: "reconnector" }]);
            assert.deepEqual(await emitWithAck(socket, "message-with-ack", ["after"]), ["after"]);
            socket.emit("message", "after", Buffer.from([1]));
            assert.deepEqual(await log.take("message-back"), ["after", Buffer.from([1])]);
        });

        test("drop-transport affects only the sender's connection", async () => {
            const a = clients.socket(server.url, { ...mode.opts, forceNew: true });
            const b = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await Promise.all([waitConnected(a.socket), waitConnected(b.socket)]);
            let bDisconnected;
            b.socket.on("disconnect", (reason) => {
                bDisconnected = reason;
            });
            const disconnected = nextEvent(a.socket, "disconnect");
            a.socket.emit("drop-transport");
            await disconnected;
            assert.deepEqual(await emitWithAck(b.socket, "message-with-ack", ["b ok"]), ["b ok"]);
            assert.equal(bDisconnected, undefined, `the other client was disconnected: ${bDisconnected}`);
            await waitConnected(a.socket, { timeout: 10_000, what: "sender reconnects" });
        });

        test("disconnect-me → io server disconnect, no reconnection", async () => {
            const { socket } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            const firstId = socket.id;
            const disconnected = nextEvent(socket, "disconnect", { what: "disconnect after disconnect-me" });
            socket.emit("disconnect-me");
            const [reason] = await disconnected;
            assert.equal(reason, "io server disconnect");
            assert.equal(socket.connected, false);
            assert.equal(socket.active, false, "the client must not plan a reconnection");

            await Promise.all([
                expectNoEvent(socket, "connect", 1_500, "connect after io server disconnect"),
                expectNoEvent(socket.io, "reconnect_attempt", 1_500, "reconnect_attempt after io server disconnect"),
            ]);

            // A manual connect() is allowed and yields a fresh socket.
            socket.connect();
            await waitConnected(socket, { what: "manual connect after io server disconnect" });
            assert.notEqual(socket.id, firstId);
            assert.deepEqual(await emitWithAck(socket, "message-with-ack", ["back"]), ["back"]);
        });
    });
}
