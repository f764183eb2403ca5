// NATS restart under traffic: clients on both edges publish continuously to one room at a modest
// rate; NATS is stopped (SIGTERM), stays down 2 s, and starts again on the same port with the
// same JetStream data. The edges must reconnect and resubscribe, and events must flow across
// edges again within a bound.
//
// What a publisher may see during the outage is either a successful ack or {ok:false,
// error.code "unavailable"}; nothing may be delivered twice; no service may crash. How many
// events were acked but never delivered (and how many publishes failed) is measured and
// printed, not asserted: those figures are documented, not promised.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientPool, sleep, withTimeout } from "../lib/clients.mjs";
import { connectUser, edgeOf, joinRoom, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { httpStatus } from "../lib/stack.mjs";

const kPerEdge = 2; // publishing clients per edge (each also receives)
const kIntervalMs = 50; // per publisher: 20 publishes a second
const kAckTimeoutMs = 20_000; // an ack that has not come back by then counts as lost
const kDownMs = 2_000;
const kBeforeMs = 1_000;
const kAfterMs = 2_000; // traffic after the flow resumed
const kResumeDeadlineMs = 20_000; // from NATS being ready again to cross-edge delivery both ways

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({ edges: ["edge-1", "edge-2"], nginx: false });
});
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

