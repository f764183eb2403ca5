// Long-polling clients through NGINX (the local stack's cookie affinity, scripts/lib/nginx.conf.template)
// in front of two real edges:
// - with the affinity cookie (Node.js clients need withCredentials: true) every request of a
//   session reaches the edge holding it;
// - without it NGINX spreads a session's requests over both edges, and the edge that does not
//   hold the session forwards them to the owner over NATS (roomcast.edge.<id>.http): messages
//   must still arrive, all of them, in order;
// - a cookieless polling client whose session's edge is SIGKILLed reconnects (to the live edge);
// - a forwarded request whose owner vanishes after receiving it ends within the probe interval,
//   not at the forwarding deadline (pingInterval + pingTimeout + 5 s).
// Which edge served each request is read from NGINX's access log (edge=<id>).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { connect as natsConnect } from "nats";
import { ClientPool, nextEvent, sleep, waitConnected, withTimeout } from "../lib/clients.mjs";
import { Inbox, connectUser, edgeOf, joinRoom, publishOk, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";


const kMessages = 50;
const kDeliveryMs = 20_000;

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

const otherEdge = (id) => stack.edges.find((e) => e.id !== id);
const affinityCookie = (socket) => socket.io.engine?._cookieJar?._cookies?.get("roomcast_affinity")?.value;

/** NGINX access-log lines for Engine.IO session `sid`: [{method, status, edge}]. */
function nginxRequestsFor(sid) {
    const text = readFileSync(path.join(stack.dir, "logs", "nginx-access.log"), "utf8");
    const out = [];
    for (const line of text.split("\n")) {
        if (!line.includes(`sid=${sid}`)) {
            continue;
        }
        const m = /"(GET|POST) [^"]*" (\d{3}) .* edge=(\S*)/.exec(line);
        if (m) {
            out.push({ method: m[1], status: Number(m[2]), edge: m[3] });
        }
    }
    return out;
}

/** Publishes `n` events {seq} pipelined (all emitted at once); resolves with the ack offsets. */
function publishMany(socket, room, event, n, tag) {
    return Promise.all(
        Array.from({ length: n }, (_, seq) => publishOk(socket, room, event, { tag, seq })),
    );
}

function assertInOrder(inbox, tag, n, what) {
    const seqs = inbox.items.filter((i) => i.data?.tag === tag).map((i) => i.data.seq);
    assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i), `${what}: all ${n}, in order, once each`);
    const offsets = inbox.items.map((i) => BigInt(i.offset));
    for (let i = 1; i < offsets.length; i++) {
        assert.ok(offsets[i] > offsets[i - 1], `${what}: offsets must increase (${offsets[i - 1]} then ${offsets[i]})`);
    }
}

test("polling through NGINX with the cookie: connect, join, exchange with a websocket client on the other edge", async () => {
    const p = await connectUser(clients, stack, stack.nginxUrl, {
        transports: ["polling"],
        withCredentials: true,
        user: "poller",
    });
    const pEdge = edgeOf(p.socket);
    assert.equal(affinityCookie(p.socket), pEdge, "the affinity cookie must name the edge holding the session");
    const w = await connectUser(clients, stack, otherEdge(pEdge).url, { transports: ["websocket"], user: "ws" });
    const room = uniqueRoom("aff");
    await joinRoom(p.socket, room);
    await joinRoom(w.socket, room);
    const pIn = new Inbox(p.socket, "m");
    const wIn = new Inbox(w.socket, "m");

    await Promise.all([publishMany(p.socket, room, "m", kMessages, "p"), publishMany(w.socket, room, "m", kMessages, "w")]);
    await wIn.waitFor(kMessages, { timeout: kDeliveryMs, what: "websocket client receiving the poller's events" });
    await pIn.waitFor(kMessages, { timeout: kDeliveryMs, what: "poller receiving the websocket client's events" });
    assertInOrder(wIn, "p", kMessages, "poller → websocket");
    assertInOrder(pIn, "w", kMessages, "websocket → poller");
    assert.equal(p.socket.io.engine.transport.name, "polling");

    const sid = p.socket.io.engine.id;
    const served = nginxRequestsFor(sid);
    assert.ok(served.length >= 3, `expected several polling requests of ${sid} in the NGINX log, got ${served.length}`);
    const elsewhere = served.filter((r) => r.edge !== pEdge);
    assert.deepEqual(elsewhere, [], `with the cookie every request must reach ${pEdge}`);
    assert.deepEqual(served.filter((r) => r.status !== 200), [], "every polling request must succeed");
    assert.equal(affinityCookie(p.socket), pEdge, "the cookie must not move");
});

