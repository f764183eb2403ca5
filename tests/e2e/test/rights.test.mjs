// Rights hold for the whole life of a socket, not only at join (PRODUCT.md §2 "Rights hold for
// the whole life of a socket", §3 RoomAdmin; issue 11): the real rooms, presence and auth
// services, two real edges and NATS, driven through the admin gRPC API and the stock
// socket.io-client.
//
// A. While connected: a user U with one socket on each edge and an allowed user M with one
//    socket on each edge, all in the room. After RemoveMember (PRIVATE room), UpdateRoom
//    PUBLIC→PRIVATE (U not a member), DeleteRoom or KickUser has returned, both of U's sockets
//    get `kicked {room, reason}`, no event published after the call reaches them, and their
//    requests on the room are refused; M is untouched.
// B. While away: U (one socket, edge-1, slow reconnection) drops its transport and reconnects to
//    edge-2 (the Manager's uri is switched; engine.io-client parses `manager.uri` on every open).
//    Meanwhile the admin action happens and events are published to the affected room A and to
//    an unaffected room B. The recovered session comes back without A (kicked once connected,
//    no A event replayed, A refused) and with every missed B event, once, in order. A
//    DisconnectUser'ed session is not recovered; a plain drop (control) recovers both rooms.
//
// Negative checks ("receives nothing") are a bounded quiet period after a positive barrier: a
// socket on the same edge received a later event of the same room (a room's events reach an
// edge in offset order).

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { adminClient } from "../lib/admin.mjs";
import { ClientPool, eventually, nextEvent, sleep, transportModes } from "../lib/clients.mjs";
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
    uniqueRoom,
} from "../lib/roomcast.mjs";

const kQuietMs = 600; // bounded quiet period of the negative checks, after a positive barrier
const kKickedMs = 5_000; // deadline for a `kicked` event
const kAwayMs = 2_000; // reconnection delay of the dropped client (part B)
const kMissed = 5; // events per room published while away
const kLive = 3; // events per room after the reconnection

const ws = { transports: ["websocket"] };
const slowReconnect = { reconnectionDelay: kAwayMs, reconnectionDelayMax: kAwayMs, randomizationFactor: 0 };

let stack;
let rooms;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2"],
        services: ["rooms", "presence", "auth"],
        // Only "auto:" rooms are created on first join (the last flag wins): the rooms under
        // test are created through the admin API, and a deleted one is not re-created by a join.
        edgeArgs: ["--auto-create-prefixes", "auto:"],
    });
    rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    rooms?.close();
    await stack?.stop();
});

const edgeUrl = (i) => stack.edges[i].url;
const userId = (prefix) => `${prefix}-${randomBytes(4).toString("hex")}`;

/** CreateRoom (`visibility` "PUBLIC" | "PRIVATE") and AddMember(ROLE_MEMBER) for `members`. */
async function createRoom(prefix, visibility, members = []) {
    const room = uniqueRoom(prefix);
    await rooms.call("CreateRoom", { room_id: room, visibility: `VISIBILITY_${visibility}` });
    for (const user of members) {
        await rooms.call("AddMember", { room_id: room, user_id: user, role: "ROLE_MEMBER" });
    }
    return room;
}

/** Joins `socket` to a room created (or changed) through the API a moment ago. */
function joinSoon(socket, room, what) {
    return eventually(() => joinRoom(socket, room, what), { what });
}

