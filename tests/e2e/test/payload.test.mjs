// maxPayload (1,000,000 bytes): the cap on one Engine.IO packet / WebSocket message.
// Just under it works; over it, the server closes that client's connection and nobody else's.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { ClientPool, emitWithAck, nextEvent, sleep, waitConnected } from "../lib/clients.mjs";
import { startServer } from "../lib/servers.mjs";

const kMaxPayload = 1_000_000;
// `42["message","` + `"]`: what a one-string "message" event adds around the string on the wire.
const kMessageOverhead = '42["message",""]'.length;

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

/** An ASCII string of exactly `n` bytes that survives JSON unescaped. */
function asciiString(n, seed = 0) {
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    let s = "";
    const chunk = Array.from({ length: 1024 }, (_, i) => alphabet[(i * 7 + seed) % alphabet.length]).join("");
    while (s.length < n) {
        s += chunk;
    }
    return s.slice(0, n);
}

function wsClient(opts = {}) {
    return clients.socket(server.url, { transports: ["websocket"], forceNew: true, ...opts });
}

test("text message just under maxPayload round-trips over websocket", async () => {
    const { socket, log } = wsClient();
    await waitConnected(socket);
    const big = asciiString(kMaxPayload - kMessageOverhead - 1024, 1);
    socket.emit("message", big);
    const [back] = await log.take("message-back", { timeout: 10_000 });
    assert.equal(back.length, big.length);
    assert.ok(back === big, "echoed string differs");
});

test("binary attachment of exactly maxPayload bytes round-trips over websocket", async () => {
    const { socket } = wsClient();
    await waitConnected(socket);
    const buf = Buffer.alloc(kMaxPayload);
    for (let i = 0; i < buf.length; i++) {
        buf[i] = (i * 31) & 0xff;
    }
    const [back] = await emitWithAck(socket, "message-with-ack", [buf], { timeout: 10_000 });
    assert.ok(Buffer.isBuffer(back));
    assert.equal(back.length, buf.length);
    assert.ok(back.equals(buf), "echoed buffer differs");
});

test("the cap is per message: many large messages in a row are fine", async () => {
    const { socket, log } = wsClient();
    await waitConnected(socket);
    const parts = Array.from({ length: 6 }, (_, i) => asciiString(400_000, i));
    for (const p of parts) {
        socket.emit("message", p);
    }
    for (const p of parts) {
        const [back] = await log.take("message-back", { timeout: 10_000 });
        assert.ok(back === p, "echoed string differs or out of order");
    }
});

test("text message just under maxPayload round-trips over polling", async () => {
    const { socket, log } = clients.socket(server.url, { transports: ["polling"], forceNew: true });
    await waitConnected(socket);
    const big = asciiString(kMaxPayload - kMessageOverhead - 1024, 2);
    socket.emit("message", big);
    const [back] = await log.take("message-back", { timeout: 10_000 });
    assert.ok(back === big, "echoed string differs");
});

for (const [label, makeArgs] of [
    ["text", () => [asciiString(kMaxPayload + 1_000, 3)]],
    ["binary", () => [Buffer.alloc(kMaxPayload + 1, 7)]],
]) {
    test(`${label} message over maxPayload disconnects only its sender (websocket)`, async () => {
        const bystander = wsClient();
        const offender = wsClient({ reconnection: false });
        await Promise.all([waitConnected(bystander.socket), waitConnected(offender.socket)]);
        let bystanderDisconnect;
        bystander.socket.on("disconnect", (reason) => {
            bystanderDisconnect = reason;
        });

        const disconnected = nextEvent(offender.socket, "disconnect", {
            timeout: 10_000,
            what: "the oversized sender's disconnect",
        });
        offender.socket.emit("message", ...makeArgs());
        const [reason] = await disconnected;
        assert.ok(
            ["transport close", "transport error"].includes(reason),
            `unexpected disconnect reason "${reason}"`,
        );
        assert.deepEqual(offender.log.all("message-back"), [], "the oversized message must not be echoed");

        // The other client is unaffected, and the server still accepts new connections.
        assert.deepEqual(await emitWithAck(bystander.socket, "message-with-ack", ["still here"]), ["still here"]);
        bystander.socket.emit("message", Buffer.from([1, 2, 3]));
        assert.deepEqual(await bystander.log.take("message-back"), [Buffer.from([1, 2, 3])]);
        const fresh = wsClient();
        await waitConnected(fresh.socket, { what: "a new client after the oversized message" });
        assert.deepEqual(await emitWithAck(fresh.socket, "message-with-ack", ["new"]), ["new"]);
        await sleep(100);
        assert.equal(bystanderDisconnect, undefined, `bystander was disconnected: ${bystanderDisconnect}`);
    });
}
