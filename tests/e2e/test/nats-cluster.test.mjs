// A NATS node lost under traffic: two edges on a 3-node JetStream cluster (room stream and KV
// buckets with 3 replicas). Members on both edges are in one room; a publisher sends a numbered
// stream (each publish waits for its ack); the node that leads the room stream gets SIGKILL
// mid-stream. Before that, the leadership is moved (stepdown) to the node edge-1 is connected
// to, so the kill exercises both paths at once: edge-1 loses its NATS connection and reconnects
// to a survivor, and every edge loses the stream leader that republishes the fan-out. A member
// of edge-1 drops its transport just before the kill and comes back once the stream has a new
// leader (nats-server 2.9 elects one 4-9 s after the loss, its Raft election timeout; a client
// that comes back before that is not recovered at once, because its missed events cannot be
// read yet: docs/operations.md, "When a NATS node is lost").
//
// What must hold: every member (the publisher with `echo: true`) receives every acked event
// exactly once and in order (offsets strictly increasing); events acked after the kill are
// delivered; no service crashes. A publish during the election fails ({ok:false,
// unavailable}, or no ack within kAckTimeoutMs); such an event may or may not be stored, and
// if a member receives it, it is in order like any other. How many failed, and how long the
// election took, is printed, not asserted. The returning client must be recovered (same
// socket id, the events it missed replayed, exactly once, in order). While the node is down,
// nats-server 2.9 may place the ephemeral consumer of a stored-event read on it and never
// answer; the edge then reads through direct gets (any replica answers): without that, 5 of 8
// runs ended with the client not recovered.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connect as natsConnect } from "nats";
import { ClientPool, eventually, nextEvent, sleep, withTimeout } from "../lib/clients.mjs";
import { connectUser, edgeOf, joinRoom, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { httpStatus, kNatsAdminUser } from "../lib/stack.mjs";

const kStream = "ROOMCAST_ROOMS";
const kNodes = 3;
const kMembersPerEdge = 2; // besides the publisher (edge-2) and the returning client (edge-1)
const kIntervalMs = 20; // between an ack and the next publish
const kAckTimeoutMs = 15_000; // a publish not answered by then counts as failed
const kBeforeDropMs = 800; // publishing before the returning client drops
const kElectionDeadlineMs = 30_000; // for the room stream's new leader after the kill
const kRecoverySettleMs = 30_000; // for the returning client's events (catch-up reads may fail)
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
    // Bounded: a client still reconnecting towards the killed node may take its time to close.
    await withTimeout(nc?.close() ?? Promise.resolve(), 5_000, "closing the NATS admin connection").catch(() => {});
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

/** Asserts that member `m` holds every acked event once, in order, and nothing unpublished. */
function assertExactlyOnceInOrder(m, acked, published) {
    assert.deepEqual(m.problems, [], `${m.user}: unexpected deliveries`);
    assert.deepEqual(missing(m, acked), [], `${m.user} (${m.edge}): acked events never received`);
    for (let i = 1; i < m.seqs.length; i++) {
        assert.ok(
            m.seqs[i] > m.seqs[i - 1] && m.offsets[i] > m.offsets[i - 1],
            `${m.user} (${m.edge}): event ${m.seqs[i]} (offset ${m.offsets[i]}) after ${m.seqs[i - 1]} ` +
                `(offset ${m.offsets[i - 1]}): each exactly once, in order`,
        );
    }
    // An event whose publish failed may still have been stored (an ack lost with its node).
    const extra = m.seqs.filter((s) => published[s]?.outcome !== "ok");
    assert.ok(extra.every((s) => published[s] !== undefined), `${m.user}: received events never published: ${extra}`);
}

/** The acked events `m` has not received (seqs). */
function missing(m, acked) {
    const got = new Set(m.seqs);
    return acked.filter((r) => !got.has(r.seq)).map((r) => r.seq);
}

test("the room stream's leader node killed mid-stream: every member gets every acked event once, in order", async (t) => {
    const room = uniqueRoom("cluster");
    const [edge1, edge2] = stack.edges;

    // Members: the publisher and kMembersPerEdge on edge-2, kMembersPerEdge and the returning
    // client on edge-1; every one records what it receives.
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
        return m;
    };
    const pub = await join(edge2, "publisher");
    members.push(pub);
    for (let i = 0; i < kMembersPerEdge; i++) {
        members.push(await join(edge2, `e2-m${i}`));
        members.push(await join(edge1, `e1-m${i}`));
    }
    // Reconnects as socket.io-client does (quickly, recovery asked with its pid and offset),
    // except while reconnection is switched off around the kill (below).
    const back = await join(edge1, "returning", { reconnectionDelay: 200, reconnectionDelayMax: 1_000 });
    const reconnects = [];
    back.socket.io.on("reconnect_attempt", () => reconnects.push(Date.now()));

    // Where the edges' NATS connections are, and the stream's leadership onto edge-1's node.
    const edgeNodes = { "edge-1": await nodeOf("roomcast-edge/edge-1"), "edge-2": await nodeOf("roomcast-edge/edge-2") };
    assert.ok(edgeNodes["edge-1"] && edgeNodes["edge-2"], `edges' NATS nodes: ${JSON.stringify(edgeNodes)}`);
    const victim = stack.natsNodes.find((n) => n.name === edgeNodes["edge-1"]);
    await leadStreamOn(victim.name);

    // The numbered stream: one publish at a time, each waiting for its ack (bounded); `echo`
    // makes the publisher a receiver too.
    const published = []; // {seq, outcome: "ok" | error code | "timeout", at, ackAt, offset}
    const ackedCount = () => published.filter((r) => r.outcome === "ok").length;
    let publishing = true;
    const loop = (async () => {
        for (let seq = 0; publishing; seq++) {
            const rec = { seq, at: Date.now(), outcome: "pending" };
            published.push(rec);
            const ack = await withTimeout(
                new Promise((resolve) =>
                    pub.socket.emit("publish", { room, event: "tick", data: { seq }, echo: true }, resolve),
                ),
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
    let electedAt;
    let backAt;
    let meta;
    let socketId;
    try {
        await sleep(kBeforeDropMs);
        assert.ok(back.seqs.length > 0, "the returning client received events before it drops");
        // The returning client drops its transport before the kill and stays away until the
        // stream has a new leader.
        socketId = back.socket.id;
        back.socket.io.reconnection(false);
        const dropped = nextEvent(back.socket, "disconnect", { timeout: 5_000, what: "the returning client's disconnect" });
        back.socket.io.engine.close();
        await dropped;

        meta = (await stack.natsLeaders(kStream)).meta;
        killedAt = Date.now();
        await victim.kill("SIGKILL");
        await eventually(
            async () => {
                const { stream } = await stack.natsLeaders(kStream);
                assert.ok(stream && stream !== victim.name, `leader ${stream}`);
            },
            { timeout: kElectionDeadlineMs, what: `a new leader of ${kStream} after the kill` },
        );
        electedAt = Date.now();
        // Events acked after the election, before the client is back: missed, to be replayed.
        const ackedBefore = ackedCount();
        await eventually(() => assert.ok(ackedCount() >= ackedBefore + 5), {
            timeout: kAckTimeoutMs,
            interval: 20,
            what: "5 publishes acked after the election",
        });
        const reconnected = nextEvent(back.socket, "connect", { timeout: 15_000, what: "the returning client's reconnect" });
        back.socket.io.reconnection(true);
        back.socket.connect();
        await reconnected;
        backAt = Date.now();
        await sleep(kAfterBackMs);
    } finally {
        publishing = false;
        await loop;
    }

    // Every acked event reaches every member (bounded); then nothing more may come.
    const acked = published.filter((r) => r.outcome === "ok");
    await eventually(() => assert.ok(members.every((m) => missing(m, acked).length === 0)), {
        timeout: kSettleMs,
        what: "every acked event at every member",
    }).catch(() => {}); // asserted below, per member, with the details
    await sleep(300);

    const failed = published.filter((r) => r.outcome !== "ok");
    const afterKill = acked.filter((r) => r.at > killedAt);
    const stall = Math.max(0, ...published.filter((r) => r.ackAt >= killedAt).map((r) => r.ackAt - r.at));
    const outcomes = Object.fromEntries([...new Set(failed.map((r) => r.outcome))].map((o) => [o, failed.filter((r) => r.outcome === o).length]));
    console.log(
        `# nats-cluster: killed ${victim.name} (stream leader${meta === victim.name ? " and meta leader" : ""}); ` +
            `edges on ${JSON.stringify(edgeNodes)}; published ${published.length}: ok ${acked.length} ` +
            `(${afterKill.length} sent after the kill), failed ${failed.length} ${JSON.stringify(outcomes)}` +
            `${failed.length ? ` (seq ${failed[0].seq}-${failed.at(-1).seq})` : ""}; ` +
            `longest publish after the kill ${stall} ms; new stream leader ${electedAt - killedAt} ms after the kill`,
    );

    assert.ok(afterKill.length >= 10, `publishes acked after the kill: ${afterKill.length}`);
    for (const m of members) {
        assertExactlyOnceInOrder(m, acked, published);
    }
    for (const edge of stack.edges) {
        assert.equal(edge.running, true, `${edge.id} must not crash`);
        assert.equal(await httpStatus(`${edge.adminUrl}/readyz`), 200, `${edge.id} must be ready`);
    }

    // The returning client: recovered (it may take more than one reconnect: a catch-up read
    // that fails closes the transport, and the next reconnect asks again), then holding every
    // acked event once, in order.
    await t.test("the client away across the kill is recovered with every event once, in order", async () => {
        await eventually(() => assert.deepEqual(missing(back, acked), []), {
            timeout: kRecoverySettleMs,
            what: "every acked event at the returning client",
        }).catch(() => {});
        console.log(
            `# nats-cluster: returning client back ${backAt - killedAt} ms after the kill; ` +
                `${reconnects.length} automatic reconnect(s) after that; recovered ${back.socket.recovered}`,
        );
        assert.equal(back.socket.recovered, true, "the client that was away across the kill is recovered");
        assert.equal(back.socket.id, socketId, "a recovered session keeps its socket id");
        assertExactlyOnceInOrder(back, acked, published);
    });
});
