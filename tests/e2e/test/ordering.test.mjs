// Ordering and exactly-once fan-out across two edges: 200 websocket clients, half on each edge
// (direct edge URLs), join one room; 3 of them publish 200 events each (seq in the data) as fast
// as the acks allow (a window of publishes in flight, not one at a time). Every client must
// receive all 600 events (400 for a publisher: echo is off), nothing lost, nothing duplicated,
// each publisher's events in its publish order, offsets strictly increasing, and every event's
// offset equal to the publisher's ack for it.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientPool, sleep, withTimeout } from "../lib/clients.mjs";
import { connectUser, joinRoom, publishOk, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";

const kClients = 200;
const kPublishers = 3;
const kPerPublisher = 200;
const kWindow = 32; // publishes in flight per publisher
const kConnectWave = 50;
const kScenarioDeadlineMs = 60_000;
const kSettleMs = 500; // after the expected total, wait this long for duplicates

let stack;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({ edges: ["edge-1", "edge-2"], nginx: false });
});
after(async () => {
    clients.closeAll();
    await stack?.stop();
});

test(`${kClients} clients on 2 edges, ${kPublishers} publishers × ${kPerPublisher} pipelined: exact, ordered fan-out`, async () => {
    const started = Date.now();
    const room = uniqueRoom("order");
    const problems = [];
    const problem = (text) => {
        if (problems.length < 20) {
            problems.push(text);
        }
    };

    // Client i: edge i % 2; publishers are clients 0, 1 and 2 (edges 1, 2, 1).
    const members = [];
    for (let start = 0; start < kClients; start += kConnectWave) {
        const wave = [];
        for (let i = start; i < Math.min(kClients, start + kConnectWave); i++) {
            const edge = stack.edges[i % 2];
            wave.push(
                connectUser(clients, stack, edge.url, {
                    transports: ["websocket"],
                    reconnection: false,
                    user: i < kPublishers ? `pub-${i}` : `member-${i}`,
                }).then((c) => ({ ...c, index: i, edge: edge.id })),
            );
        }
        members.push(...(await Promise.all(wave)));
    }
    let disconnects = 0;
    let total = 0;
    for (const m of members) {
        m.lastSeq = new Map(); // publisher user → last seq received
        m.count = 0;
        m.lastOffset = -1n;
        m.seen = []; // [from, seq, offset] for the ack cross-check (publishers' events only)
        m.socket.on("disconnect", (reason) => {
            disconnects += 1;
            problem(`client ${m.index} disconnected: ${reason}`);
        });
        m.socket.on("seq", (data, meta, offset) => {
            total += 1;
            m.count += 1;
            if (meta?.room !== room || meta?.offset !== offset) {
                problem(`client ${m.index}: bad meta ${JSON.stringify(meta)} / offset ${offset}`);
                return;
            }
            const from = meta.from;
            if (from === m.user) {
                problem(`client ${m.index} received its own event (echo is off)`);
            }
            const prev = m.lastSeq.get(from) ?? -1;
            if (data?.seq !== prev + 1) {
                problem(`client ${m.index}: from ${from} seq ${data?.seq} after ${prev} (lost, duplicated or reordered)`);
            }
            m.lastSeq.set(from, data?.seq);
            const off = BigInt(offset);
            if (off <= m.lastOffset) {
                problem(`client ${m.index}: offset ${offset} after ${m.lastOffset}`);
            }
            m.lastOffset = off;
            if (m.index < 10) {
                m.seen.push([from, data?.seq, offset]);
            }
        });
    }
    for (let start = 0; start < kClients; start += kConnectWave) {
        await Promise.all(members.slice(start, start + kConnectWave).map((m) => joinRoom(m.socket, room)));
    }
    const connectedMs = Date.now() - started;

    const expectedPerClient = (m) => (m.index < kPublishers ? (kPublishers - 1) * kPerPublisher : kPublishers * kPerPublisher);
    const expectedTotal = members.reduce((n, m) => n + expectedPerClient(m), 0);

    // Publish: each publisher keeps kWindow publishes in flight; acks give the offsets.
    const acks = Array.from({ length: kPublishers }, () => new Array(kPerPublisher));
    const publishStarted = Date.now();
    const publishAll = Promise.all(
        members.slice(0, kPublishers).map(async (pub) => {
            let next = 0;
            const lane = async () => {
                while (next < kPerPublisher) {
                    const seq = next++;
                    acks[pub.index][seq] = await publishOk(pub.socket, room, "seq", { seq, pad: "x".repeat(64) });
                }
            };
            await Promise.all(Array.from({ length: kWindow }, lane));
        }),
    );

    let abandoned = false;
    const deliveredAll = (async () => {
        await publishAll;
        while (total < expectedTotal && !abandoned) {
            await sleep(20);
        }
    })();
    try {
        await withTimeout(
            deliveredAll,
            Math.max(1_000, kScenarioDeadlineMs - (Date.now() - started)),
            `${expectedTotal} deliveries (got ${total}) within ${kScenarioDeadlineMs} ms; problems: ${JSON.stringify(problems)}`,
        );
    } finally {
        abandoned = true;
    }
    const deliveredMs = Date.now() - publishStarted;
    await sleep(kSettleMs);
    console.log(
        `# ordering: ${kClients} clients connected+joined in ${connectedMs} ms; ` +
            `${kPublishers * kPerPublisher} events → ${expectedTotal} deliveries in ${deliveredMs} ms`,
    );

    assert.deepEqual(problems, [], "ordering/duplication/echo problems");
    assert.equal(disconnects, 0, "no client may be disconnected");
    assert.equal(total, expectedTotal, "total deliveries (after the settle time: no duplicates)");
    for (const m of members) {
        assert.equal(m.count, expectedPerClient(m), `client ${m.index} (${m.edge}) delivery count`);
        for (let p = 0; p < kPublishers; p++) {
            if (p !== m.index) {
                assert.equal(m.lastSeq.get(`pub-${p}`), kPerPublisher - 1, `client ${m.index}: last seq from pub-${p}`);
            }
        }
    }
    // Per-publisher acks increase with seq (pipelining kept each publisher's order) ...
    for (let p = 0; p < kPublishers; p++) {
        for (let seq = 1; seq < kPerPublisher; seq++) {
            assert.ok(BigInt(acks[p][seq]) > BigInt(acks[p][seq - 1]), `pub-${p}: ack offsets must increase with seq`);
        }
    }
    // ... and a delivered event carries exactly its publish ack's offset.
    for (const m of members.slice(0, 10)) {
        for (const [from, seq, offset] of m.seen) {
            const p = Number(from.slice("pub-".length));
            assert.equal(offset, acks[p][seq], `client ${m.index}: ${from} seq ${seq} offset vs publish ack`);
        }
    }
});
