// Connection state recovery across a real two-edge stack (PRODUCT.md §2 "Recovery",
// docs/protocol.md "Connection state recovery"): a client that loses its connection and comes
// back within the window, to the same edge or (after its edge died) to another one, gets
// socket.recovered === true, the same socket id, its rooms, and every room event it missed, in
// order, exactly once; then live events. A deliberate disconnect() is not recovered, nor is a
// stolen pid presented with another user's token.
//
// "Missed" is made deterministic: the clients wait `kAwayMs` before reconnecting
// (reconnectionDelay), and the missed events are published (acks awaited) after the client saw
// "disconnect"; the test checks that the client was still away when the last ack came back.

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { ClientPool, nextEvent, sleep, transportModes, waitConnected } from "../lib/clients.mjs";
import {
    Inbox,
    assertError,
    connectUser,
    edgeOf,
    joinRoom,
    metricValue,
    publishOk,
    request,
    startEdgeStack,
    tokenFor,
    uniqueRoom,
} from "../lib/roomcast.mjs";

const kAwayMs = 2_000; // reconnection delay of the dropped clients
const kBefore = 3; // events per room received before the drop
const kMissed = 15; // events per room published while away
const kLive = 5; // events per room after the reconnect
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

const slowReconnect = { reconnectionDelay: kAwayMs, reconnectionDelayMax: kAwayMs, randomizationFactor: 0 };

/** Publishes events {room, seq} for seq in [from, to) to each room, alternating rooms; acks awaited. */
async function publishRange(publisher, rooms, from, to) {
    const offsets = [];
    for (let seq = from; seq < to; seq++) {
        for (const room of rooms) {
            offsets.push(publishOk(publisher.socket, room, "ev", { room, seq }));
        }
    }
    return Promise.all(offsets);
}

/**
 * Asserts that `inbox` holds, for each room, seq 0..n-1 exactly once and in order, and that
 * offsets increase strictly over the whole stream (replay is merged in offset order).
 */
function assertExactlyOnceInOrder(inbox, rooms, n, what) {
    for (const room of rooms) {
        const seqs = inbox.items.filter((i) => i.meta?.room === room).map((i) => i.data.seq);
        assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i), `${what}: room ${room}: seq 0..${n - 1}, in order, once each`);
    }
    const foreign = inbox.items.filter((i) => !rooms.includes(i.meta?.room));
    assert.deepEqual(foreign, [], `${what}: events of other rooms`);
    for (let i = 1; i < inbox.items.length; i++) {
        assert.ok(
            BigInt(inbox.items[i].offset) > BigInt(inbox.items[i - 1].offset),
            `${what}: offsets must increase strictly, got ${inbox.items[i - 1].offset} then ${inbox.items[i].offset} at ${i}`,
        );
    }
    for (const item of inbox.items) {
        assert.equal(item.meta.offset, item.offset, `${what}: meta.offset equals the last argument`);
        assert.equal(item.args.length, 3, `${what}: replayed events carry (data, meta, offset) too`);
    }
}

/** Waits for the disconnect of `socket` caused by `cause()`; returns the reason. */
async function dropAndWait(socket, cause, what) {
    const disconnected = nextEvent(socket, "disconnect", { timeout: 10_000, what });
    disconnected.catch(() => {});
    await cause();
    const [reason] = await disconnected;
    return reason;
}

