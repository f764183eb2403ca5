// Ephemeral room events (PRODUCT.md §2 "ephemeral publish"; issue 15 item 3): two real edges,
// real NATS, the stock socket.io-client over both transports.
//
// - `publish` with `ephemeral: true` is acked `{ok: true}` without an offset and reaches the
//   room's other sockets on both edges as (data, {room, from}) — no offset in meta and no
//   trailing offset argument — binary included; the publisher gets it only with `echo`.
// - It is checked like a stored publish (bad_request, not_joined) and never stored: history
//   holds only the stored events, whose offsets follow one another as if it had not been there.
// - A client that received ephemeral events (string data last: socket.io-client must not take
//   it for an offset) drops its transport: it recovers (`recovered === true`) with exactly the
//   stored events it missed, none of the ephemeral ones published while it was away, and then
//   receives ephemeral events live again.
//
// Negative checks ("receives nothing") are a bounded quiet period after a positive barrier: a
// later stored event of the same room, which reaches each edge after the ephemeral one was
// routed (one publisher connection, one NATS server: per-publisher order holds across subjects).

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { ClientPool, nextEvent, transportModes } from "../lib/clients.mjs";
import {
    Inbox,
    assertError,
    connectUser,
    joinRoom,
    publishOk,
    request,
    startEdgeStack,
    uniqueRoom,
} from "../lib/roomcast.mjs";

const kAwayMs = 2_000; // reconnection delay of the dropped client

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({ edges: ["edge-1", "edge-2"] });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

/** An ephemeral publish, asserting the ack is exactly {ok: true}. */
async function publishEphemeral(socket, room, event, data, extra = {}) {
    const ack = await request(socket, "publish", { room, event, data, ephemeral: true, ...extra });
    assert.deepEqual(ack, { ok: true }, `ephemeral publish of ${event} to ${room}`);
}

/** Asserts one delivery of an ephemeral event: (data, {room, from}) and nothing else. */
function assertEphemeral(item, room, from, data, what) {
    assert.equal(item.args.length, 2, `${what}: (data, meta) only, got ${JSON.stringify(item.args)}`);
    assert.deepEqual(item.data, data, `${what}: data`);
    assert.deepEqual(item.meta, { room, from }, `${what}: meta has no offset`);
}

