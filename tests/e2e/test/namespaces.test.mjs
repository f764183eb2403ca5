// Namespaces: "/" and "/custom" multiplexed on one Engine.IO connection, unknown namespaces,
// and the connect hook of "/private".

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
    ClientPool,
    emitWithAck,
    expectNoEvent,
    sleep,
    transportModes,
    waitConnectError,
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

// Runs once: the client's Manager cache is per process and keyed by URL, so a second run with
// other transports would (correctly) get a fresh Manager, not the cached one.
test("io(url) and io(url + '/custom') are multiplexed by the client's cache", async () => {
    // Not forceNew: the second io() reuses the Manager of the first.
    const { socket: a } = clients.socket(server.url, { transports: ["websocket"] });
    const { socket: b, log: bLog } = clients.socket(`${server.url}/custom`, { transports: ["websocket"] });
    await Promise.all([waitConnected(a), waitConnected(b)]);
    assert.equal(a.io, b.io, "io() should return sockets of one cached Manager");
    assert.deepEqual(await bLog.take("auth"), [{}]);
});

for (const mode of transportModes) {
    describe(`namespaces over ${mode.name}`, () => {
        test("/ and /custom share one Manager and one Engine.IO session", async () => {
            const manager = clients.manager(server.url, mode.opts);
            const main = clients.managerSocket(manager, "/");
            const custom = clients.managerSocket(manager, "/custom", { auth: { token: "abc" } });
            await Promise.all([
                waitConnected(main.socket, { what: "connect on /" }),
                waitConnected(custom.socket, { what: "connect on /custom" }),
            ]);
            assert.equal(main.socket.io, custom.socket.io, "both sockets must use the same Manager");
            assert.ok(manager.engine, "manager has no engine");
            assert.equal(manager.engine.transport.name, mode.engineTransport);
            const engineId = manager.engine.id;
            assert.notEqual(main.socket.id, custom.socket.id, "each namespace gets its own socket id");
            assert.notEqual(main.socket.id, engineId, "socket id must not be the Engine.IO sid");

            // Each namespace gets its own auth event with its own auth object.
            assert.deepEqual(await main.log.take("auth"), [{}]);
            assert.deepEqual(await custom.log.take("auth"), [{ token: "abc" }]);

            // Traffic on "/" is not seen on "/custom".
            main.socket.emit("message", "to main");
            assert.deepEqual(await main.log.take("message-back"), ["to main"]);
            await sleep(100);
            assert.deepEqual(custom.log.untaken(), [], "/custom received an event meant for /");

            // Leaving /custom keeps the shared connection and / working.
            custom.socket.disconnect();
            assert.deepEqual(await emitWithAck(main.socket, "message-with-ack", ["after /custom left"]), [
                "after /custom left",
            ]);
            assert.equal(manager.engine.id, engineId, "the Engine.IO session must be the same");

            // And /custom can be joined again on the same connection.
            custom.socket.connect();
            await waitConnected(custom.socket, { what: "reconnect on /custom" });
            assert.deepEqual(await custom.log.take("auth"), [{ token: "abc" }]);
            assert.equal(manager.engine.id, engineId, "rejoining /custom must reuse the Engine.IO session");
        });

        test("unknown namespace → connect_error 'Invalid namespace', connection stays usable", async () => {
            const manager = clients.manager(server.url, mode.opts);
            const main = clients.managerSocket(manager, "/");
            await waitConnected(main.socket);
            const random = clients.managerSocket(manager, "/random");
            const err = await waitConnectError(random.socket, { what: "connect_error on /random" });
            assert.equal(err.message, "Invalid namespace");
            assert.equal(random.socket.connected, false);
            // The error does not take down the multiplexed connection.
            assert.equal(main.socket.connected, true);
            assert.deepEqual(await emitWithAck(main.socket, "message-with-ack", ["still fine"]), ["still fine"]);
        });

        test("unknown namespace alone → connect_error 'Invalid namespace'", async () => {
            const { socket } = clients.socket(`${server.url}/does-not-exist`, { ...mode.opts, forceNew: true });
            const err = await waitConnectError(socket);
            assert.equal(err.message, "Invalid namespace");
        });

        describe("/private connect hook", () => {
            for (const [label, auth] of [
                ["missing auth", undefined],
                ["empty auth", {}],
                ["wrong token", { token: "let-me-in?" }],
                ["token of the wrong type", { token: ["let-me-in"] }],
            ]) {
                test(`refused with ${label}`, async () => {
                    const { socket } = clients.socket(`${server.url}/private`, {
                        ...mode.opts,
                        forceNew: true,
                        ...(auth === undefined ? {} : { auth }),
                    });
                    const err = await waitConnectError(socket);
                    assert.equal(err.message, "unauthorized");
                    assert.deepEqual(err.data, { code: "token_invalid" });
                    assert.equal(socket.connected, false);
                    // A refusal by the server is final: the client does not retry on its own.
                    assert.equal(socket.active, false, "socket should not try to reconnect");
                    await expectNoEvent(socket, "connect", 300);
                });
            }

            test("accepted with the right token; emits nothing", async () => {
                const { socket, log } = clients.socket(`${server.url}/private`, {
                    ...mode.opts,
                    forceNew: true,
                    auth: { token: "let-me-in" },
                });
                await waitConnected(socket);
                assert.ok(socket.id);
                await sleep(300);
                assert.deepEqual(log.events, [], "/private must not emit anything");
            });

            test("refusal on /private does not affect / on the same connection", async () => {
                const manager = clients.manager(server.url, mode.opts);
                const main = clients.managerSocket(manager, "/");
                const priv = clients.managerSocket(manager, "/private", { auth: { token: "nope" } });
                // Both waits start now: the refusal may arrive in the same batch as the connect.
                const refused = waitConnectError(priv.socket);
                await waitConnected(main.socket);
                const err = await refused;
                assert.equal(err.message, "unauthorized");
                assert.deepEqual(err.data, { code: "token_invalid" });
                assert.deepEqual(await emitWithAck(main.socket, "message-with-ack", [1]), [1]);
                // Retrying with the right token on the same connection succeeds.
                priv.socket.auth = { token: "let-me-in" };
                priv.socket.connect();
                await waitConnected(priv.socket, { what: "connect on /private with the right token" });
                assert.equal(manager.engine.id, main.socket.io.engine.id);
            });
        });
    });
}