test("NATS stopped for 2 s and restarted: edges reconnect, flow resumes, no duplicates, outage acks are ok or unavailable", async () => {
    const room = uniqueRoom("natsrestart");
    const members = [];
    for (const edge of stack.edges) {
        for (let i = 0; i < kPerEdge; i++) {
            const c = await connectUser(clients, stack, edge.url, {
                transports: ["websocket"],
                user: `${edge.id}-c${i}`,
            });
            assert.equal(edgeOf(c.socket), edge.id);
            await joinRoom(c.socket, room);
            members.push({
                ...c,
                edge: edge.id,
                published: [], // {seq, at, outcome: "ok"|"unavailable"|"timeout"|other code, offset}
                received: new Map(), // publisher user → Map(seq → count)
                duplicates: 0,
                disconnects: [],
                lastReceiveAt: 0,
            });
        }
    }
    const byUser = new Map(members.map((m) => [m.user, m]));
    const problems = [];
    for (const m of members) {
        m.socket.on("disconnect", (reason) => m.disconnects.push(reason));
        m.socket.on("tick", (data, meta) => {
            const from = meta?.from;
            if (!byUser.has(from) || !Number.isInteger(data?.seq)) {
                problems.push(`${m.user}: unexpected event ${JSON.stringify([data, meta])}`);
                return;
            }
            let seqs = m.received.get(from);
            if (!seqs) {
                seqs = new Map();
                m.received.set(from, seqs);
            }
            const n = (seqs.get(data.seq) ?? 0) + 1;
            seqs.set(data.seq, n);
            if (n > 1) {
                m.duplicates += 1;
            }
            m.lastReceiveAt = Date.now();
        });
    }

    // Phases, by publish time: before the stop, while NATS is down, after it is ready again.
    let phase = "before";
    let publishing = true;
    const pending = new Set();
    const publishOne = (m) => {
        const rec = { seq: m.published.length, at: Date.now(), phase, outcome: "pending" };
        m.published.push(rec);
        const done = new Promise((resolve) => {
            const timer = setTimeout(() => {
                rec.outcome = "timeout";
                resolve();
            }, kAckTimeoutMs);
            m.socket.emit("publish", { room, event: "tick", data: { seq: rec.seq } }, (ack) => {
                clearTimeout(timer);
                if (rec.outcome !== "pending") {
                    return;
                }
                rec.ackAt = Date.now();
                if (ack?.ok === true && typeof ack.offset === "string") {
                    rec.outcome = "ok";
                    rec.offset = ack.offset;
                } else if (ack?.ok === false && typeof ack.error?.code === "string") {
                    rec.outcome = ack.error.code;
                } else {
                    rec.outcome = `malformed ack ${JSON.stringify(ack)}`;
                }
                resolve();
            });
        });
        pending.add(done);
        done.then(() => pending.delete(done));
    };
    const loops = members.map(async (m, i) => {
        await sleep((i * kIntervalMs) / members.length); // spread the publishers
        while (publishing) {
            if (m.socket.connected) {
                publishOne(m);
            }
            await sleep(kIntervalMs);
        }
    });

    // Has an event published by an edge-`from` client at or after `since` reached an edge-`to` client?
    const crossed = (fromEdge, toEdge, since) =>
        members.some(
            (r) =>
                r.edge === toEdge &&
                members.some(
                    (p) =>
                        p.edge === fromEdge &&
                        p.published.some((rec) => rec.at >= since && r.received.get(p.user)?.has(rec.seq)),
                ),
        );

    let resumeMs;
    let readyAgainAt;
    try {
        await sleep(kBeforeMs);
        assert.ok(crossed("edge-1", "edge-2", 0) && crossed("edge-2", "edge-1", 0), "events must flow before the restart");

        phase = "down";
        const stoppedAt = Date.now();
        await stack.stopNats();
        await sleep(kDownMs);
        await stack.startNats();
        readyAgainAt = Date.now();
        phase = "after";
        console.log(`# nats-restart: NATS down for ${readyAgainAt - stoppedAt} ms (stop, ${kDownMs} ms, start until JetStream healthy)`);

        await withTimeout(
            (async () => {
                while (!(crossed("edge-1", "edge-2", readyAgainAt) && crossed("edge-2", "edge-1", readyAgainAt))) {
                    await sleep(50);
                }
            })(),
            kResumeDeadlineMs,
            "events published after the NATS restart to cross between the edges both ways",
        );
        resumeMs = Date.now() - readyAgainAt;
        await sleep(kAfterMs);
    } finally {
        publishing = false;
        await Promise.all(loops);
    }
    // Every ack comes back (or times out), then late deliveries settle.
    await Promise.all([...pending]);
    await sleep(1_000);

    // Figures, per client: acked but not received by it, failed publishes, and so on.
    const lines = [];
    let ackedNotReceived = 0;
    for (const r of members) {
        let missing = 0;
        let missingDown = 0;
        for (const p of members) {
            if (p === r) {
                continue;
            }
            for (const rec of p.published) {
                if (rec.outcome === "ok" && !r.received.get(p.user)?.has(rec.seq)) {
                    missing += 1;
                    if (rec.phase === "down") {
                        missingDown += 1;
                    }
                }
            }
        }
        ackedNotReceived += missing;
        const outcomes = {};
        for (const rec of r.published) {
            const key = `${rec.phase}:${rec.outcome}`;
            outcomes[key] = (outcomes[key] ?? 0) + 1;
        }
        lines.push(
            `#   ${r.user} (${r.edge}): published ${r.published.length} ${JSON.stringify(outcomes)}; ` +
                `acked-by-others-but-not-received ${missing} (of which published while down ${missingDown}); ` +
                `duplicates ${r.duplicates}; disconnects ${JSON.stringify(r.disconnects)}`,
        );
    }
    const all = members.flatMap((m) => m.published);
    const count = (pred) => all.filter(pred).length;
    console.log(
        `# NATS RESTART FIGURES: resume ${resumeMs} ms after NATS was ready; ` +
            `publishes ${all.length}: ok ${count((r) => r.outcome === "ok")}, ` +
            `unavailable ${count((r) => r.outcome === "unavailable")} ` +
            `(while down ${count((r) => r.phase === "down" && r.outcome === "unavailable")}), ` +
            `timeout ${count((r) => r.outcome === "timeout")}, ` +
            `other ${count((r) => !["ok", "unavailable", "timeout"].includes(r.outcome))}; ` +
            `acked-but-not-received (sum over receivers) ${ackedNotReceived}\n${lines.join("\n")}`,
    );

    // What must hold.
    assert.deepEqual(problems, [], "unexpected events");
    for (const edge of stack.edges) {
        assert.equal(edge.running, true, `${edge.id} must not crash`);
        assert.equal(await httpStatus(`${edge.adminUrl}/readyz`), 200, `${edge.id} must be ready again`);
    }
    const bad = all.filter((r) => r.outcome !== "ok" && r.outcome !== "unavailable");
    assert.deepEqual(
        bad.map((r) => `${r.phase}:${r.outcome}`).slice(0, 10),
        [],
        `every publish ack must be {ok:true, offset} or {ok:false, error.code "unavailable"} (${bad.length} were not)`,
    );
    for (const m of members) {
        assert.equal(m.duplicates, 0, `${m.user} received duplicates`);
    }
    assert.ok(resumeMs <= kResumeDeadlineMs);
});
