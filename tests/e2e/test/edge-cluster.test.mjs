// Two real edges sharing rooms over NATS JetStream (PRODUCT.md §2, docs/protocol.md): a client
// on edge-1 and one on edge-2, each connected straight to its edge's URL, exchange room events
// both ways over websocket and over polling. Checks the event's arguments (data, meta, offset),
// that one offset string is used by the publish ack, meta.offset, the last argument and history,
// echo, the join ack's offset, binary data across edges and in history, the error codes, and the
// history paging rules.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { ClientPool, sleep, transportModes } from "../lib/clients.mjs";
import {
    Inbox,
    assertError,
    connectUser,
    edgeOf,
    joinRoom,
    offsetCmp,
    publishOk,
    request,
    startEdgeStack,
    uniqueRoom,
} from "../lib/roomcast.mjs";


// Long enough for a stray delivery to show up across edges on loopback.
const kQuietMs = 400;

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

/** A on edge-1, B on edge-2 (direct edge URLs), both joined to a fresh room. */
async function pair(opts, prefix = "pair") {
    const a = await connectUser(clients, stack, stack.edges[0].url, { ...opts, user: "alice" });
    const b = await connectUser(clients, stack, stack.edges[1].url, { ...opts, user: "bob" });
    assert.equal(edgeOf(a.socket), "edge-1");
    assert.equal(edgeOf(b.socket), "edge-2");
    const room = uniqueRoom(prefix);
    await joinRoom(a.socket, room);
    await joinRoom(b.socket, room);
    return { a, b, room };
}

/** Asserts one delivery: exactly (data, meta, offset) with meta {room, from, offset}. */
function assertDelivery(item, { data, room, from, offset }, what) {
    assert.equal(item.args.length, 3, `${what}: handler arguments must be (data, meta, offset), got ${item.args.length}`);
    assert.deepEqual(item.data, data, `${what}: data`);
    assert.deepEqual(item.meta, { room, from, offset }, `${what}: meta`);
    assert.equal(item.offset, offset, `${what}: last argument must be the offset string`);
}

