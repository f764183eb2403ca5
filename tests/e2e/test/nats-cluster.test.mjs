// A NATS node lost under traffic: two edges on a 3-node JetStream cluster (room stream and KV
// buckets with 3 replicas). Members on both edges are in one room; a publisher sends a numbered
// stream (each publish waits for its ack); the node that leads the room stream gets SIGKILL
// mid-stream. Before that, the leadership is moved (stepdown) to the node edge-1 is connected
// to, so the kill exercises both paths at once: edge-1 loses its NATS connection and reconnects
// to a survivor, and every edge loses the stream leader that republishes the fan-out. A member
// of edge-1 drops its transport just before the kill and comes back after it.
//
// What must hold: every member (the returning one too) receives every acked event exactly once
// and in order (offsets strictly increasing); events acked after the kill are delivered; the
// returning client is recovered (same socket id, the events it missed replayed); no service
// crashes. A publish during the election may fail ({ok:false}); such an event may or may not be
// stored, and if a member receives it, it is in order like any other. How many failed, and how
// long publishing stalled, is printed, not asserted.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect as natsConnect } from "nats";
import { ClientPool, nextEvent, sleep, withTimeout } from "../lib/clients.mjs";
import { connectUser, edgeOf, joinRoom, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { httpStatus, kNatsAdminUser } from "../lib/stack.mjs";

const kStream = "ROOMCAST_ROOMS";
const kNodes = 3;
const kMembersPerEdge = 2; // besides the publisher (edge-2) and the returning client (edge-1)
const kIntervalMs = 20; // between an ack and the next publish
const kAckTimeoutMs = 15_000; // a publish not answered by then counts as failed
const kBeforeDropMs = 800; // publishing before the returning client drops
const kAwayMs = 4_000; // the returning client's reconnection delay (it is away across the kill)
const kAfterBackMs = 1_500; // publishing after it is back
const kSettleMs = 15_000; // for the last deliveries
const kStepdownTries = 20;

let stack;
let nc;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({ edges: ["edge-1", "edge-2"], nginx: false, natsCluster: kNodes });
    nc = await natsConnect({ ...stack.natsOptions(kNatsAdminUser), reconnectTimeWait: 200, maxReconnectAttempts: -1 });
});
after(async () => {
    clients.closeAll();
    await nc?.close().catch(() => {});
    await stack?.stop();
});

/** The server name of the node a client named `name` is connected to (its /connz), bounded. */
async function nodeOf(name) {
    for (const node of stack.natsNodes.filter((n) => n.running)) {
        const res = await fetch(`${node.monitorUrl}/connz?limit=1024`, { signal: AbortSignal.timeout(2_000) });
        const connz = await res.json();
        if ((connz.connections ?? []).some((c) => c.name === name)) {
            return node.name;
        }
    }
    return undefined;
}

