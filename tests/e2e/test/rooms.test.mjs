// Rooms on "/": room:join / room:leave / room:emit → room:message to every member but the sender.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
    ClientPool,
    emitWithAck,
    nextEvent,
    sleep,
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

// Long enough for a stray broadcast to show up on loopback.
const kQuietMs = 250;

for (const mode of transportModes) {
    describe(`rooms over ${mode.name}`, () => {
        async function connectMany(n) {
            const made = Array.from({ length: n }, () => clients.socket(server.url, { ...mode.opts, forceNew: true }));
            await Promise.all(made.map((c) => waitConnected(c.socket)));
            return made;
        }

        async function join(client, room) {
            assert.deepEqual(await emitWithAck(client.socket, "room:join", [room]), [true], `join ${room}`);
        }

        test("room:emit reaches every other member, not the sender, not outsiders", async () => {
            const [a, b, c, outsider] = await connectMany(4);
            for (const m of [a, b, c]) {
                await join(m, "r1");
            }
            const payload = ["hello", { x: 1, bin: Buffer.from([1, 2]) }, [Buffer.from("z")]];
            assert.deepEqual(await emitWithAck(a.socket, "room:emit", ["r1", ...payload]), [true]);
            assert.deepEqual(await b.log.take("room:message"), ["r1", ...payload]);
            assert.deepEqual(await c.log.take("room:message"), ["r1", ...payload]);
            await sleep(kQuietMs);
            assert.deepEqual(a.log.all("room:message"), [], "the sender must not receive its own broadcast");
            assert.deepEqual(outsider.log.all("room:message"), [], "a non-member received a room message");
        });

        test("room:emit without an ack is delivered too", async () => {
            const [a, b] = await connectMany(2);
            await join(a, "no-ack");
            await join(b, "no-ack");
            a.socket.emit("room:emit", "no-ack", 1);
            a.socket.emit("room:emit", "no-ack", 2);
            assert.deepEqual(await b.log.take("room:message"), ["no-ack", 1]);
            assert.deepEqual(await b.log.take("room:message"), ["no-ack", 2]);
        });

        test("room:leave stops delivery; rooms are independent", async () => {
            const [a, b, c] = await connectMany(3);
            await join(a, "red");
            await join(b, "red");
            await join(c, "red");
            await join(c, "blue");
            await join(a, "blue");

            assert.deepEqual(await emitWithAck(b.socket, "room:leave", ["red"]), [true]);
            assert.deepEqual(await emitWithAck(a.socket, "room:emit", ["red", "after leave"]), [true]);
            assert.deepEqual(await c.log.take("room:message"), ["red", "after leave"]);

            assert.deepEqual(await emitWithAck(a.socket, "room:emit", ["blue", "to blue"]), [true]);
            assert.deepEqual(await c.log.take("room:message"), ["blue", "to blue"]);

            await sleep(kQuietMs);
            assert.deepEqual(b.log.all("room:message"), [], "b left red and never joined blue");
            // c is in red and blue: each broadcast arrives once, not once per shared room.
            assert.equal(c.log.all("room:message").length, 2);
            assert.deepEqual(a.log.all("room:message"), []);
        });

        test("leaving a room one never joined, and joining twice, are harmless", async () => {
            const [a, b] = await connectMany(2);
            assert.deepEqual(await emitWithAck(a.socket, "room:leave", ["never-joined"]), [true]);
            await join(b, "twice");
            await join(b, "twice");
            assert.deepEqual(await emitWithAck(a.socket, "room:emit", ["twice", "once"]), [true]);
            assert.deepEqual(await b.log.take("room:message"), ["twice", "once"]);
            await sleep(kQuietMs);
            assert.equal(b.log.all("room:message").length, 1, "joining twice must not duplicate delivery");
        });

        test("a sender outside the room still reaches all members", async () => {
            const [outside, m1, m2] = await connectMany(3);
            await join(m1, "closed");
            await join(m2, "closed");
            assert.deepEqual(await emitWithAck(outside.socket, "room:emit", ["closed", "knock"]), [true]);
            assert.deepEqual(await m1.log.take("room:message"), ["closed", "knock"]);
            assert.deepEqual(await m2.log.take("room:message"), ["closed", "knock"]);
        });

        test("a member that disconnected is dropped from its rooms", async () => {
            const [a, b, gone] = await connectMany(3);
            await join(a, "ephemeral");
            await join(b, "ephemeral");
            await join(gone, "ephemeral");
            const goneDisconnected = nextEvent(gone.socket, "disconnect");
            gone.socket.disconnect();
            await goneDisconnected;
            await sleep(100);
            assert.deepEqual(await emitWithAck(a.socket, "room:emit", ["ephemeral", "still?"]), [true]);
            assert.deepEqual(await b.log.take("room:message"), ["ephemeral", "still?"]);
            // After reconnecting, the socket is new and in no room.
            gone.socket.connect();
            await waitConnected(gone.socket);
            assert.deepEqual(await emitWithAck(a.socket, "room:emit", ["ephemeral", "again"]), [true]);
            assert.deepEqual(await b.log.take("room:message"), ["ephemeral", "again"]);
            await sleep(kQuietMs);
            assert.deepEqual(gone.log.all("room:message"), []);
        });

        test("messages from one sender arrive in order", async () => {
            const [a, b] = await connectMany(2);
            await join(b, "ordered");
            const n = 200;
            for (let i = 0; i < n; i++) {
                a.socket.emit("room:emit", "ordered", i, i % 10 === 0 ? Buffer.from([i & 0xff]) : `t${i}`);
            }
            for (let i = 0; i < n; i++) {
                const [room, seq, extra] = await b.log.take("room:message");
                assert.equal(room, "ordered");
                assert.equal(seq, i, "out of order");
                assert.deepEqual(extra, i % 10 === 0 ? Buffer.from([i & 0xff]) : `t${i}`);
            }
        });
    });
}
