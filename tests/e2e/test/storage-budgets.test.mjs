// Storage budgets (docs/operations.md, "Storage budgets"): the room stream at its byte budget
// drops its oldest events (DiscardOld) while every publish keeps succeeding, and history returns
// the newest; a session whose missed events were dropped is not recovered, one whose missed
// events are all kept is. The budget comes from the environment, as the chart passes it.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientPool, nextEvent, sleep } from "../lib/clients.mjs";
import { Inbox, connectUser, joinRoom, publishOk, request, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";

const kBudget = 1024 * 1024; // the smallest budget a process accepts
const kEventBytes = 32 * 1024;
const kEvents = 64; // 2 MiB of data: twice the budget

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1"],
        nginx: false,
        services: ["rooms"],
        edgeArgs: ["--max-publish-bytes", "64k"],
        edgeEnv: { ROOMCAST_STORAGE_ROOM_STREAM_MAX_BYTES: "1Mi" },
    });
});
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

/** The room stream as NATS monitoring reports it: its configured budget and its bytes. */
async function roomStream() {
    const res = await fetch(`${stack.natsMonitorUrl}/jsz?streams=true&config=true`);
    assert.equal(res.status, 200);
    const jsz = await res.json();
    const streams = (jsz.account_details ?? []).flatMap((a) => (a.stream_detail ?? []));
    const s = streams.find((x) => x.name === "ROOMCAST_ROOMS");
    assert.ok(s, `no ROOMCAST_ROOMS in /jsz: ${JSON.stringify(streams.map((x) => x.name))}`);
    return s;
}

test("the room stream stays within its budget, publishes keep succeeding, history has the newest", async () => {
    const { socket } = await connectUser(clients, stack, stack.edges[0].url);
    const room = uniqueRoom("budget");
    await joinRoom(socket, room);
    const padding = "x".repeat(kEventBytes);
    const offsets = [];
    for (let i = 0; i < kEvents; i++) {
        offsets.push(await publishOk(socket, room, "fill", { i, padding }));
    }
    const s = await roomStream();
    assert.equal(s.config.max_bytes, kBudget, "the budget from ROOMCAST_STORAGE_ROOM_STREAM_MAX_BYTES");
    assert.equal(s.config.discard ?? "old", "old");
    assert.ok(s.state.bytes <= kBudget, `stream holds ${s.state.bytes} bytes, over its budget`);
    assert.ok(s.state.first_seq > 1, "the oldest events were dropped");

    const history = await request(socket, "history", { room, limit: 1000 });
    assert.equal(history?.ok, true, JSON.stringify(history).slice(0, 200));
    const got = history.messages.map((m) => m.data.i);
    assert.ok(got.length > 0 && got.length < kEvents, `history kept ${got.length} of ${kEvents}`);
    assert.equal(history.messages.at(-1).offset, offsets.at(-1), "the newest event is kept");
    // What is kept is the newest run, in order, with nothing missing in between.
    assert.deepEqual(got, Array.from({ length: got.length }, (_, k) => kEvents - got.length + k));
});

const kAwayMs = 6_000; // reconnection delay of the dropped clients: the flood fits in it
const slowReconnect = { reconnectionDelay: kAwayMs, reconnectionDelayMax: kAwayMs, randomizationFactor: 0 };

/**
 * Drops the client's transport (as a network loss does: recovery applies) and waits for the
 * disconnect; returns { reconnected }, the reconnect to await later.
 */
async function dropTransport(socket) {
    const disconnected = nextEvent(socket, "disconnect", { timeout: 10_000, what: "disconnect" });
    socket.io.engine.close();
    await disconnected;
    const reconnected = nextEvent(socket, "connect", { timeout: kAwayMs + 15_000, what: "reconnect" });
    reconnected.catch(() => {});
    return { reconnected };
}

/** Publishes twice the budget to a room of its own, so every older event is dropped. */
async function flood(publisher) {
    const room = uniqueRoom("flood");
    await joinRoom(publisher.socket, room);
    const padding = "f".repeat(kEventBytes);
    for (let i = 0; i < kEvents; i++) {
        await publishOk(publisher.socket, room, "fill", { i, padding });
    }
}

test("a session whose missed event the budget dropped is not recovered", async () => {
    const c = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"], ...slowReconnect });
    const p = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
    const room = uniqueRoom("lost");
    await joinRoom(c.socket, room);
    await joinRoom(p.socket, room);
    const inbox = new Inbox(c.socket, "ev");
    await publishOk(p.socket, room, "ev", { n: 0 });
    await inbox.waitFor(1);

    const { reconnected } = await dropTransport(c.socket);
    await publishOk(p.socket, room, "ev", { n: 1 }); // missed, then dropped by the flood
    await flood(p);
    assert.equal(c.socket.connected, false, "the flood must happen while the client is away");
    await reconnected;
    assert.equal(c.socket.recovered, false, "its missed event is gone: not recovered (it starts anew)");
    await sleep(200);
    assert.deepEqual(inbox.items.map((i) => i.data.n), [0], "nothing replayed");
});

test("a session whose missed events are all kept is recovered though older events were dropped", async () => {
    // The stream has dropped events (the tests above); they are older than the session below
    // by more than the clock allowance (5 s), so its empty room's offset 0 loses nothing.
    await sleep(6_000);
    assert.ok((await roomStream()).state.first_seq > 1, "the stream has dropped events");
    const c = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"], ...slowReconnect });
    const p = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
    const room = uniqueRoom("kept");
    const joined = await joinRoom(c.socket, room);
    assert.equal(joined.offset, "0", "an empty room");
    await joinRoom(p.socket, room);
    const inbox = new Inbox(c.socket, "ev");

    const { reconnected } = await dropTransport(c.socket);
    await publishOk(p.socket, room, "ev", { n: 0 });
    await publishOk(p.socket, room, "ev", { n: 1 });
    await reconnected;
    assert.equal(c.socket.recovered, true, "every event it missed is kept");
    await inbox.waitFor(2, { what: "the missed events" });
    assert.deepEqual(inbox.items.map((i) => i.data.n), [0, 1]);
});
