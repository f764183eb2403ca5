// Drain on SIGTERM under traffic (PRODUCT.md §5, docs/operations.md "Drain"): an edge told to
// stop turns not-ready at once, stops accepting, tells its clients to reconnect elsewhere
// (spread over --drain-spread), and exits 0 within its drain timeout. Its clients reconnect
// through NGINX to the other edge and recover: every event published during the whole
// sequence reaches every client exactly once, in order.

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { ClientPool, nextEvent, sleep, withTimeout } from "../lib/clients.mjs";
import { Inbox, connectUser, edgeOf, joinRoom, publishOk, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { httpStatus } from "../lib/stack.mjs";

const kClientsPerTransport = 10;
const kDrainTimeoutMs = 10_000;

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2"],
        edgeArgs: ["--drain-timeout", `${kDrainTimeoutMs}ms`, "--drain-spread", "2s", ...(process.env.EDGE_DEBUG ? ["--log-level", "debug"] : [])],
    });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

/** A client through NGINX whose session is on `edgeId` (the balancer picks; retry until it does). */
async function clientOn(edgeId, opts) {
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
        const c = await connectUser(clients, stack, stack.nginxUrl, { withCredentials: true, ...opts });
        if (edgeOf(c.socket) === edgeId) {
            return c;
        }
        c.socket.disconnect();
        clients.sockets.delete(c.socket);
    }
    throw new Error(`connections through NGINX never reached ${edgeId}`);
}

test("SIGTERM under traffic: readiness 503 at once, clients move to the other edge and recover, nothing lost, exit 0 in time", async () => {
    const draining = stack.edges[0];
    const survivor = stack.edges[1];
    const room = uniqueRoom("drain");
    const publisher = await connectUser(clients, stack, survivor.url, { transports: ["websocket"], user: "publisher" });
    await joinRoom(publisher.socket, room);

    const moving = [];
    for (const transports of (process.env.DRAIN_T ? [[process.env.DRAIN_T]] : [["websocket"], ["polling"]])) {
        for (let i = 0; i < kClientsPerTransport; i++) {
            const c = await clientOn(draining.id, { transports, user: `mover-${transports[0]}-${i}` });
            await joinRoom(c.socket, room);
            c.inbox = new Inbox(c.socket, "tick");
            moving.push(c);
        }
    }

    // Traffic throughout: one event every 20 ms, acks awaited in order.
    let seq = 0;
    let publishing = true;
    const published = (async () => {
        while (publishing) {
            await publishOk(publisher.socket, room, "tick", { seq: seq++ });
            await sleep(20);
        }
    })();
    await sleep(300);

    const reconnected = moving.map((c) => {
        const p = nextEvent(c.socket, "connect", { timeout: kDrainTimeoutMs + 15_000, what: `${c.user} reconnects` });
        p.catch(() => {});
        return p;
    });
    const started = Date.now();
    const exit = draining.stop();
    // Readiness turns 503 at once (the ingress stops sending new clients).
    await withTimeout(
        (async () => {
            while ((await httpStatus(`${draining.adminUrl}/readyz`)) === 200) {
                await sleep(20);
            }
        })(),
        2_000,
        "readiness of the draining edge to fail",
    );
    const info = await exit;
    const took = Date.now() - started;
    console.log(`# drain: edge-1 exited with ${JSON.stringify(info)} after ${took} ms`);
    assert.equal(info.code, 0, `the draining edge exits 0: ${JSON.stringify(info)}`);
    assert.ok(!info.killed, "the edge exited by itself, not by SIGKILL");
    assert.ok(took < kDrainTimeoutMs + 2_000, `exited within the drain timeout (${took} ms)`);

    await Promise.all(reconnected);
    for (const c of moving) {
        assert.equal(edgeOf(c.socket), survivor.id, `${c.user} moved to the other edge`);
        assert.equal(c.socket.recovered, true, `${c.user} recovered its session`);
    }
    await sleep(500);
    publishing = false;
    await published;
    const total = seq;
    for (const c of moving) {
        await c.inbox.waitFor(total, { timeout: 10_000, what: `${c.user}: every tick` });
        const seqs = c.inbox.datas.map((d) => d.seq);
        assert.deepEqual(seqs, [...Array(total).keys()], `${c.user}: every tick exactly once, in order`);
    }
    console.log(`# drain: ${moving.length} clients moved and recovered; ${total} events, none lost or duplicated`);
    await draining.restart();
});
