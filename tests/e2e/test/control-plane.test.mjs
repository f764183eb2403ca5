// The control plane end to end (PRODUCT.md §2–§3, docs/control-plane.md): the real rooms,
// presence and auth services, two real edges and NATS, driven through the admin gRPC APIs (the
// project's .proto files with @grpc/grpc-js) and the stock socket.io-client.
//
// Covers: every admin method refused without the token; auto-create prefixes and not_found;
// private rooms (forbidden / allowed, viewers, membership removal); server-side publish seen as
// from "server" on both edges; kick and disconnect across both edges; room deletion; presence
// across both edges including an edge killed with SIGKILL (its users leave within 10 s).

import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { adminClient, services, statusOf } from "../lib/admin.mjs";
import { ClientPool, eventually, EventLog, sleep, waitConnectError, withTimeout } from "../lib/clients.mjs";
import {
    Inbox,
    assertError,
    connectUser,
    joinRoom,
    publishOk,
    request,
    startEdgeStack,
    tokenFor,
    uniqueRoom,
} from "../lib/roomcast.mjs";

const kQuietMs = 400;

let stack;
let rooms;
let presence;
const clients = new ClientPool();

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2"],
        services: ["rooms", "presence", "auth"],
        // Only "auto:" rooms are created on first join here (the last flag wins).
        edgeArgs: ["--auto-create-prefixes", "auto:"],
    });
    rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
    presence = adminClient("presence", stack.services.presence.grpcAddress, stack.adminToken);
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    rooms?.close();
    presence?.close();
    await stack?.stop();
});

const edgeUrl = (i) => stack.edges[i].url;

describe("admin authentication", () => {
    test("every admin method is UNAUTHENTICATED without the token or with a wrong one; GetJwks is public", async () => {
        for (const [name, svc] of Object.entries(services)) {
            const address = stack.services[name].grpcAddress;
            for (const token of [null, "wrong-token"]) {
                const client = adminClient(name, address, token);
                try {
                    for (const method of Object.keys(svc.service)) {
                        if (svc.service[method].responseStream) {
                            const code = await new Promise((resolve) => {
                                const call = client.raw[method]({ room_id: "x" }, client.metadata(), {
                                    deadline: Date.now() + 5_000,
                                });
                                call.on("data", () => {});
                                call.on("error", (err) => resolve(err.code));
                                call.on("end", () => resolve(0));
                            });
                            assert.equal(code, 16, `${name}.${method} (streaming) without a valid token`);
                            continue;
                        }
                        const status = await statusOf(client.call(method, {}));
                        if (name === "auth" && method === "GetJwks") {
                            assert.equal(status, "OK", "GetJwks needs no token");
                        } else {
                            assert.equal(status, "UNAUTHENTICATED", `${name}.${method} with token ${token}`);
                        }
                    }
                } finally {
                    client.close();
                }
            }
        }
    });
});

describe("room registry and rights", () => {
    test("auto-create prefixes: an auto: room is created on first join (and exists for CreateRoom); others are not_found until created", async () => {
        const a = await connectUser(clients, stack, edgeUrl(0));
        const auto = uniqueRoom("auto:");
        await joinRoom(a.socket, auto);
        const created = await statusOf(rooms.call("CreateRoom", { room_id: auto }));
        assert.equal(created, "ALREADY_EXISTS", "CreateRoom of an auto-created room");
        const got = await rooms.call("GetRoom", { room_id: auto });
        assert.equal(got.room.auto_created, true);
        assert.equal(got.room.visibility, "VISIBILITY_PUBLIC");

        const other = uniqueRoom("other:");
        assertError(await request(a.socket, "join", { room: other }), "not_found", "join of a missing room");
        await rooms.call("CreateRoom", { room_id: other });
        await eventually(async () => joinRoom(a.socket, other), { what: "join after CreateRoom" });
    });

    test("private room: non-members are forbidden; members join and publish; viewers join but may not publish; removal kicks", async () => {
        const room = uniqueRoom("priv:");
        await rooms.call("CreateRoom", { room_id: room, visibility: "VISIBILITY_PRIVATE" });
        const member = await connectUser(clients, stack, edgeUrl(0));
        const viewer = await connectUser(clients, stack, edgeUrl(1));
        const stranger = await connectUser(clients, stack, edgeUrl(1));
        await eventually(async () =>
            assertError(await request(member.socket, "join", { room }), "forbidden", "member before AddMember"),
        );
        await rooms.call("AddMember", { room_id: room, user_id: member.user, role: "ROLE_MEMBER" });
        await rooms.call("AddMember", { room_id: room, user_id: viewer.user, role: "ROLE_VIEWER" });
        await eventually(async () => joinRoom(member.socket, room), { what: "member joins" });
        await eventually(async () => joinRoom(viewer.socket, room), { what: "viewer joins" });

        const inbox = new Inbox(viewer.socket, "note");
        await publishOk(member.socket, room, "note", { n: 1 });
        await inbox.waitFor(1, { what: "viewer receives the member's note" });
        assertError(await request(viewer.socket, "publish", { room, event: "note", data: 1 }), "forbidden", "viewer publish");
        assertError(await request(stranger.socket, "join", { room }), "forbidden", "stranger join");
        assertError(await request(stranger.socket, "history", { room }), "forbidden", "stranger history");
        assertError(await request(stranger.socket, "publish", { room, event: "x" }), "forbidden", "stranger publish");

        const members = await rooms.call("ListMembers", { room_id: room });
        assert.deepEqual(members.members.map((m) => m.user_id).sort(), [member.user, viewer.user].sort());

        const kicked = new EventLog(member.socket);
        await rooms.call("RemoveMember", { room_id: room, user_id: member.user });
        const [payload] = await kicked.take("kicked", { timeout: 5_000, what: "kicked after RemoveMember" });
        assert.deepEqual(payload, { room, reason: "membership_removed" });
        await eventually(async () =>
            assertError(await request(member.socket, "join", { room }), "forbidden", "rejoin after removal"),
        );
    });
});