test(`polling through NGINX without the cookie: requests forwarded over NATS, ${kMessages} messages each way in order`, async () => {
    const p = await connectUser(clients, stack, stack.nginxUrl, {
        transports: ["polling"],
        withCredentials: false,
        user: "nocookie",
    });
    const pEdge = edgeOf(p.socket);
    assert.equal(affinityCookie(p.socket), undefined, "withCredentials: false keeps no cookie");
    const w = await connectUser(clients, stack, otherEdge(pEdge).url, { transports: ["websocket"], user: "ws" });
    const room = uniqueRoom("nocookie");
    await joinRoom(p.socket, room);
    await joinRoom(w.socket, room);
    const pIn = new Inbox(p.socket, "m");
    const wIn = new Inbox(w.socket, "m");

    await Promise.all([publishMany(p.socket, room, "m", kMessages, "p"), publishMany(w.socket, room, "m", kMessages, "w")]);
    await wIn.waitFor(kMessages, { timeout: kDeliveryMs, what: "websocket client receiving the cookieless poller's events" });
    await pIn.waitFor(kMessages, { timeout: kDeliveryMs, what: "cookieless poller receiving the websocket client's events" });
    // A second round, published one at a time, so that many more polling requests are made.
    for (let seq = 0; seq < 10; seq++) {
        await publishOk(w.socket, room, "m", { tag: "w2", seq });
        await publishOk(p.socket, room, "m", { tag: "p2", seq });
    }
    await pIn.waitFor(kMessages + 10, { timeout: kDeliveryMs, what: "poller receiving the second round" });
    await wIn.waitFor(kMessages + 10, { timeout: kDeliveryMs, what: "websocket client receiving the second round" });
    await sleep(300);
    assertInOrder(wIn, "p", kMessages, "cookieless poller → websocket");
    assertInOrder(pIn, "w", kMessages, "websocket → cookieless poller");
    assertInOrder(wIn, "p2", 10, "cookieless poller → websocket, one at a time");
    assertInOrder(pIn, "w2", 10, "websocket → cookieless poller, one at a time");
    assert.equal(pIn.items.length, kMessages + 10, "no duplicates at the poller");
    assert.equal(wIn.items.length, kMessages + 10, "no duplicates at the websocket client");
    assert.equal(p.socket.connected, true, "the session must have survived the whole exchange");
    assert.equal(edgeOf(p.socket), pEdge, "still the same session");

    const served = nginxRequestsFor(p.socket.io.engine.id);
    const forwarded = served.filter((r) => r.edge !== pEdge);
    assert.ok(
        forwarded.length > 0,
        `some of the ${served.length} requests must have landed on the other edge (and been forwarded): ` +
            JSON.stringify(served),
    );
    assert.deepEqual(
        served.filter((r) => r.status !== 200),
        [],
        `every request must succeed, forwarded or not (${forwarded.length} of ${served.length} forwarded)`,
    );
});

test("a cookieless polling client whose session's edge is SIGKILLed reconnects to the live edge", async () => {
    const p = await connectUser(clients, stack, stack.nginxUrl, {
        transports: ["polling"],
        withCredentials: false,
        user: "survivor",
    });
    const deadId = edgeOf(p.socket);
    const dead = stack.edges.find((e) => e.id === deadId);
    const live = otherEdge(deadId);
    const w = await connectUser(clients, stack, live.url, { transports: ["websocket"], user: "ws" });
    const room = uniqueRoom("kill");
    await joinRoom(p.socket, room);
    await joinRoom(w.socket, room);
    const pIn = new Inbox(p.socket, "m");
    await publishOk(w.socket, room, "m", "before");
    await pIn.waitFor(1, { what: "poller receiving an event before the kill" });

    const disconnected = nextEvent(p.socket, "disconnect", { timeout: 20_000, what: "disconnect after the owner edge died" });
    disconnected.catch(() => {});
    const t0 = Date.now();
    await dead.kill("SIGKILL");
    try {
        // The client notices at its next request (a held GET forwarded to the dead edge ends
        // within the forwarder's probe interval): keep it sending, as an active client does.
        const poke = setInterval(() => p.socket.connected && p.socket.emit("noop"), 200);
        try {
            const [reason] = await disconnected;
            assert.ok(["transport error", "transport close"].includes(reason), `disconnect reason: ${reason}`);
            await waitConnected(p.socket, { timeout: 20_000, what: "reconnect through NGINX after the kill" });
        } finally {
            clearInterval(poke);
        }
        console.log(`# affinity: cookieless poller reconnected ${Date.now() - t0} ms after SIGKILL of ${deadId}, ` +
            `recovered=${p.socket.recovered}`);
        assert.equal(edgeOf(p.socket), live.id, "the new session must be on the live edge");
        if (!p.socket.recovered) {
            await joinRoom(p.socket, room);
        }
        const off = await publishOk(w.socket, room, "m", "after");
        await withTimeout(
            (async () => {
                for (;;) {
                    if (pIn.items.some((i) => i.data === "after")) {
                        return;
                    }
                    await sleep(50);
                }
            })(),
            10_000,
            "the reconnected poller receiving a new event",
        );
        assert.equal(pIn.items.find((i) => i.data === "after").offset, off);
        await publishOk(p.socket, room, "m", "from the reconnected poller");
    } finally {
        await dead.restart();
    }
});

test("a forwarded poll whose owner vanishes after receiving it ends at once (the owner is probed)", async () => {
    // A stand-in owner with the edge role's rights: it takes the forwarded GET and goes away
    // without answering, as an edge SIGKILLed between NATS delivering a request and the server
    // noticing the dead connection. (With a real edge that window is too small to hit on demand.)
    const owner = await natsConnect({ ...stack.natsOptions("edge"), name: "vanishing-owner" });
    let received;
    const got = new Promise((resolve) => (received = resolve));
    const sub = owner.subscribe("roomcast.edge.ghost-1.http", { callback: (_err, m) => received(m) });
    await owner.flush();
    try {
        const edge = stack.edges[0];
        const sid = `ghost-1.${"A".repeat(20)}`;
        const t0 = Date.now();
        const response = fetch(`${edge.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
            signal: AbortSignal.timeout(30_000),
        });
        await withTimeout(got, 5_000, "the forwarded GET reaching the stand-in owner");
        sub.unsubscribe();
        await owner.flush();
        const r = await response;
        const ms = Date.now() - t0;
        console.log(`# forwarded GET to a vanished owner ended after ${ms} ms with ${r.status}`);
        assert.equal(r.status, 400, "session unknown, as when the owner is already gone");
        assert.deepEqual(await r.json(), { code: 1, message: "Session ID unknown" });
        assert.ok(ms < 10_000, `ended by the probe (${ms} ms), not at the forwarding deadline`);
    } finally {
        await owner.close();
    }
});
