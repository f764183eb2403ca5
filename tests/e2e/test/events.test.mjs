// Connect, the "auth" event, events and acks in both directions, over websocket-only and
// polling-only clients.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
    ClientPool,
    emitWithAck,
    sleep,
    transportModes,
    waitConnected,
} from "../lib/clients.mjs";
import { startServer } from "../lib/servers.mjs";

// The server gives up on a client ack of "ack-request" after 2 s.
const kServerAckTimeoutMs = 2_000;

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

for (const mode of transportModes) {
    describe(`${mode.name} only`, () => {
        test("connects, stays on its transport and receives auth {}", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            assert.equal(typeof socket.id, "string");
            assert.ok(socket.id.length > 0, "socket id is empty");
            assert.equal(socket.io.engine.transport.name, mode.engineTransport);
            assert.deepEqual(await log.take("auth"), [{}]);
            // Nothing else is sent spontaneously.
            await sleep(200);
            assert.deepEqual(log.untaken(), []);
            assert.equal(socket.io.engine.transport.name, mode.engineTransport);
        });

        test("auth event echoes the handshake auth object", async () => {
            const auth = { token: "abc", nested: { n: 1, list: [true, null, "x"] }, unicode: "héllo ✓" };
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true, auth });
            await waitConnected(socket);
            assert.deepEqual(await log.take("auth"), [auth]);
        });

        test("message → message-back with the same args", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            const cases = [
                [1, "2", { 3: [true] }],
                ["only one"],
                [],
                [null, 0, -1.5, "", false, { a: { b: { c: [1, [2, [3]]] } } }],
                [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1, 1e21, 5e-324],
                ["unicode ✓ 日本語 😀", "quote \" backslash \\ newline \n"],
            ];
            for (const args of cases) {
                socket.emit("message", ...args);
            }
            for (const args of cases) {
                assert.deepEqual(await log.take("message-back"), args);
            }
        });

        test("client ack: message-with-ack is acked with the same args", async () => {
            const { socket } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            assert.deepEqual(await emitWithAck(socket, "message-with-ack", [1, "2", { 3: [false] }]), [
                1,
                "2",
                { 3: [false] },
            ]);
            assert.deepEqual(await emitWithAck(socket, "message-with-ack", []), []);
            // Many acks in flight at once are matched to the right callbacks.
            const replies = await Promise.all(
                Array.from({ length: 50 }, (_, i) => emitWithAck(socket, "message-with-ack", [i, `n${i}`])),
            );
            replies.forEach((reply, i) => assert.deepEqual(reply, [i, `n${i}`]));
        });

        test("server ack: ack-request is answered and reported in ack-result", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            socket.on("ack-request", (...args) => {
                const ack = args.pop();
                assert.equal(typeof ack, "function", "ack-request carries no ack callback");
                ack("reply", { to: args }, 42);
            });
            await waitConnected(socket);
            socket.emit("server-ack", "a", { b: 2 });
            assert.deepEqual(await log.take("ack-request"), ["a", { b: 2 }]);
            assert.deepEqual(await log.take("ack-result"), [
                { ok: true, reply: ["reply", { to: ["a", { b: 2 }] }, 42] },
            ]);
        });

        test("server ack: an ack without values still reports ok", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            socket.on("ack-request", (...args) => args.pop()());
            await waitConnected(socket);
            socket.emit("server-ack");
            assert.deepEqual(await log.take("ack-request"), []);
            assert.deepEqual(await log.take("ack-result"), [{ ok: true, reply: [] }]);
        });

        test("server ack: times out when the client never acks", async () => {
            const { socket, log } = clients.socket(server.url, { ...mode.opts, forceNew: true });
            await waitConnected(socket);
            const sentAt = Date.now();
            socket.emit("server-ack", "ignored");
            assert.deepEqual(await log.take("ack-request"), ["ignored"]);
            const [result] = await log.take("ack-result", {
                timeout: kServerAckTimeoutMs + 3_000,
                what: "ack-result after the server's 2 s ack timeout",
            });
            const elapsed = Date.now() - sentAt;
            assert.deepEqual(result, { ok: false, error: "timeout" });
            assert.ok(elapsed >= kServerAckTimeoutMs - 100, `timeout reported too early, after ${elapsed} ms`);
            // The connection survives the timeout.
            assert.deepEqual(await emitWithAck(socket, "message-with-ack", ["still here"]), ["still here"]);
        });
    });
}