for (const mode of transportModes) {
    describe(`across edges over ${mode.name}`, () => {
        test("events go edge-1 → edge-2 and edge-2 → edge-1 with (data, meta, offset), one offset everywhere", async () => {
            const { a, b, room } = await pair(mode.opts, `x-${mode.name}`);
            assert.equal(a.socket.io.engine.transport.name, mode.engineTransport);
            const aIn = new Inbox(a.socket, "note");
            const bIn = new Inbox(b.socket, "note");

            const d1 = { text: "from a", n: 1, nested: { list: [1, "two", null, true] } };
            const off1 = await publishOk(a.socket, room, "note", d1);
            await bIn.waitFor(1, { what: "B (edge-2) receiving A's event" });
            assertDelivery(bIn.items[0], { data: d1, room, from: "alice", offset: off1 }, "edge-1 → edge-2");

            const d2 = ["from b", 2];
            const off2 = await publishOk(b.socket, room, "note", d2);
            await aIn.waitFor(1, { what: "A (edge-1) receiving B's event" });
            assertDelivery(aIn.items[0], { data: d2, room, from: "bob", offset: off2 }, "edge-2 → edge-1");
            assert.equal(offsetCmp(off2, off1), 1, `offsets must increase: ${off1} then ${off2}`);

            // JSON scalars as data, and no data at all (null).
            const off3 = await publishOk(a.socket, room, "note", "just a string");
            const off4 = await publishOk(a.socket, room, "note", 42);
            const off5 = await request(a.socket, "publish", { room, event: "note" });
            assert.equal(off5.ok, true, JSON.stringify(off5));
            await bIn.waitFor(4, { what: "B receiving three more events" });
            assertDelivery(bIn.items[1], { data: "just a string", room, from: "alice", offset: off3 }, "string data");
            assertDelivery(bIn.items[2], { data: 42, room, from: "alice", offset: off4 }, "number data");
            assertDelivery(bIn.items[3], { data: null, room, from: "alice", offset: off5.offset }, "no data");

            // History (read on both edges) holds the same offset strings.
            for (const c of [a, b]) {
                const h = await request(c.socket, "history", { room });
                assert.equal(h.ok, true, JSON.stringify(h));
                assert.deepEqual(
                    h.messages,
                    [
                        { offset: off1, event: "note", data: d1, from: "alice" },
                        { offset: off2, event: "note", data: d2, from: "bob" },
                        { offset: off3, event: "note", data: "just a string", from: "alice" },
                        { offset: off4, event: "note", data: 42, from: "alice" },
                        { offset: off5.offset, event: "note", data: null, from: "alice" },
                    ],
                    `history read on ${edgeOf(c.socket)}`,
                );
            }
            await sleep(kQuietMs);
            assert.equal(aIn.items.length, 1, "A must receive only B's event (echo is off by default)");
            assert.equal(bIn.items.length, 4, "B must not receive its own event");
        });

        test("echo: false (default) skips the publisher, echo: true delivers to it too", async () => {
            const { a, b, room } = await pair(mode.opts, `echo-${mode.name}`);
            const aIn = new Inbox(a.socket, "e");
            const bIn = new Inbox(b.socket, "e");

            const offDefault = await publishOk(a.socket, room, "e", "default");
            const offFalse = await publishOk(a.socket, room, "e", "explicit false", { echo: false });
            const offTrue = await publishOk(a.socket, room, "e", "echo", { echo: true });
            await bIn.waitFor(3, { what: "B receiving all three" });
            assert.deepEqual(bIn.datas, ["default", "explicit false", "echo"]);
            assert.deepEqual(bIn.offsets, [offDefault, offFalse, offTrue]);
            await aIn.waitFor(1, { what: "A receiving its echo: true event" });
            await sleep(kQuietMs);
            assert.equal(aIn.items.length, 1, `A must receive only the echo: true event, got ${JSON.stringify(aIn.datas)}`);
            assertDelivery(aIn.items[0], { data: "echo", room, from: "alice", offset: offTrue }, "echo to the publisher");

            // A second socket of the same user on the same edge is "another socket": it receives.
            const a2 = await connectUser(clients, stack, stack.edges[0].url, { ...mode.opts, user: "alice" });
            await joinRoom(a2.socket, room);
            const a2In = new Inbox(a2.socket, "e");
            const off = await publishOk(a.socket, room, "e", "to my other tab");
            await a2In.waitFor(1, { what: "the publisher's other socket" });
            assertDelivery(a2In.items[0], { data: "to my other tab", room, from: "alice", offset: off }, "other socket");
            await sleep(kQuietMs);
            assert.equal(aIn.items.length, 1, "the publisher's own socket must still get nothing without echo");
        });

        test("join ack: offset \"0\" for an empty room, the latest offset otherwise", async () => {
            const a = await connectUser(clients, stack, stack.edges[0].url, mode.opts);
            const b = await connectUser(clients, stack, stack.edges[1].url, mode.opts);
            const room = uniqueRoom(`join-${mode.name}`);
            const first = await joinRoom(a.socket, room);
            assert.equal(first.ok, true);
            assert.equal(first.room, room);
            assert.equal(first.offset, "0", "join ack offset for an empty room");
            const again = await joinRoom(a.socket, room);
            assert.equal(again.offset, "0", "joining twice is fine and still reports the latest offset");

            let last;
            for (let i = 0; i < 3; i++) {
                last = await publishOk(a.socket, room, "m", i);
            }
            const later = await joinRoom(b.socket, room);
            assert.equal(later.offset, last, "a joiner on the other edge gets the latest offset");
            const other = await joinRoom(b.socket, uniqueRoom("still-empty"));
            assert.equal(other.offset, "0", "another, empty room still reports \"0\"");
        });

        test("binary data (Buffers nested in objects and arrays) crosses edges and comes back from history", async () => {
            const { a, b, room } = await pair(mode.opts, `bin-${mode.name}`);
            const bIn = new Inbox(b.socket, "file");
            const aIn = new Inbox(a.socket, "file");
            const big = Buffer.alloc(64 * 1024);
            for (let i = 0; i < big.length; i++) {
                big[i] = (i * 7) & 0xff;
            }
            const data = {
                name: "blob",
                chunk: Buffer.from([0, 1, 2, 253, 254, 255]),
                parts: [Buffer.from("first"), { inner: Buffer.from([9]) }, "text", [Buffer.alloc(0), big]],
            };
            const off = await publishOk(a.socket, room, "file", data);
            await bIn.waitFor(1, { what: "binary event on edge-2" });
            assertDelivery(bIn.items[0], { data, room, from: "alice", offset: off }, "binary edge-1 → edge-2");
            assert.ok(Buffer.isBuffer(bIn.items[0].data.chunk), "binary must arrive as binary");
            assert.ok(Buffer.isBuffer(bIn.items[0].data.parts[3][1]), "nested binary must arrive as binary");

            const back = [Buffer.from("reply"), { b: Buffer.from([1]) }];
            const off2 = await publishOk(b.socket, room, "file", back);
            await aIn.waitFor(1, { what: "binary event on edge-1" });
            assertDelivery(aIn.items[0], { data: back, room, from: "bob", offset: off2 }, "binary edge-2 → edge-1");

            for (const c of [a, b]) {
                const h = await request(c.socket, "history", { room });
                assert.equal(h.ok, true, JSON.stringify(h));
                assert.deepEqual(h.messages, [
                    { offset: off, event: "file", data, from: "alice" },
                    { offset: off2, event: "file", data: back, from: "bob" },
                ], `binary history read on ${edgeOf(c.socket)}`);
                assert.ok(Buffer.isBuffer(h.messages[0].data.parts[1].inner), "binary in history must be binary");
            }
        });
    });
}