/** Moves the room stream's leadership to `node` (stepdown until a new election picks it). */
async function leadStreamOn(node) {
    for (let i = 0; i < kStepdownTries; i++) {
        const { stream } = await stack.natsLeaders(kStream);
        if (stream === node) {
            return;
        }
        if (stream) {
            await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${kStream}`, undefined, { timeout: 5_000 }).catch(() => {});
        }
        // The election after a stepdown takes a few hundred ms.
        const until = Date.now() + 5_000;
        while (Date.now() < until) {
            await sleep(100);
            const now = (await stack.natsLeaders(kStream)).stream;
            if (now && now !== stream) {
                break;
            }
        }
    }
    assert.fail(`the leadership of ${kStream} did not move to ${node} in ${kStepdownTries} stepdowns`);
}

test("the room stream's leader node killed mid-stream: every member gets every acked event once, in order; a returning client recovers", async () => {
    const room = uniqueRoom("cluster");
    const [edge1, edge2] = stack.edges;

    // Members: the publisher and kMembersPerEdge on edge-2, the returning client and
    // kMembersPerEdge on edge-1; every one records what it receives.
    const members = [];
    const join = async (edge, user, opts = {}) => {
        const c = await connectUser(clients, stack, edge.url, { transports: ["websocket"], user, ...opts });
        assert.equal(edgeOf(c.socket), edge.id);
        await joinRoom(c.socket, room);
        const m = { ...c, edge: edge.id, seqs: [], offsets: [], problems: [] };
        c.socket.on("tick", (data, meta, offset) => {
            if (!Number.isInteger(data?.seq) || meta?.room !== room || typeof offset !== "string") {
                m.problems.push(`unexpected ${JSON.stringify([data, meta, offset])}`);
                return;
            }
            m.seqs.push(data.seq);
            m.offsets.push(BigInt(offset));
        });
        members.push(m);
        return m;
    };
    const pub = await join(edge2, "publisher");
    for (let i = 0; i < kMembersPerEdge; i++) {
        await join(edge2, `e2-m${i}`);
        await join(edge1, `e1-m${i}`);
    }
    const back = await join(edge1, "returning", {
        reconnectionDelay: kAwayMs,
        reconnectionDelayMax: kAwayMs,
        randomizationFactor: 0,
    });

    // Where the edges' NATS connections are, and the stream's leadership onto edge-1's node.
    const edgeNodes = { "edge-1": await nodeOf("roomcast-edge/edge-1"), "edge-2": await nodeOf("roomcast-edge/edge-2") };
    assert.ok(edgeNodes["edge-1"] && edgeNodes["edge-2"], `edges' NATS nodes: ${JSON.stringify(edgeNodes)}`);
    const victim = stack.natsNodes.find((n) => n.name === edgeNodes["edge-1"]);
    await leadStreamOn(victim.name);

    // The numbered stream: one publish at a time, each waiting for its ack (bounded).
    const published = []; // {seq, outcome: "ok" | error code | "timeout", at, ackAt, offset}
    let publishing = true;
    const loop = (async () => {
        for (let seq = 0; publishing; seq++) {
            const rec = { seq, at: Date.now(), outcome: "pending" };
            published.push(rec);
            const ack = await withTimeout(
                new Promise((resolve) => pub.socket.emit("publish", { room, event: "tick", data: { seq } }, resolve)),
                kAckTimeoutMs,
                `ack of publish ${seq}`,
            ).catch(() => undefined);
            rec.ackAt = Date.now();
            if (ack === undefined) {
                rec.outcome = "timeout";
            } else if (ack?.ok === true && typeof ack.offset === "string") {
                rec.outcome = "ok";
                rec.offset = ack.offset;
            } else {
                rec.outcome = ack?.error?.code ?? `malformed ${JSON.stringify(ack)}`;
            }
            await sleep(kIntervalMs);
        }
    })();

    let killedAt;
    let backAt;
    let meta;
    let socketId;
    try {
        await sleep(kBeforeDropMs);
        assert.ok(back.seqs.length > 0, "the returning client received events before it drops");
        // The returning client drops its transport; it reconnects kAwayMs later, after the kill.
        socketId = back.socket.id;
        const dropped = nextEvent(back.socket, "disconnect", { timeout: 5_000, what: "the returning client's disconnect" });
        back.socket.io.engine.close();
        await dropped;
        const reconnected = nextEvent(back.socket, "connect", { timeout: kAwayMs + 20_000, what: "the returning client's reconnect" });
        reconnected.catch(() => {});

        meta = (await stack.natsLeaders(kStream)).meta;
        killedAt = Date.now();
        await victim.kill("SIGKILL");
        await reconnected;
        backAt = Date.now();
        assert.ok(backAt - killedAt > 1_000, "the returning client must have been away across the kill");
        await sleep(kAfterBackMs);
    } finally {
        publishing = false;
        await loop;
    }

    // Every acked event reaches every member (bounded); then nothing more may come.
    const acked = published.filter((r) => r.outcome === "ok");
    const ackedSeqs = new Set(acked.map((r) => r.seq));
    const missing = (m) => acked.filter((r) => !m.seqs.includes(r.seq)).map((r) => r.seq);
    await withTimeout(
        (async () => {
            while (members.some((m) => missing(m).length)) {
                await sleep(100);
            }
        })(),
        kSettleMs,
        "every acked event at every member",
    ).catch(() => {}); // asserted below, per member, with the details
    await sleep(300);

    const failed = published.filter((r) => r.outcome !== "ok");
    const afterKill = acked.filter((r) => r.at > killedAt);
    const stall = Math.max(0, ...published.filter((r) => r.ackAt >= killedAt).map((r) => r.ackAt - r.at));
    console.log(
        `# nats-cluster: killed ${victim.name} (stream leader${meta === victim.name ? " and meta leader" : ""}); ` +
            `edges on ${JSON.stringify(edgeNodes)}; published ${published.length}: ok ${acked.length} ` +
            `(${afterKill.length} sent after the kill), failed ${JSON.stringify(failed.map((r) => `${r.seq}:${r.outcome}`))}; ` +
            `longest publish after the kill ${stall} ms; returning client back ${backAt - killedAt} ms after the kill, ` +
            `recovered ${back.socket.recovered}`,
    );

    assert.ok(afterKill.length >= 10, `publishes acked after the kill: ${afterKill.length}`);
    for (const m of members) {
        assert.deepEqual(m.problems, [], `${m.user}: unexpected deliveries`);
        assert.deepEqual(missing(m), [], `${m.user} (${m.edge}): acked events never received`);
        for (let i = 1; i < m.seqs.length; i++) {
            assert.ok(
                m.seqs[i] > m.seqs[i - 1] && m.offsets[i] > m.offsets[i - 1],
                `${m.user} (${m.edge}): event ${m.seqs[i]} (offset ${m.offsets[i]}) after ${m.seqs[i - 1]} ` +
                    `(offset ${m.offsets[i - 1]}): each exactly once, in order`,
            );
        }
        const extra = m.seqs.filter((s) => !ackedSeqs.has(s));
        assert.ok(
            extra.every((s) => published[s]?.outcome !== "ok"),
            `${m.user}: received events never published: ${extra}`,
        );
    }
    assert.equal(back.socket.recovered, true, "the client that was away across the kill is recovered");
    assert.equal(back.socket.id, socketId, "a recovered session keeps its socket id");
    for (const edge of stack.edges) {
        assert.equal(edge.running, true, `${edge.id} must not crash`);
        assert.equal(await httpStatus(`${edge.adminUrl}/readyz`), 200, `${edge.id} must be ready`);
    }
});