/** Asserts an {ok:false} ack whose error.code is a string (any code). */
function assertRefused(ack, what) {
    assert.equal(ack?.ok, false, `${what}: expected {ok:false}, got ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.error?.code, "string", `${what}: error.code, got ${JSON.stringify(ack)}`);
}

/** The `seq`s of `inbox`'s events of `room`, in arrival order. */
const seqsOf = (inbox, room) => inbox.items.filter((i) => i.meta?.room === room).map((i) => i.data?.seq);
const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);

/** Asserts that the offsets of `room`'s events in `inbox` increase strictly and match meta.offset. */
function assertOffsetsIncrease(inbox, room, what) {
    const items = inbox.items.filter((i) => i.meta?.room === room);
    for (let i = 0; i < items.length; i++) {
        assert.equal(items[i].meta.offset, items[i].offset, `${what}: meta.offset equals the last argument`);
        if (i > 0) {
            assert.ok(
                BigInt(items[i].offset) > BigInt(items[i - 1].offset),
                `${what}: offsets of ${room} must increase strictly, got ${items[i - 1].offset} then ${items[i].offset}`,
            );
        }
    }
}

// --- A. while connected ----------------------------------------------------------------------

/**
 * U (sockets u[0] on edge-1, u[1] on edge-2) and M (m[0] on edge-1, m[1] on edge-2) in a room
 * made by `makeRoom(U, M)`; every socket has received m[0]'s event {seq: 0}.
 */
async function connectedScenario(makeRoom) {
    const U = userId("u");
    const M = userId("m");
    const room = await makeRoom(U, M);
    const u = [
        await connectUser(clients, stack, edgeUrl(0), { ...ws, user: U }),
        await connectUser(clients, stack, edgeUrl(1), { ...ws, user: U }),
    ];
    const m = [
        await connectUser(clients, stack, edgeUrl(0), { ...ws, user: M }),
        await connectUser(clients, stack, edgeUrl(1), { ...ws, user: M }),
    ];
    for (const [name, c] of [["U@edge-1", u[0]], ["U@edge-2", u[1]], ["M@edge-1", m[0]], ["M@edge-2", m[1]]]) {
        await joinSoon(c.socket, room, `${name} joins ${room}`);
    }
    const uIn = u.map((c) => new Inbox(c.socket, "ev"));
    const mIn = m.map((c) => new Inbox(c.socket, "ev"));
    await publishOk(m[0].socket, room, "ev", { seq: 0 });
    for (const [i, inbox] of [...uIn, mIn[1]].entries()) {
        await inbox.waitFor(1, { what: `socket ${i}: the event published before the admin call` });
    }
    return { U, M, room, u, m, uIn, mIn };
}

/**
 * Right after the admin call returned: M publishes {seq: 1} from edge-1 and {seq: 2} from
 * edge-2; barrier: each of M's sockets received the other's (so each edge has handled both),
 * then a quiet period. U's sockets must have received nothing after {seq: 0}.
 */
async function assertNothingAfterTheCall(s, what) {
    await publishOk(s.m[0].socket, s.room, "ev", { seq: 1 });
    await publishOk(s.m[1].socket, s.room, "ev", { seq: 2 });
    await s.mIn[1].waitFor(2, { what: `${what}: M@edge-2 receives M@edge-1's event after the call` });
    await s.mIn[0].waitFor(1, { what: `${what}: M@edge-1 receives M@edge-2's event after the call` });
    await sleep(kQuietMs);
    assert.deepEqual(seqsOf(s.mIn[1], s.room), [0, 1], `${what}: M@edge-2 keeps receiving`);
    assert.deepEqual(seqsOf(s.mIn[0], s.room), [2], `${what}: M@edge-1 keeps receiving`);
    for (const [i, inbox] of s.uIn.entries()) {
        assert.deepEqual(
            seqsOf(inbox, s.room),
            [0],
            `${what}: U@edge-${i + 1} must receive no event published after the admin call returned`,
        );
    }
}

/** Each of U's sockets gets exactly one `kicked {room, reason}` (and M's none, if `mKept`). */
async function assertKicked(s, reason, what, { mKept = true } = {}) {
    for (const [i, c] of s.u.entries()) {
        const [payload] = await c.log.take("kicked", { timeout: kKickedMs, what: `${what}: kicked on U@edge-${i + 1}` });
        assert.deepEqual(payload, { room: s.room, reason }, `${what}: kicked payload on U@edge-${i + 1}`);
    }
    // (called after assertNothingAfterTheCall's quiet period, or followed by one)
    for (const [i, c] of s.u.entries()) {
        assert.equal(c.log.all("kicked").length, 1, `${what}: U@edge-${i + 1} is kicked once: ${JSON.stringify(c.log.all("kicked"))}`);
    }
    if (mKept) {
        for (const [i, c] of s.m.entries()) {
            assert.deepEqual(c.log.all("kicked"), [], `${what}: M@edge-${i + 1} (still allowed) must not be kicked`);
        }
    }
}

describe("A. rights lost while connected (U on both edges)", () => {
    test("RemoveMember from a PRIVATE room: U kicked membership_removed on both edges, gets nothing after the call, publish/history/presence/join forbidden; M keeps receiving", async () => {
        const s = await connectedScenario((U, M) => createRoom("rights-rm:", "PRIVATE", [U, M]));
        await rooms.call("RemoveMember", { room_id: s.room, user_id: s.U });
        await assertNothingAfterTheCall(s, "RemoveMember");
        await assertKicked(s, "membership_removed", "RemoveMember");
        for (const [i, c] of s.u.entries()) {
            const where = `U@edge-${i + 1} after RemoveMember`;
            assertError(await request(c.socket, "publish", { room: s.room, event: "ev", data: { seq: "u" } }), "forbidden", `${where}: publish`);
            assertError(await request(c.socket, "history", { room: s.room }), "forbidden", `${where}: history`);
            assertError(await request(c.socket, "presence", { room: s.room }), "forbidden", `${where}: presence`);
            assertError(await request(c.socket, "join", { room: s.room }), "forbidden", `${where}: join`);
        }
        // M is still a member on both edges: it publishes and receives.
        await publishOk(s.m[1].socket, s.room, "ev", { seq: 3 });
        await s.mIn[0].waitFor(2, { what: "M@edge-1 receives after U's removal" });
        assert.deepEqual(seqsOf(s.mIn[0], s.room), [2, 3]);
    });

    test("UpdateRoom PUBLIC→PRIVATE: non-member U kicked room_private on both edges and gets nothing after the call, publish forbidden; member M not kicked, keeps receiving", async () => {
        const s = await connectedScenario((U, M) => createRoom("rights-priv:", "PUBLIC", [M]));
        await rooms.call("UpdateRoom", {
            room_id: s.room,
            visibility: "VISIBILITY_PRIVATE",
            update_mask: ["visibility"],
        });
        await assertNothingAfterTheCall(s, "UpdateRoom→PRIVATE");
        await assertKicked(s, "room_private", "UpdateRoom→PRIVATE");
        for (const [i, c] of s.u.entries()) {
            assertError(
                await request(c.socket, "publish", { room: s.room, event: "ev", data: { seq: "u" } }),
                "forbidden",
                `U@edge-${i + 1} publish after UpdateRoom→PRIVATE`,
            );
        }
        await publishOk(s.m[0].socket, s.room, "ev", { seq: 3 });
        await s.mIn[1].waitFor(3, { what: "M@edge-2 receives after the room turned private" });
        assert.deepEqual(seqsOf(s.mIn[1], s.room), [0, 1, 3]);
    });

    test("DeleteRoom: every socket on both edges kicked room_deleted, nothing arrives afterwards, U's publish refused", async () => {
        const s = await connectedScenario(() => createRoom("rights-del:", "PUBLIC"));
        await rooms.call("DeleteRoom", { room_id: s.room });
        // The kicks are the positive barrier: each edge has handled the deletion.
        for (const [name, c] of [["U@edge-1", s.u[0]], ["U@edge-2", s.u[1]], ["M@edge-1", s.m[0]], ["M@edge-2", s.m[1]]]) {
            const [payload] = await c.log.take("kicked", { timeout: kKickedMs, what: `DeleteRoom: kicked on ${name}` });
            assert.deepEqual(payload, { room: s.room, reason: "room_deleted" }, `DeleteRoom: kicked payload on ${name}`);
        }
        // Nobody can publish to a deleted room any more (sockets or, NOT_FOUND, the admin API).
        assertRefused(await request(s.m[0].socket, "publish", { room: s.room, event: "ev", data: { seq: 1 } }), "M@edge-1 publish after DeleteRoom");
        for (const [i, c] of s.u.entries()) {
            assertRefused(
                await request(c.socket, "publish", { room: s.room, event: "ev", data: { seq: "u" } }),
                `U@edge-${i + 1} publish after DeleteRoom`,
            );
        }
        await sleep(kQuietMs);
        for (const [name, inbox] of [["U@edge-1", s.uIn[0]], ["U@edge-2", s.uIn[1]], ["M@edge-2", s.mIn[1]]]) {
            assert.deepEqual(seqsOf(inbox, s.room), [0], `DeleteRoom: ${name} receives nothing after the deletion`);
        }
        assert.deepEqual(seqsOf(s.mIn[0], s.room), [], "DeleteRoom: M@edge-1 receives nothing after the deletion");
        for (const c of [...s.u, ...s.m]) {
            assert.equal(c.log.all("kicked").length, 1, `DeleteRoom: kicked once: ${JSON.stringify(c.log.all("kicked"))}`);
        }
    });

    test("KickUser on a PUBLIC room: U kicked \"spam\" on both edges, gets nothing after the call, may join again and then receives new events", async () => {
        const s = await connectedScenario(() => createRoom("rights-kick:", "PUBLIC"));
        await rooms.call("KickUser", { room_id: s.room, user_id: s.U, reason: "spam" });
        await assertNothingAfterTheCall(s, "KickUser");
        await assertKicked(s, "spam", "KickUser");
        for (const [i, c] of s.u.entries()) {
            // A kick takes no right away: U is just not in the room any more.
            assertError(
                await request(c.socket, "publish", { room: s.room, event: "ev", data: { seq: "u" } }),
                "not_joined",
                `U@edge-${i + 1} publish after the kick`,
            );
            await joinRoom(c.socket, s.room, `U@edge-${i + 1} joins again after the kick`);
        }
        await publishOk(s.m[0].socket, s.room, "ev", { seq: 3 });
        for (const [i, inbox] of s.uIn.entries()) {
            await inbox.waitFor(2, { what: `U@edge-${i + 1} receives a new event after joining again` });
            assert.deepEqual(seqsOf(inbox, s.room), [0, 3], `U@edge-${i + 1}: the event before the kick, then the new one only`);
        }
    });
});

// --- B. while away, recovering on the other edge ---------------------------------------------

/**
 * U on edge-1 (direct, slow reconnection) in room A (made by `makeRoom(U, P, W)`) and a PUBLIC
 * room B; publisher P on edge-1 and witness W on edge-2 in both. U receives {seq: 0} of each
 * room, its transport is dropped and it reconnects to edge-2; while it is away `action(A, U)`
 * runs, then P publishes seq 1..kMissed to A (if `aStillExists`) and to B. Returns the state after
 * U's reconnection.
 */
async function awayScenario({ name, makeRoom, action, aStillExists = true, mode = { name: "websocket", opts: ws } }) {
    const U = userId("u");
    const P = userId("p");
    const W = userId("w");
    const A = await makeRoom(U, P, W);
    const B = await createRoom("rights-b:", "PUBLIC");
    const u = await connectUser(clients, stack, edgeUrl(0), { ...mode.opts, ...slowReconnect, user: U });
    const p = await connectUser(clients, stack, edgeUrl(0), { ...ws, user: P });
    const w = await connectUser(clients, stack, edgeUrl(1), { ...ws, user: W });
    for (const room of [A, B]) {
        await joinSoon(u.socket, room, `U joins ${room}`);
        await joinSoon(p.socket, room, `P joins ${room}`);
        await joinSoon(w.socket, room, `W joins ${room}`);
    }
    const uIn = new Inbox(u.socket, "ev");
    const wIn = new Inbox(w.socket, "ev");
    await publishOk(p.socket, A, "ev", { room: A, seq: 0 });
    await publishOk(p.socket, B, "ev", { room: B, seq: 0 });
    await uIn.waitFor(2, { what: `${name}: U receives the events before the drop` });
    await wIn.waitFor(2, { what: `${name}: W receives the events before the drop` });
    assert.equal(edgeOf(u.socket), stack.edges[0].id, "U starts on edge-1");
    const socketId = u.socket.id;

    // The next (re)connection of U's Manager goes to edge-2: Manager.open() builds the engine
    // from `this.uri`, and engine.io-client re-parses hostname and port from it on every open.
    u.socket.io.uri = edgeUrl(1);
    const disconnected = nextEvent(u.socket, "disconnect", { timeout: 10_000, what: `${name}: U's disconnect after engine.close()` });
    disconnected.catch(() => {});
    u.socket.io.engine.close();
    const [reason] = await disconnected;
    const reconnected = nextEvent(u.socket, "connect", { timeout: kAwayMs + 10_000, what: `${name}: U's reconnection to edge-2` });
    reconnected.catch(() => {});

    await action?.(A, U);
    if (aStillExists) {
        for (let seq = 1; seq <= kMissed; seq++) {
            await publishOk(p.socket, A, "ev", { room: A, seq });
        }
    }
    for (let seq = 1; seq <= kMissed; seq++) {
        await publishOk(p.socket, B, "ev", { room: B, seq });
    }
    assert.equal(u.socket.connected, false, `${name}: the admin action and the missed events must happen while U is away (raise kAwayMs)`);
    await reconnected;
    assert.equal(edgeOf(u.socket), stack.edges[1].id, `${name}: U must reconnect to edge-2`);
    return { U, A, B, u, p, w, uIn, wIn, socketId, reason };
}

/**
 * After U's reconnection: P publishes live events to A (if it exists) and B; barrier: W on
 * edge-2 received them all, U received B's; then a quiet period.
 */
async function publishLive(s, { aStillExists, uInB }) {
    const first = kMissed + 1;
    if (aStillExists) {
        for (let seq = first; seq < first + kLive; seq++) {
            await publishOk(s.p.socket, s.A, "ev", { room: s.A, seq });
        }
    }
    for (let seq = first; seq < first + kLive; seq++) {
        await publishOk(s.p.socket, s.B, "ev", { room: s.B, seq });
    }
    const wTotal = (aStillExists ? 2 : 1) * (first + kLive) + (aStillExists ? 0 : 1);
    await s.wIn.waitFor(wTotal, { what: "W on edge-2 receives the live events (barrier)" });
    if (uInB) {
        await s.uIn.waitFor(1 + first + kLive, { what: "U receives B's missed and live events" });
    }
    await sleep(kQuietMs);
}

/** The four ways of losing the right to room A while away, and what U's publish to A gets. */
const lostWhileAway = [
    {
        name: "RemoveMember (PRIVATE A)",
        makeRoom: (U, P, W) => createRoom("rights-rm:", "PRIVATE", [U, P, W]),
        action: (A, U) => rooms.call("RemoveMember", { room_id: A, user_id: U }),
        reason: "membership_removed",
        publishCode: "forbidden",
    },
    {
        name: "UpdateRoom→PRIVATE (U not a member of A)",
        makeRoom: (U, P, W) => createRoom("rights-priv:", "PUBLIC", [P, W]),
        action: (A) => rooms.call("UpdateRoom", { room_id: A, visibility: "VISIBILITY_PRIVATE", update_mask: ["visibility"] }),
        reason: "room_private",
        publishCode: "forbidden",
    },
    {
        name: "DeleteRoom (A)",
        makeRoom: () => createRoom("rights-del:", "PUBLIC"),
        action: (A) => rooms.call("DeleteRoom", { room_id: A }),
        reason: "room_deleted",
        publishCode: undefined, // refused, whatever the code (the room does not exist)
        aStillExists: false,
    },
    {
        name: "KickUser (A, \"spam\")",
        makeRoom: () => createRoom("rights-kick:", "PUBLIC"),
        action: (A, U) => rooms.call("KickUser", { room_id: A, user_id: U, reason: "spam" }),
        reason: "spam",
        publishCode: "not_joined", // a kick takes no right away
    },
];

describe("B. rights lost while away; U recovers on the other edge", () => {
    for (const c of lostWhileAway) {
        test(`${c.name} while U is away: recovered on edge-2 without A (kicked ${c.reason}, no A event, A refused), with every B event once in order`, async () => {
            const aStillExists = c.aStillExists ?? true;
            const s = await awayScenario({ name: c.name, makeRoom: c.makeRoom, action: c.action, aStillExists });
            assert.equal(
                s.u.socket.recovered,
                true,
                `${c.name}: the session must be recovered on edge-2 (only without A) after "${s.reason}"`,
            );
            assert.equal(s.u.socket.id, s.socketId, `${c.name}: a recovered session keeps its socket id`);

            await publishLive(s, { aStillExists, uInB: true });
            assert.deepEqual(seqsOf(s.uIn, s.B), range(0, kMissed + kLive + 1), `${c.name}: U receives every event of B once, in order`);
            assertOffsetsIncrease(s.uIn, s.B, c.name);
            assert.deepEqual(seqsOf(s.uIn, s.A), [0], `${c.name}: U must receive no event of A published after the admin call (neither replayed nor live)`);
            // (kicked is sent once U is connected; the barrier and quiet period above leave it time)
            const [payload] = await s.u.log.take("kicked", { timeout: kKickedMs, what: `${c.name}: kicked for A once U is connected again` });
            assert.deepEqual(payload, { room: s.A, reason: c.reason }, `${c.name}: kicked payload`);
            assert.equal(s.u.log.all("kicked").length, 1, `${c.name}: kicked once: ${JSON.stringify(s.u.log.all("kicked"))}`);

            const ack = await request(s.u.socket, "publish", { room: s.A, event: "ev", data: { room: s.A, seq: "u" } });
            if (c.publishCode) {
                assertError(ack, c.publishCode, `${c.name}: U's publish to A after the recovery`);
            } else {
                assertRefused(ack, `${c.name}: U's publish to A after the recovery`);
            }
            await publishOk(s.u.socket, s.B, "ev", { room: s.B, seq: "u" });
        });
    }

    test("DisconnectUser while U is away: the reconnection on edge-2 is not recovered and U is in no room", async () => {
        const s = await awayScenario({
            name: "DisconnectUser",
            makeRoom: () => createRoom("rights-dc:", "PUBLIC"),
            action: (A, U) => rooms.call("DisconnectUser", { user_id: U, reason: "banned" }),
        });
        assert.equal(s.u.socket.recovered, false, "a DisconnectUser'ed session must not be recovered");
        assert.ok(
            (await metricValue(stack.edges[1].adminUrl, "roomcast_edge_recovery_misses_total", { reason: "revoked" })) >= 1,
            "edge-2 counts the refusal as revoked",
        );
        assert.notEqual(s.u.socket.id, s.socketId, "a new session gets a new socket id");
        assertError(
            await request(s.u.socket, "publish", { room: s.B, event: "ev", data: { room: s.B, seq: "u" } }),
            "not_joined",
            "U's publish to B after the unrecovered reconnection",
        );
        await publishLive(s, { aStillExists: true, uInB: false });
        assert.deepEqual(
            s.uIn.items.map((i) => [i.meta?.room, i.data?.seq]),
            [[s.A, 0], [s.B, 0]],
            "U receives nothing after the drop: no replay, no live event",
        );
    });

    for (const mode of transportModes) {
        test(`control (${mode.name}): a plain drop and reconnection to edge-2 recovers both rooms with nothing lost`, async () => {
            const s = await awayScenario({ name: `control ${mode.name}`, makeRoom: () => createRoom("rights-ctl:", "PUBLIC"), mode });
            assert.equal(s.u.socket.recovered, true, `control: recovered on edge-2 after "${s.reason}"`);
            assert.equal(s.u.socket.id, s.socketId, "control: a recovered session keeps its socket id");
            await publishLive(s, { aStillExists: true, uInB: false });
            const total = kMissed + kLive + 1;
            await s.uIn.waitFor(2 * total, { what: "control: U receives A's and B's missed and live events" });
            await sleep(kQuietMs);
            for (const room of [s.A, s.B]) {
                assert.deepEqual(seqsOf(s.uIn, room), range(0, total), `control: every event of ${room} once, in order`);
                assertOffsetsIncrease(s.uIn, room, "control");
            }
            assert.deepEqual(s.u.log.all("kicked"), [], "control: no kick");
            for (const room of [s.A, s.B]) {
                await publishOk(s.u.socket, room, "ev", { room, seq: "u" });
            }
            await s.wIn.waitFor(2 * total + 2, { what: "control: W receives U's publishes to A and B" });
        });
    }
});