describe("recovery on the same edge", () => {
    for (const mode of transportModes) {
        test(`${mode.name}: a client in two rooms drops its transport, misses events, recovers them in order once`, async () => {
            const c = await connectUser(clients, stack, stack.edges[0].url, { ...mode.opts, ...slowReconnect, user: "carol" });
            const p = await connectUser(clients, stack, stack.edges[1].url, { transports: ["websocket"], user: "pub" });
            const rooms = [uniqueRoom("rec-a"), uniqueRoom("rec-b")];
            for (const room of rooms) {
                await joinRoom(c.socket, room);
                await joinRoom(p.socket, room);
            }
            const cIn = new Inbox(c.socket, "ev");
            const pIn = new Inbox(p.socket, "ev");
            await publishRange(p, rooms, 0, kBefore);
            await cIn.waitFor(2 * kBefore, { what: "events before the drop" });
            const socketId = c.socket.id;
            const edge = edgeOf(c.socket);

            const reason = await dropAndWait(c.socket, () => c.socket.io.engine.close(), "disconnect after engine.close()");
            assert.equal(c.socket.connected, false);
            const reconnected = nextEvent(c.socket, "connect", { timeout: kAwayMs + 10_000, what: "reconnect" });
            reconnected.catch(() => {});
            await publishRange(p, rooms, kBefore, kBefore + kMissed);
            assert.equal(c.socket.connected, false, "the missed events must be published while the client is away");
            await reconnected;

            assert.equal(c.socket.recovered, true, `socket.recovered after "${reason}" and a reconnect to ${edgeOf(c.socket)}`);
            assert.equal(c.socket.id, socketId, "a recovered session keeps its socket id");
            assert.equal(edgeOf(c.socket), edge, "same edge (direct URL)");
            await cIn.waitFor(2 * (kBefore + kMissed), { what: "the missed events" });

            // Still in both rooms: publishing works without joining again, and live events flow.
            for (const room of rooms) {
                await publishOk(c.socket, room, "ev", { room, seq: "from-carol" });
            }
            await pIn.waitFor(2, { what: "the publisher receiving the recovered client's events" });
            assert.deepEqual(pIn.datas.map((d) => d.seq), ["from-carol", "from-carol"]);
            await publishRange(p, rooms, kBefore + kMissed, kBefore + kMissed + kLive);
            const total = kBefore + kMissed + kLive;
            await cIn.waitFor(2 * total, { what: "live events after the recovery" });
            await sleep(kQuietMs);
            assertExactlyOnceInOrder(cIn, rooms, total, `${mode.name} same-edge recovery`);
            const h = await request(c.socket, "history", { room: rooms[0], limit: 1000 });
            assert.deepEqual(
                cIn.items.filter((i) => i.meta.room === rooms[0]).map((i) => i.offset),
                h.messages.filter((m) => m.from === "pub").map((m) => m.offset),
                "the offsets received equal the history's",
            );
        });
    }
});

