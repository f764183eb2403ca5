// 1,000 concurrent websocket clients in 20 rooms of 50; every client broadcasts 5 messages to its
// room. Every client must receive exactly 5 messages, in order, from each of the 49 other members
// of its room and nothing from anyone else: nothing lost, nothing duplicated, nothing misrouted.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientPool, emitWithAck, sleep, waitConnected, withTimeout } from "../lib/clients.mjs";
import { startServer } from "../lib/servers.mjs";

const kClients = 1_000;
const kRooms = 20;
const kRoomSize = kClients / kRooms;
const kMessagesPerClient = 5;
// Connects in waves so the test measures the server, not a SYN flood from one process.
const kConnectWave = 100;
// The whole scenario, connect to last delivery, must fit in this.
const kScenarioDeadlineMs = 60_000;
// After the expected total arrived, wait this long for duplicates to show up.
const kSettleMs = 500;
// No new delivery for this long, with messages still missing, means they are lost.
const kStallMs = 10_000;

let server;
const clients = new ClientPool();

before(async () => {
    // Long heartbeats: 1,000 clients in one Node process must not miss a 300 ms ping deadline.
    server = await startServer({ args: ["--ping-interval", "25s", "--ping-timeout", "20s"] });
});
after(async () => {
    clients.closeAll();
    await server?.stop();
});

const roomOf = (i) => `load-${Math.floor(i / kRoomSize)}`;

test(`${kClients} clients in ${kRooms} rooms of ${kRoomSize}: exact per-sender delivery`, async () => {
    const started = Date.now();
    const expectedPerClient = (kRoomSize - 1) * kMessagesPerClient;
    const expectedTotal = kClients * expectedPerClient;

    // received[i][j] = messages client i got from client j, lastSeq[i][j] the last in-order seq;
    // problems collects what cannot happen.
    const received = Array.from({ length: kClients }, () => new Uint16Array(kClients));
    const lastSeq = Array.from({ length: kClients }, () => new Int16Array(kClients).fill(-1));
    const problems = [];
    const problem = (text) => {
        if (problems.length < 20) {
            problems.push(text);
        }
    };
    let total = 0;
    let disconnects = 0;
    let abandoned = false; // set when the deadline passed, so the polling loop below stops

    const sockets = [];
    for (let i = 0; i < kClients; i++) {
        const { socket } = clients.socket(server.url, {
            transports: ["websocket"],
            forceNew: true,
            reconnection: false,
            autoConnect: false,
        });
        const me = i;
        socket.on("room:message", (room, sender, seq) => {
            total += 1;
            if (room !== roomOf(me)) {
                problem(`client ${me} (${roomOf(me)}) got a message for ${room} from ${sender}`);
                return;
            }
            if (!Number.isInteger(sender) || sender < 0 || sender >= kClients) {
                problem(`client ${me} got a message with bad sender ${JSON.stringify(sender)}`);
                return;
            }
            if (sender === me) {
                problem(`client ${me} received its own broadcast`);
            }
            if (roomOf(sender) !== room) {
                problem(`client ${me} got a message in ${room} from ${sender}, a member of ${roomOf(sender)}`);
            }
            received[me][sender] += 1;
            const last = lastSeq[me][sender];
            if (seq === last + 1) {
                lastSeq[me][sender] = seq;
            } else if (Number.isInteger(seq) && seq > last + 1) {
                problem(`client ${me}: from ${sender} got seq ${seq} after seq ${last} (lost or reordered)`);
                lastSeq[me][sender] = seq;
            } else {
                problem(`client ${me}: from ${sender} got seq ${JSON.stringify(seq)} after seq ${last} (duplicate or reordered)`);
            }
        });
        socket.on("disconnect", (reason) => {
            disconnects += 1;
            problem(`client ${me} disconnected: ${reason}`);
        });
        sockets.push(socket);
    }

    const scenario = async () => {
        for (let w = 0; w < kClients; w += kConnectWave) {
            const wave = sockets.slice(w, w + kConnectWave);
            for (const s of wave) {
                s.connect();
            }
            await Promise.all(wave.map((s, k) => waitConnected(s, { timeout: 20_000, what: `client ${w + k} connect` })));
        }
        const connectedAt = Date.now();

        // Barrier: everyone is in their room before anyone broadcasts.
        const joins = await Promise.all(
            sockets.map((s, i) => emitWithAck(s, "room:join", [roomOf(i)], { timeout: 20_000 })),
        );
        joins.forEach((reply, i) => assert.deepEqual(reply, [true], `room:join ack of client ${i}`));
        const joinedAt = Date.now();

        const acks = [];
        for (let seq = 0; seq < kMessagesPerClient; seq++) {
            sockets.forEach((s, i) => {
                acks.push(emitWithAck(s, "room:emit", [roomOf(i), i, seq], { timeout: 30_000 }));
            });
        }
        const ackReplies = await Promise.all(acks);
        ackReplies.forEach((reply) => assert.deepEqual(reply, [true], "room:emit ack"));

        // Wait for the expected total; give up early if deliveries stall (a loss never recovers).
        let seen = total;
        let progressAt = Date.now();
        while (total < expectedTotal && problems.length === 0 && !abandoned) {
            await sleep(50);
            if (total !== seen) {
                seen = total;
                progressAt = Date.now();
            } else if (Date.now() - progressAt > kStallMs) {
                break;
            }
        }
        const deliveredAt = Date.now();
        return { connectedAt, joinedAt, deliveredAt };
    };

    let timing;
    try {
        timing = await withTimeout(scenario(), kScenarioDeadlineMs, "the load scenario");
    } catch (err) {
        abandoned = true;
        err.message += ` — received ${total}/${expectedTotal} room messages, ${disconnects} disconnects` +
            (problems.length ? `; first problems:\n  ${problems.join("\n  ")}` : "");
        throw err;
    }
    await sleep(kSettleMs);

    assert.deepEqual(problems, [], "delivery problems");
    const wrongPairs = [];
    let wrongPairCount = 0;
    for (let i = 0; i < kClients; i++) {
        const row = received[i];
        for (let j = 0; j < kClients; j++) {
            const want = j !== i && roomOf(j) === roomOf(i) ? kMessagesPerClient : 0;
            if (row[j] !== want) {
                wrongPairCount += 1;
                if (wrongPairs.length < 10) {
                    wrongPairs.push(`client ${i} got ${row[j]} from client ${j}, expected ${want}`);
                }
            }
        }
    }
    assert.equal(
        wrongPairCount,
        0,
        `${wrongPairCount} (receiver, sender) pairs got the wrong number of messages ` +
            `(total ${total}/${expectedTotal}), e.g.\n  ${wrongPairs.join("\n  ")}`,
    );
    assert.equal(total, expectedTotal, "total room messages");
    assert.equal(disconnects, 0);

    const t = (x) => `${((x - started) / 1000).toFixed(1)} s`;
    console.log(
        `# load: ${kClients} connected at ${t(timing.connectedAt)}, joined at ${t(timing.joinedAt)}, ` +
            `${expectedTotal} room messages delivered at ${t(timing.deliveredAt)}`,
    );
});