describe("errors", () => {
    const kBadRooms = [
        ["a.b", "NATS token separator"],
        ["a*", "NATS wildcard *"],
        [">", "NATS wildcard >"],
        ["a>", "NATS wildcard > at the end"],
        ["x".repeat(129), "129 characters"],
        ["", "empty"],
        ["sp ace", "a space"],
        ["ümlaut", "non-ASCII"],
        [42, "a number"],
        [null, "null"],
    ];

    test("bad room ids → bad_request on join, leave, publish and history", async () => {
        const a = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
        for (const [room, why] of kBadRooms) {
            for (const [event, body] of [
                ["join", { room }],
                ["leave", { room }],
                ["publish", { room, event: "m", data: 1 }],
                ["history", { room }],
            ]) {
                assertError(await request(a.socket, event, body), "bad_request", `${event} with room ${why}`);
            }
        }
        assertError(await request(a.socket, "join", {}), "bad_request", "join without room");
        assertError(await request(a.socket, "join", "room-as-string"), "bad_request", "join with a non-object request");
        // 128 characters is the maximum and is fine.
        await joinRoom(a.socket, "y".repeat(128));
        await joinRoom(a.socket, "A-z_0:9@x");
    });

    test("publish and history without join → not_joined; after leave → not_joined", async () => {
        const a = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
        const b = await connectUser(clients, stack, stack.edges[1].url, { transports: ["websocket"] });
        const room = uniqueRoom("nj");
        await joinRoom(b.socket, room);
        await publishOk(b.socket, room, "m", 1);
        assertError(await request(a.socket, "publish", { room, event: "m", data: 1 }), "not_joined", "publish without join");
        assertError(await request(a.socket, "history", { room }), "not_joined", "history without join");
        await joinRoom(a.socket, room);
        await publishOk(a.socket, room, "m", 2);
        assert.deepEqual(await request(a.socket, "leave", { room }), { ok: true });
        assert.deepEqual(await request(a.socket, "leave", { room }), { ok: true }, "leave when not joined is ok");
        assertError(await request(a.socket, "publish", { room, event: "m", data: 3 }), "not_joined", "publish after leave");
        assertError(await request(a.socket, "history", { room }), "not_joined", "history after leave");
    });

    test("reserved event names and bad event fields → bad_request (before not_joined)", async () => {
        const a = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
        const room = uniqueRoom("reserved");
        await joinRoom(a.socket, room);
        const reserved = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
            "join", "leave", "publish", "history", "presence", "kicked"];
        for (const event of reserved) {
            assertError(await request(a.socket, "publish", { room, event, data: 1 }), "bad_request", `publish event "${event}"`);
            // Request shape is checked before state: a room not joined still gives bad_request.
            assertError(
                await request(a.socket, "publish", { room: uniqueRoom("not-joined"), event, data: 1 }),
                "bad_request",
                `publish event "${event}" to a room not joined`,
            );
        }
        for (const [event, why] of [[undefined, "missing"], ["", "empty"], [7, "a number"], ["e".repeat(129), "129 characters"]]) {
            assertError(await request(a.socket, "publish", { room, event, data: 1 }), "bad_request", `event ${why}`);
        }
        await publishOk(a.socket, room, "e".repeat(128), 1);
        const h = await request(a.socket, "history", { room });
        assert.equal(h.messages.length, 1, `only the valid publish is stored: ${JSON.stringify(h.messages.map((m) => m.event.slice(0, 20)))}`);
    });
});