describe("recovery on another edge", () => {
    /**
     * A client through NGINX (cookie affinity) whose session is on `edgeId`: retries the balancer
     * (for up to 10 s: after an edge restarts, NGINX keeps it marked failed for fail_timeout=3s).
     */
    async function clientOn(edgeId, opts) {
        const until = Date.now() + 10_000;
        for (let attempt = 0; Date.now() < until; attempt++) {
            const c = await connectUser(clients, stack, stack.nginxUrl, { withCredentials: true, ...opts });
            if (edgeOf(c.socket) === edgeId) {
                if (c.socket.io.engine.transport.name === "polling") {
                    // (socket.io-client over WebSocket in Node.js keeps no cookie: it needs none.)
                    const cookie = c.socket.io.engine._cookieJar?._cookies?.get("roomcast_affinity")?.value;
                    assert.equal(cookie, edgeId, "the affinity cookie names the session's edge");
                }
                return c;
            }
            c.socket.disconnect();
            clients.sockets.delete(c.socket);
            await sleep(attempt < 10 ? 0 : 200);
        }
        throw new Error(`connections through NGINX never reached ${edgeId} within 10 s`);
    }

    async function edgeDiesScenario(signal) {
        const killed = stack.edges[0];
        const survivor = stack.edges[1];
        const p = await connectUser(clients, stack, survivor.url, { transports: ["websocket"], user: "pub" });
        // Clients that received events before the drop (they send an offset), one per transport,
        // and clients that received none (socket.io-client then sends the pid without an offset).
        const seen = [];
        const unseen = [];
        for (const mode of transportModes) {
            seen.push({ mode, ...(await clientOn(killed.id, { ...mode.opts, ...slowReconnect, user: `seen-${mode.name}` })) });
            unseen.push({ mode, ...(await clientOn(killed.id, { ...mode.opts, ...slowReconnect, user: `unseen-${mode.name}` })) });
        }
        const busyRooms = [uniqueRoom("busy-a"), uniqueRoom("busy-b")];
        const quietRoom = uniqueRoom("quiet");
        for (const room of [...busyRooms, quietRoom]) {
            await joinRoom(p.socket, room);
        }
        for (const c of seen) {
            for (const room of busyRooms) {
                await joinRoom(c.socket, room);
            }
            c.inbox = new Inbox(c.socket, "ev");
        }
        for (const c of unseen) {
            await joinRoom(c.socket, quietRoom);
            c.inbox = new Inbox(c.socket, "ev");
        }
        await publishRange(p, busyRooms, 0, kBefore);
        for (const c of seen) {
            await c.inbox.waitFor(2 * kBefore, { what: `${c.user}: events before the kill` });
            assert.equal(c.socket._lastOffset, c.inbox.items.at(-1).offset, "the client tracks the last offset");
        }
        for (const c of unseen) {
            assert.equal(c.socket._lastOffset, undefined, `${c.user} must not have received any event`);
        }
        const all = [...seen, ...unseen];
        const ids = new Map(all.map((c) => [c, c.socket.id]));

        const drops = all.map((c) => {
            const d = nextEvent(c.socket, "disconnect", { timeout: 10_000, what: `${c.user}: disconnect after the kill` });
            d.catch(() => {});
            return d;
        });
        const reconnects = all.map((c) => {
            const r = nextEvent(c.socket, "connect", { timeout: kAwayMs + 20_000, what: `${c.user}: reconnect to edge-2` });
            r.catch(() => {});
            return r;
        });
        try {
            const t0 = Date.now();
            await killed.kill(signal);
            await Promise.all(drops);
            await publishRange(p, busyRooms, kBefore, kBefore + kMissed);
            await publishRange(p, [quietRoom], 0, kMissed);
            for (const c of all) {
                assert.equal(c.socket.connected, false, `${c.user} must still be away when the missed events are stored`);
            }
            await Promise.all(reconnects);

            for (const c of all) {
                assert.equal(edgeOf(c.socket), survivor.id, `${c.user} must reconnect to ${survivor.id}`);
            }
            const recovered = all.map((c) => `${c.user}=${c.socket.recovered}`).join(" ");
            console.log(`# recovery after ${signal} of ${killed.id} (${Date.now() - t0} ms to reconnect): ${recovered}`);
            for (const c of all) {
                assert.equal(c.socket.recovered, true, `${c.user} must be recovered on ${survivor.id} (${recovered})`);
                assert.equal(c.socket.id, ids.get(c), `${c.user} keeps its socket id`);
            }
            for (const c of seen) {
                await c.inbox.waitFor(2 * (kBefore + kMissed), { what: `${c.user}: missed events after recovery` });
            }
            for (const c of unseen) {
                await c.inbox.waitFor(kMissed, { what: `${c.user}: missed events (no offset sent)` });
            }
            // Live events, and the recovered clients can publish without joining again.
            await publishRange(p, busyRooms, kBefore + kMissed, kBefore + kMissed + kLive);
            await publishRange(p, [quietRoom], kMissed, kMissed + kLive);
            for (const c of all) {
                const room = seen.includes(c) ? busyRooms[0] : quietRoom;
                await publishOk(c.socket, room, "hello", c.user);
            }
            for (const c of seen) {
                await c.inbox.waitFor(2 * (kBefore + kMissed + kLive), { what: `${c.user}: live events` });
            }
            for (const c of unseen) {
                await c.inbox.waitFor(kMissed + kLive, { what: `${c.user}: live events` });
            }
            await sleep(kQuietMs);
            for (const c of seen) {
                assertExactlyOnceInOrder(c.inbox, busyRooms, kBefore + kMissed + kLive, `${c.user} (${c.mode.name})`);
            }
            for (const c of unseen) {
                assertExactlyOnceInOrder(c.inbox, [quietRoom], kMissed + kLive, `${c.user} (${c.mode.name})`);
            }
        } finally {
            await killed.restart();
        }
    }

    test(
        "edge-1 is SIGKILLed; its clients reconnect through NGINX to edge-2 and recover (with and without a received offset)",
        () => edgeDiesScenario("SIGKILL"),
    );

    test(
        "edge-1 is stopped with SIGTERM; its clients reconnect through NGINX to edge-2 and recover (with and without a received offset)",
        () => edgeDiesScenario("SIGTERM"),
    );
});