describe("actions on live rooms", () => {
    /** Joins `sockets` to a fresh public room created through the API. */
    async function publicRoom(prefix, ...sockets) {
        const room = uniqueRoom(prefix);
        await rooms.call("CreateRoom", { room_id: room });
        for (const s of sockets) {
            await eventually(async () => joinRoom(s, room), { what: `join ${room}` });
        }
        return room;
    }

    test("admin Publish reaches members on both edges as from \"server\", with the offset it returned", async () => {
        const a = await connectUser(clients, stack, edgeUrl(0));
        const b = await connectUser(clients, stack, edgeUrl(1));
        const room = await publicRoom("pub:", a.socket, b.socket);
        const inboxes = [new Inbox(a.socket, "announcement"), new Inbox(b.socket, "announcement")];
        const reply = await rooms.call("Publish", { room_id: room, event: "announcement", data_json: '{"text":"hello all"}' });
        assert.match(reply.offset, /^\d+$/);
        for (const inbox of inboxes) {
            const [got] = await inbox.waitFor(1, { what: "announcement" });
            assert.deepEqual(got.data, { text: "hello all" });
            assert.deepEqual(got.meta, { room, from: "server", offset: reply.offset });
            assert.equal(got.offset, reply.offset);
        }
        const history = await rooms.call("History", { room_id: room });
        assert.deepEqual(
            history.messages.map((m) => [m.offset, m.event, JSON.parse(m.data_json), m.from]),
            [[reply.offset, "announcement", { text: "hello all" }, "server"]],
        );
    });

    test("KickUser removes the user's sockets on both edges from the room; they get kicked {room, reason}", async () => {
        const user = `u-kick-${Date.now()}`;
        const s1 = await connectUser(clients, stack, edgeUrl(0), { user });
        const s2 = await connectUser(clients, stack, edgeUrl(1), { user });
        const other = await connectUser(clients, stack, edgeUrl(0));
        const room = await publicRoom("kick:", s1.socket, s2.socket, other.socket);
        const logs = [new EventLog(s1.socket), new EventLog(s2.socket)];
        const inboxes = [new Inbox(s1.socket, "msg"), new Inbox(s2.socket, "msg")];
        await rooms.call("KickUser", { room_id: room, user_id: user, reason: "spam" });
        for (const log of logs) {
            const [payload] = await log.take("kicked", { timeout: 5_000, what: "kicked on each edge" });
            assert.deepEqual(payload, { room, reason: "spam" });
        }
        await publishOk(other.socket, room, "msg", "after the kick");
        await sleep(kQuietMs);
        for (const inbox of inboxes) {
            assert.equal(inbox.items.length, 0, "a kicked socket no longer receives the room's events");
        }
        assertError(await request(s1.socket, "publish", { room, event: "msg" }), "not_joined", "publish after kick");
        await joinRoom(s1.socket, room, "a kicked user may join a public room again");
    });

    test("DisconnectUser disconnects every socket of the user on both edges (io server disconnect, no reconnect)", async () => {
        const user = `u-dc-${Date.now()}`;
        const s1 = await connectUser(clients, stack, edgeUrl(0), { user });
        const s2 = await connectUser(clients, stack, edgeUrl(1), { user });
        const bystander = await connectUser(clients, stack, edgeUrl(1));
        const reasons = [s1, s2].map(
            (c) =>
                new Promise((resolve) => {
                    c.socket.once("disconnect", (reason) => resolve(reason));
                }),
        );
        await rooms.call("DisconnectUser", { user_id: user, reason: "banned" });
        const got = await withTimeout(Promise.all(reasons), 5_000, "disconnect of both sockets");
        assert.deepEqual(got, ["io server disconnect", "io server disconnect"]);
        await sleep(1_000);
        assert.equal(s1.socket.connected || s2.socket.connected, false, "no reconnection after io server disconnect");
        assert.equal(bystander.socket.connected, true, "other users stay connected");
    });

    test("DeleteRoom kicks live members with reason room_deleted and removes the room", async () => {
        const a = await connectUser(clients, stack, edgeUrl(0));
        const b = await connectUser(clients, stack, edgeUrl(1));
        const room = await publicRoom("del:", a.socket, b.socket);
        const logs = [new EventLog(a.socket), new EventLog(b.socket)];
        await rooms.call("DeleteRoom", { room_id: room });
        for (const log of logs) {
            const [payload] = await log.take("kicked", { timeout: 5_000, what: "kicked room_deleted" });
            assert.deepEqual(payload, { room, reason: "room_deleted" });
        }
        assert.equal(await statusOf(rooms.call("GetRoom", { room_id: room })), "NOT_FOUND");
        await eventually(async () =>
            assertError(await request(a.socket, "join", { room }), "not_found", "join of a deleted room"),
        );
    });
});