for (const mode of transportModes) {
    describe(`${mode.name}`, () => {
        test("an ephemeral event reaches the room on both edges without an offset, and is never stored", async () => {
            const a = await connectUser(clients, stack, stack.edges[0].url, { ...mode.opts, user: "ann" });
            const b = await connectUser(clients, stack, stack.edges[1].url, { ...mode.opts, user: "ben" });
            const c = await connectUser(clients, stack, stack.edges[0].url, { ...mode.opts, user: "cat" });
            const room = uniqueRoom("eph");
            for (const x of [a, b, c]) {
                await joinRoom(x.socket, room);
            }
            const inboxes = [a, b, c].map((x) => ({ cursor: new Inbox(x.socket, "cursor"), msg: new Inbox(x.socket, "msg") }));

            const first = await publishOk(a.socket, room, "msg", "before");
            await publishEphemeral(a.socket, room, "cursor", { x: 1, y: 2 });
            await publishEphemeral(a.socket, room, "cursor", { bin: Buffer.from([0, 1, 2, 255]) });
            const second = await publishOk(a.socket, room, "msg", "after");
            assert.ok(BigInt(second) > BigInt(first));

            for (const [i, x] of [[1, b], [2, c]]) {
                await inboxes[i].msg.waitFor(2, { what: `${x.user}: the stored events` });
                const got = await inboxes[i].cursor.waitFor(2, { what: `${x.user}: the ephemeral events` });
                assert.equal(got.length, 2, `${x.user}: each ephemeral event once`);
                assertEphemeral(got[0], room, "ann", { x: 1, y: 2 }, `${x.user} first`);
                assert.equal(got[1].args.length, 2);
                assert.ok(Buffer.isBuffer(got[1].data.bin) || got[1].data.bin instanceof ArrayBuffer, `${x.user}: binary stays binary`);
                assert.deepEqual([...new Uint8Array(got[1].data.bin)], [0, 1, 2, 255]);
                assert.deepEqual(got[1].meta, { room, from: "ann" });
            }
            // The publisher: its stored events are not echoed either; with echo it gets its own.
            await publishEphemeral(a.socket, room, "cursor", { x: 3 }, { echo: true });
            const own = await inboxes[0].cursor.waitFor(1, { what: "ann: her own event with echo" });
            assert.equal(own.length, 1, "only the echoed one: the earlier ones were not sent back");
            assertEphemeral(own[0], room, "ann", { x: 3 }, "echo");

            const history = await request(a.socket, "history", { room });
            assert.equal(history.ok, true, JSON.stringify(history));
            assert.deepEqual(
                history.messages.map((m) => [m.offset, m.event, m.data]),
                [
                    [first, "msg", "before"],
                    [second, "msg", "after"],
                ],
                "history holds the stored events only",
            );
        });

        test("an ephemeral publish is checked like a stored one", async () => {
            const a = await connectUser(clients, stack, stack.edges[0].url, { ...mode.opts });
            const room = uniqueRoom("eph-check");
            assertError(
                await request(a.socket, "publish", { room, event: "cursor", data: 1, ephemeral: true }),
                "not_joined",
                "ephemeral publish before joining",
            );
            await joinRoom(a.socket, room);
            assertError(
                await request(a.socket, "publish", { room, event: "cursor", data: 1, ephemeral: "yes" }),
                "bad_request",
                "ephemeral must be a boolean",
            );
            assertError(
                await request(a.socket, "publish", { room, event: "join", data: 1, ephemeral: true }),
                "bad_request",
                "a reserved event name",
            );
            assertError(
                await request(a.socket, "publish", { room: "bad room", event: "cursor", ephemeral: true }),
                "bad_request",
                "a bad room id",
            );
        });

        test("recovery brings back the stored events missed, none of the ephemeral ones, then live ephemeral events", async () => {
            const slow = { reconnectionDelay: kAwayMs, reconnectionDelayMax: kAwayMs, randomizationFactor: 0 };
            const r = await connectUser(clients, stack, stack.edges[0].url, { ...mode.opts, ...slow, user: "rec" });
            const p = await connectUser(clients, stack, stack.edges[1].url, { transports: ["websocket"], user: "pub" });
            const room = uniqueRoom("eph-rec");
            await joinRoom(r.socket, room);
            await joinRoom(p.socket, room);
            const rTyping = new Inbox(r.socket, "typing");
            const rMsg = new Inbox(r.socket, "msg");

            const before = await publishOk(p.socket, room, "msg", 0);
            // String data: socket.io-client keeps a string last argument as its recovery offset;
            // an ephemeral event's last argument is its meta object, so it must not change it.
            await publishEphemeral(p.socket, room, "typing", "pub is typing");
            await rMsg.waitFor(1);
            const typing = await rTyping.waitFor(1);
            assertEphemeral(typing[0], room, "pub", "pub is typing", "before the drop");

            const disconnected = nextEvent(r.socket, "disconnect", { timeout: 10_000, what: "disconnect after engine.close()" });
            disconnected.catch(() => {});
            r.socket.io.engine.close();
            await disconnected;
            const reconnected = nextEvent(r.socket, "connect", { timeout: kAwayMs + 10_000, what: "reconnect" });
            reconnected.catch(() => {});
            const missed = [];
            for (let i = 1; i <= 3; ++i) {
                await publishEphemeral(p.socket, room, "typing", `away ${i}`);
                missed.push(await publishOk(p.socket, room, "msg", i));
            }
            assert.equal(r.socket.connected, false, "published while the client is away");
            await reconnected;
            assert.equal(r.socket.recovered, true, "recovered after ephemeral events with string data");

            const msgs = await rMsg.waitFor(4, { what: "the missed stored events" });
            assert.deepEqual(msgs.map((m) => m.offset), [before, ...missed], "every stored event once, in order");
            assert.deepEqual(msgs.map((m) => m.data), [0, 1, 2, 3]);

            await publishEphemeral(p.socket, room, "typing", "live again");
            const barrier = await publishOk(p.socket, room, "msg", "barrier");
            await rMsg.waitFor(5, { what: "the barrier" });
            assert.equal(rMsg.items[4].offset, barrier);
            const all = await rTyping.waitFor(2, { what: "the live ephemeral event after recovery" });
            assert.deepEqual(all.map((t) => t.data), ["pub is typing", "live again"], "none of those published while away");
        });
    });
}