describe("no recovery", () => {
    test("a deliberate disconnect() then connect() is not recovered", async () => {
        const c = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"], user: "dave" });
        const p = await connectUser(clients, stack, stack.edges[1].url, { transports: ["websocket"], user: "pub" });
        const room = uniqueRoom("deliberate");
        await joinRoom(c.socket, room);
        await joinRoom(p.socket, room);
        const cIn = new Inbox(c.socket, "ev");
        await publishRange(p, [room], 0, 2);
        await cIn.waitFor(2);
        const pid = c.socket._pid;
        const id = c.socket.id;
        assert.ok(pid, "the CONNECT reply carries a pid (recovery is on)");

        c.socket.disconnect();
        await sleep(300); // let the edge process the DISCONNECT
        await publishRange(p, [room], 2, 5);
        c.socket.connect();
        await waitConnected(c.socket, { what: "connect() after disconnect()" });
        assert.equal(c.socket.recovered, false, "a deliberate disconnect must not be recovered");
        assert.notEqual(c.socket.id, id, "a new session gets a new socket id");
        assert.notEqual(c.socket._pid, pid, "a new session gets a new pid");
        assertError(
            await request(c.socket, "publish", { room, event: "ev", data: 1 }),
            "not_joined",
            "the new session is not in the old rooms",
        );
        await sleep(kQuietMs);
        assert.equal(cIn.items.length, 2, `no missed events replayed: ${JSON.stringify(cIn.datas)}`);
    });

    test("a stolen pid with another user's token is not recovered; the owner still recovers", async () => {
        const owner = await connectUser(clients, stack, stack.edges[0].url, {
            transports: ["websocket"],
            user: "alice",
            ...slowReconnect,
        });
        const p = await connectUser(clients, stack, stack.edges[1].url, { transports: ["websocket"], user: "pub" });
        const room = uniqueRoom("stolen");
        await joinRoom(owner.socket, room);
        await joinRoom(p.socket, room);
        const ownerIn = new Inbox(owner.socket, "ev");
        await publishRange(p, [room], 0, 2);
        await ownerIn.waitFor(2);
        const pid = owner.socket._pid;
        const offset = owner.socket._lastOffset;
        const id = owner.socket.id;

        // The owner's connection drops; it stays away while the thief tries.
        owner.socket.io.reconnection(false);
        await dropAndWait(owner.socket, () => owner.socket.io.engine.close(), "owner disconnect");
        await publishRange(p, [room], 2, 4);

        for (const [i, edge, url] of [[0, "edge-1", stack.edges[0].url], [1, "edge-2", stack.edges[1].url]]) {
            const misses = () =>
                metricValue(stack.edges[i].adminUrl, "roomcast_edge_recovery_misses_total", { reason: "no_record" });
            const missesBefore = await misses();
            // A client that presents the stolen pid and offset exactly as socket.io-client would.
            const thief = clients.socket(url, {
                transports: ["websocket"],
                forceNew: true,
                autoConnect: false,
                auth: { token: tokenFor(stack, "mallory") },
            });
            thief.socket._pid = pid;
            thief.socket._lastOffset = offset;
            const thiefIn = new Inbox(thief.socket, "ev");
            thief.socket.connect();
            await waitConnected(thief.socket, { what: `thief connect on ${edge}` });
            assert.equal(thief.socket.recovered, false, `${edge}: another user's token must not recover the session`);
            assert.equal(await misses(), missesBefore + 1, `${edge}: counted as a miss for want of a record of the thief's`);
            assert.notEqual(thief.socket.id, id, `${edge}: the thief must not get the owner's socket id`);
            assert.notEqual(thief.socket._pid, pid, `${edge}: the thief must get a fresh pid`);
            assertError(
                await request(thief.socket, "publish", { room, event: "ev", data: "spoof" }),
                "not_joined",
                `${edge}: the thief must not be in the owner's rooms`,
            );
            await sleep(kQuietMs);
            assert.deepEqual(thiefIn.items, [], `${edge}: the thief must not receive the owner's missed events`);
            thief.socket.disconnect();
        }

        // The owner comes back with its own token: recovered, the 2 missed events, once.
        owner.socket.io.reconnection(true);
        owner.socket.connect();
        await waitConnected(owner.socket, { what: "owner reconnect" });
        assert.equal(owner.socket.recovered, true, "the owner still recovers after the failed theft");
        assert.equal(owner.socket.id, id);
        await ownerIn.waitFor(4, { what: "owner's missed events" });
        await sleep(kQuietMs);
        assertExactlyOnceInOrder(ownerIn, [room], 4, "owner after the theft attempts");
    });
});
