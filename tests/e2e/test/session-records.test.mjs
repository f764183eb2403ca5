// Session records (connection state recovery) cost one KV write per connect + join (issue 15
// item 5; services/edge/app/records.hpp): a new session's first record is written at its first
// join (or its disconnect), not at connect. A client that loses its connection right after
// joining is recorded and recovers. Counted from
// nats-server's own view of the roomcast_sessions bucket (/jsz: its stream's last sequence
// grows by one per write or delete). Real edge, real NATS, stock socket.io-client.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { ClientPool, nextEvent, sleep } from "../lib/clients.mjs";
import { Inbox, connectUser, jetStreamState, joinRoom, publishOk, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";

const kClients = 10;
const kSettleMs = 1_000; // a quiet period that shows the bucket has taken every write

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({ edges: ["edge-1"] });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

/** The last sequence of the KV stream behind roomcast_sessions: one more per write or delete. */
async function sessionWrites() {
    return (await jetStreamState(stack.natsMonitorUrl, "KV_roomcast_sessions")).state.last_seq;
}

/** Waits until the bucket has taken no write for `quietMs` (bounded), and returns its count. */
async function settledWrites(quietMs = kSettleMs, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last = await sessionWrites();
    for (;;) {
        await sleep(quietMs);
        const now = await sessionWrites();
        if (now === last) {
            return now;
        }
        assert.ok(Date.now() < deadline, `the sessions bucket kept taking writes for ${timeoutMs} ms`);
        last = now;
    }
}

test("connect + join of a new session is one session record write", async () => {
    const before = await settledWrites();
    const room = uniqueRoom("rec1");
    const connected = [];
    for (let i = 0; i < kClients; ++i) {
        const c = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
        await joinRoom(c.socket, room);
        connected.push(c);
    }
    const after = await settledWrites();
    assert.equal(after - before, kClients, `session record writes for ${kClients} connects + joins`);
    // A later join is written on its own.
    await joinRoom(connected[0].socket, uniqueRoom("rec1-later"));
    assert.equal((await settledWrites()) - after, 1, "one write for a later join");
    // A session that never joins writes nothing while it is connected.
    await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
    assert.equal((await settledWrites()) - after, 1, "no write for a connect without a join");
});

test("a client that loses its connection right after joining is recorded and recovers", async () => {
    const slow = { reconnectionDelay: 1_000, reconnectionDelayMax: 1_000, randomizationFactor: 0 };
    const r = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"], ...slow });
    const p = await connectUser(clients, stack, stack.edges[0].url, { transports: ["websocket"] });
    const room = uniqueRoom("rec2");
    await joinRoom(r.socket, room);
    await joinRoom(p.socket, room);
    const inbox = new Inbox(r.socket, "msg");
    const disconnected = nextEvent(r.socket, "disconnect", { timeout: 5_000 });
    disconnected.catch(() => {});
    r.socket.io.engine.close(); // at once after the join
    await disconnected;
    const reconnected = nextEvent(r.socket, "connect", { timeout: 10_000, what: "reconnect" });
    reconnected.catch(() => {});
    const missed = await publishOk(p.socket, room, "msg", "while away");
    await reconnected;
    assert.equal(r.socket.recovered, true, "recovered: the disconnect wrote the record");
    const got = await inbox.waitFor(1, { what: "the missed event" });
    assert.equal(got[0].offset, missed);
});