describe("history", () => {
    const kCount = 1010;
    let a;
    let b;
    let room;
    let offsets; // publish ack offsets in publish order

    // Its own pool: the file-level afterEach closes `clients` after every test.
    const pool = new ClientPool();
    after(() => pool.closeAll());

    before(async () => {
        a = await connectUser(pool, stack, stack.edges[0].url, { transports: ["websocket"] });
        b = await connectUser(pool, stack, stack.edges[1].url, { transports: ["websocket"] });
        room = uniqueRoom("hist");
        await joinRoom(a.socket, room);
        await joinRoom(b.socket, room);
        offsets = [];
        // Pipelined in batches; each batch's acks are awaited before the next (order of publish
        // within one socket is the order of the offsets).
        for (let start = 0; start < kCount; start += 200) {
            const batch = [];
            for (let i = start; i < Math.min(kCount, start + 200); i++) {
                batch.push(publishOk(a.socket, room, "h", { i }));
            }
            offsets.push(...(await Promise.all(batch)));
        }
        for (let i = 1; i < offsets.length; i++) {
            assert.equal(offsetCmp(offsets[i], offsets[i - 1]), 1, `publish acks must increase: ${offsets[i - 1]}, ${offsets[i]}`);
        }
    });

    async function history(body, who = b) {
        const h = await request(who.socket, "history", { room, ...body }, { timeout: 15_000 });
        assert.equal(h.ok, true, `history ${JSON.stringify(body)}: ${JSON.stringify(h).slice(0, 300)}`);
        return h.messages;
    }

    const expect = (from, to) =>
        offsets.slice(from, to).map((offset, k) => ({ offset, event: "h", data: { i: from + k }, from: a.user }));

    test("without since: the latest 50 by default, ascending", async () => {
        const msgs = await history({});
        assert.equal(msgs.length, 50, "default limit 50");
        assert.deepEqual(msgs, expect(kCount - 50, kCount));
    });

    test("limit: the latest `limit`; 1000 is the maximum; 0, 1001 and non-integers are bad_request", async () => {
        assert.deepEqual(await history({ limit: 1 }), expect(kCount - 1, kCount));
        assert.deepEqual(await history({ limit: 7 }), expect(kCount - 7, kCount));
        const all = await history({ limit: 1000 });
        assert.equal(all.length, 1000, "limit 1000 returns 1000 of the 1010 published");
        assert.deepEqual(all, expect(kCount - 1000, kCount));
        for (const limit of [1001, 0, -1]) {
            assertError(
                await request(b.socket, "history", { room, limit }),
                "bad_request",
                `history limit ${JSON.stringify(limit)}`,
            );
        }
    });

    test("since is exclusive; ascending; limit applies after since", async () => {
        const base = kCount - 100;
        assert.deepEqual(await history({ since: offsets[base], limit: 5 }), expect(base + 1, base + 6));
        assert.deepEqual(await history({ since: offsets[base] }), expect(base + 1, base + 51), "since with the default limit");
        assert.deepEqual(await history({ since: offsets[kCount - 3] }), expect(kCount - 2, kCount));
        assert.deepEqual(await history({ since: offsets[kCount - 1] }), [], "since the latest offset: nothing");
        const mid = await history({ since: offsets[kCount - 2], limit: 1000 });
        assert.deepEqual(mid, expect(kCount - 1, kCount));
        // Read from the publisher's edge too.
        assert.deepEqual(await history({ since: offsets[base], limit: 3 }, a), expect(base + 1, base + 4));
        assertError(await request(b.socket, "history", { room, since: "not-a-number" }), "bad_request", "since not an offset");
    });
});