/** Takes `presence` events from `log` until one has `user` in its `field` list (bounded). */
async function presenceWith(log, field, user, { timeout = 5_000, what } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) {
            throw new Error(`${what ?? `presence ${field} ${user}`}: not seen within ${timeout} ms`);
        }
        const [event] = await log.take("presence", { timeout: left, what: what ?? `presence ${field} ${user}` });
        if (event[field].some((u) => u.id === user)) {
            return event;
        }
    }
}

describe("presence across edges", () => {
    test("counts, lists and join/leave events across both edges; a SIGKILLed edge's users leave within 10 s", async () => {
        const room = uniqueRoom("auto:presence-");
        const alice = await connectUser(clients, stack, edgeUrl(0), { user: `alice-${Date.now()}` });
        const aliceLog = new EventLog(alice.socket);
        const first = await joinRoom(alice.socket, room);
        assert.deepEqual(first.presence, { clients: 1, users: 1 }, "join ack presence of the first member");

        const bob = await connectUser(clients, stack, edgeUrl(1), { user: `bob-${Date.now()}` });
        const second = await joinRoom(bob.socket, room);
        assert.deepEqual(second.presence, { clients: 2, users: 2 }, "join ack presence across edges");
        // Changes are batched: alice's own join may come in the same event as bob's.
        const joined = await presenceWith(aliceLog, "joined", bob.user);
        assert.equal(joined.room, room);
        assert.deepEqual(joined.left, []);

        const listed = await request(alice.socket, "presence", { room });
        assert.equal(listed.ok, true, JSON.stringify(listed));
        assert.equal(listed.clients, 2);
        assert.deepEqual(listed.users.map((u) => u.id).sort(), [alice.user, bob.user].sort());
        const stats = await presence.call("GetPresenceStats", { room_id: room });
        assert.deepEqual([Number(stats.clients), Number(stats.users)], [2, 2]);
        const page = await presence.call("GetPresence", { room_id: room, page_size: 1 });
        assert.equal(page.users.length, 1);
        assert.notEqual(page.next_page_token, "");

        // A leave is reported at once.
        await request(bob.socket, "leave", { room });
        const leftEvent = await presenceWith(aliceLog, "left", bob.user);
        assert.deepEqual(leftEvent.left.map((u) => u.id), [bob.user]);

        // An edge killed outright: its users leave after heartbeat loss + grace (< 10 s).
        const carol = await connectUser(clients, stack, edgeUrl(1), {
            user: `carol-${Date.now()}`,
            reconnection: false,
        });
        await joinRoom(carol.socket, room);
        await presenceWith(aliceLog, "joined", carol.user);
        const killedAt = Date.now();
        await stack.edges[1].kill("SIGKILL");
        try {
            const gone = await presenceWith(aliceLog, "left", carol.user, {
                timeout: 10_000,
                what: "carol leaves after edge-2 dies",
            });
            const elapsed = Date.now() - killedAt;
            console.log(`# presence: users of a SIGKILLed edge left after ${elapsed} ms`);
            assert.deepEqual(gone.left.map((u) => u.id), [carol.user]);
            assert.ok(elapsed < 10_000, `left after ${elapsed} ms`);
            const after = await presence.call("GetPresenceStats", { room_id: room });
            assert.deepEqual([Number(after.clients), Number(after.users)], [1, 1]);
        } finally {
            await stack.edges[1].restart();
        }
    });
});
