// The Node SDK (@roomcast/backend, sdk/node) through real edges (issue 13): a backend written
// with the SDK, connected as the closed bus's "backend" role, serves socket.io-client users on
// two edges: custom events (results, errors, binary), the connect hook mapping a cookie-like
// `auth.session` to a user (no JWT), join and publish hooks, lifecycle listeners, emits to a
// room, a user and a socket, two replicas sharing the work, and a backend restart.
//
// The SDK is imported from the repository (sdk/node); its npm packages must be installed there
// (scripts/test does).

import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { ClientPool, EventLog, emitWithAck, eventually, expectNoEvent, waitConnectError, waitConnected } from "../lib/clients.mjs";
import { Inbox, assertError, connectUser, joinRoom, publishOk, request, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { connect, RoomcastError } from "../../../sdk/node/src/index.mjs";

let stack;
const clients = new ClientPool();
const backends = new Set();
// Sessions the app knows (the connect hook's "database").
const sessions = new Map([["s-erin", { id: "node-erin", name: "Erin" }]]);
const seen = []; // lifecycle events the first backend saw

function backendUrl() {
    const { user, pass } = stack.natsCredentials("backend");
    const url = new URL(stack.natsUrl);
    url.username = encodeURIComponent(user);
    url.password = encodeURIComponent(pass);
    return url.toString();
}

/** An SDK backend with this file's handlers; `replica` shows in whoami. */
async function startBackend(replica) {
    const rc = await connect({ servers: backendUrl(), queue: "node-e2e", name: `node-e2e-${replica}` });
    backends.add(rc);
    rc.handle("sum", async (_ctx, numbers) => {
        if (!Array.isArray(numbers) || numbers.some((n) => typeof n !== "number")) {
            throw new RoomcastError("bad_request", "numbers only");
        }
        return numbers.reduce((a, b) => a + b, 0);
    });
    rc.handle("whoami", async (ctx) => ({ replica, user: ctx.user, socket: ctx.socket }));
    rc.handle("reverse", async (_ctx, blob) => Buffer.from(blob).reverse());
    rc.handle("crash", async () => {
        throw new Error("secret internal detail");
    });
    rc.handle("notifyMe", async (ctx, text) => {
        await rc.toUser(ctx.user.id).emit("notice", { text });
        return { sent: true };
    });
    rc.handle("announce", async (ctx, { room, text }) => ({ offset: await rc.to(room).emit("announcement", { text }) }));
    rc.onConnect(async (hook) => {
        const user = sessions.get(hook.auth?.session);
        return user ? { user } : { deny: "unauthorized", message: "unknown session" };
    });
    rc.onJoin("node-team:", async (ctx) => ctx.user.id.startsWith("node-staff"));
    rc.onPublish("node-mod:", async (_ctx, msg) => {
        if (msg.data?.text?.includes("spam")) {
            return { deny: "forbidden", message: "no spam" };
        }
        return { data: { ...msg.data, moderated: true } };
    });
    return rc;
}

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2"],
        edgeArgs: [
            "--hook-connect", "tokenless",
            "--hook-join-prefixes", "node-team:",
            "--hook-publish-prefixes", "node-mod:",
            "--rpc-timeout", "2s",
        ],
    });
    const first = await startBackend("one");
    for (const kind of ["connect", "join", "leave", "disconnect"]) {
        first.on(kind, (evt) => seen.push(evt));
    }
    await first.flush();
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    for (const rc of backends) {
        await rc.close().catch(() => {});
    }
    await stack?.stop();
});

test("custom events: a result, a RoomcastError, an internal error without its message, binary both ways", async () => {
    const alice = await connectUser(clients, stack, stack.edges[0].url, { user: "node-alice" });
    assert.deepEqual(await request(alice.socket, "sum", [1, 2, 3]), { ok: true, result: 6 });
    assertError(await request(alice.socket, "sum", ["x"]), "bad_request", "sum of a string");
    const crashed = await request(alice.socket, "crash", {});
    assertError(crashed, "internal", "a handler that throws");
    assert.ok(!JSON.stringify(crashed).includes("secret"), "the exception's message is not sent to the client");
    const [reversed] = await emitWithAck(alice.socket, "reverse", [Buffer.from([1, 2, 3])]);
    assert.equal(reversed.ok, true, JSON.stringify(reversed));
    assert.deepEqual([...Buffer.from(reversed.result)], [3, 2, 1]);
    const [who] = await emitWithAck(alice.socket, "whoami", []);
    assert.equal(who.result.user.id, "node-alice");
    assert.equal(who.result.socket.id, alice.socket.id);
    assert.equal(who.result.socket.edge, "edge-1");
});

test("the connect hook maps a session to a user (no JWT) and refuses an unknown one", async () => {
    const erin = clients.socket(stack.edges[1].url, { forceNew: true, auth: { session: "s-erin" } });
    await waitConnected(erin.socket, { what: "connect with a session" });
    const [who] = await emitWithAck(erin.socket, "whoami", []);
    assert.equal(who.result.user.id, "node-erin");
    assert.equal(who.result.user.name, "Erin");
    const stranger = clients.socket(stack.edges[0].url, { forceNew: true, auth: { session: "nope" }, reconnection: false });
    const err = await waitConnectError(stranger.socket, { what: "connect with an unknown session" });
    assert.equal(err.message, "unauthorized");
    assert.equal(err.data?.code, "unauthorized");
});

test("join and publish hooks: staff-only rooms, moderation that denies and enriches", async () => {
    const staff = await connectUser(clients, stack, stack.edges[0].url, { user: "node-staff-1" });
    const guest = await connectUser(clients, stack, stack.edges[1].url, { user: "node-guest" });
    const team = uniqueRoom("node-team:");
    await joinRoom(staff.socket, team);
    assertError(await request(guest.socket, "join", { room: team }), "forbidden", "a guest joining a team room");

    const room = uniqueRoom("node-mod:");
    await joinRoom(staff.socket, room);
    await joinRoom(guest.socket, room);
    const inbox = new Inbox(guest.socket, "message");
    await publishOk(staff.socket, room, "message", { text: "hello" });
    const [got] = await inbox.waitFor(1, { what: "the enriched message" });
    assert.deepEqual(got.data, { text: "hello", moderated: true });
    const denied = await request(staff.socket, "publish", { room, event: "message", data: { text: "spam!" } });
    assertError(denied, "forbidden", "a spam publish");
    assert.equal(denied.error.message, "no spam");
});

test("emits: to a room (stored, with its offset), to every socket of a user on both edges, nobody else", async () => {
    const a1 = await connectUser(clients, stack, stack.edges[0].url, { user: "node-notified" });
    const a2 = await connectUser(clients, stack, stack.edges[1].url, { user: "node-notified" });
    const other = await connectUser(clients, stack, stack.edges[1].url, { user: "node-bystander" });
    const logs = [new EventLog(a1.socket), new EventLog(a2.socket)];
    assert.deepEqual(await request(a1.socket, "notifyMe", "you have mail"), { ok: true, result: { sent: true } });
    for (const log of logs) {
        const [notice] = await log.take("notice", { timeout: 5_000 });
        assert.deepEqual(notice, { text: "you have mail" });
    }
    await expectNoEvent(other.socket, "notice", 500, "a notice for another user");

    const room = uniqueRoom("node-news");
    await joinRoom(other.socket, room);
    const inbox = new Inbox(other.socket, "announcement");
    const reply = await request(a1.socket, "announce", { room, text: "big news" });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    const [got] = await inbox.waitFor(1, { what: "the announcement" });
    assert.deepEqual(got.data, { text: "big news" });
    assert.equal(got.offset, reply.result.offset, "the client sees the offset the SDK returned");
});

test("ephemeral room events: members on both edges get (data, {room, from}) without an offset, nothing stored", async () => {
    const [rc] = backends;
    const room = uniqueRoom("node-eph");
    const a = await connectUser(clients, stack, stack.edges[0].url, { user: "node-eph-a" });
    const b = await connectUser(clients, stack, stack.edges[1].url, { user: "node-eph-b" });
    const outsider = await connectUser(clients, stack, stack.edges[1].url, { user: "node-eph-out" });
    await joinRoom(a.socket, room);
    await joinRoom(b.socket, room);
    const cursors = [new Inbox(a.socket, "cursor"), new Inbox(b.socket, "cursor")];
    const barriers = [new Inbox(a.socket, "barrier"), new Inbox(b.socket, "barrier")];
    const img = Buffer.from([1, 2, 3]);
    assert.equal(await rc.to(room).emit("cursor", { x: 1, img }, { ephemeral: true }), undefined);
    assert.equal(await rc.to(room).emit("cursor", { x: 2 }, { ephemeral: true, exceptSocket: b.socket.id }), undefined);
    // A stored event from the same connection, published after them, reaches each edge after
    // they were routed: once it is here, every cursor that will come has come.
    const offset = await rc.to(room).emit("barrier", {});
    for (const [i, inbox] of barriers.entries()) {
        await inbox.waitFor(1, { what: `the barrier on edge ${i + 1}` });
    }
    const [onA, onB] = cursors.map((c) => c.items);
    assert.equal(onA.length, 2, `edge 1 gets both cursors: ${JSON.stringify(onA.map((c) => c.args))}`);
    assert.equal(onB.length, 1, `edge 2 gets the first only (the second excepts its socket): ${JSON.stringify(onB.map((c) => c.args))}`);
    for (const got of [onA[0], onB[0]]) {
        assert.equal(got.args.length, 2, `(data, meta) only: ${JSON.stringify(got.args)}`);
        assert.deepEqual(got.meta, { room, from: "server" });
        assert.equal(got.data.x, 1);
        assert.deepEqual([...Buffer.from(got.data.img)], [1, 2, 3], "binary arrives as binary");
    }
    assert.equal(onA[1].data.x, 2);
    await expectNoEvent(outsider.socket, "cursor", 300, "a cursor for a room the socket is not in");
    const history = await request(a.socket, "history", { room });
    assert.equal(history.ok, true, JSON.stringify(history));
    assert.deepEqual(history.messages.map((m) => [m.event, m.offset]), [["barrier", offset]], "only the stored event is in history");
    await assert.rejects(rc.to("not a room").emit("cursor", {}, { ephemeral: true }), (e) => e.code === "bad_request");
});

test("lifecycle listeners see connect, join, leave and disconnect of a socket once each", async () => {
    const user = await connectUser(clients, stack, stack.edges[1].url, { user: "node-life" });
    const socketId = user.socket.id;
    const room = uniqueRoom("node-life");
    await joinRoom(user.socket, room);
    assert.equal((await request(user.socket, "leave", { room })).ok, true);
    user.socket.disconnect();
    const mine = () => seen.filter((e) => e.socketId === socketId);
    await eventually(() => assert.ok(mine().some((e) => e.kind === "disconnect")), { timeout: 5_000, what: "the disconnect event" });
    assert.deepEqual(mine().map((e) => e.kind), ["connect", "join", "leave", "disconnect"]);
    for (const e of mine()) {
        assert.equal(e.user.id, "node-life");
        assert.equal(e.edge, "edge-2");
    }
    assert.equal(mine()[1].room, room);
});

test("two replicas share the requests; with none clients get unavailable; a restarted one serves again", async () => {
    const second = await startBackend("two");
    await second.flush();
    const user = await connectUser(clients, stack, stack.edges[0].url, { user: "node-replicas" });
    const replicas = new Set();
    for (let i = 0; i < 20; i++) {
        const [who] = await emitWithAck(user.socket, "whoami", []);
        replicas.add(who.result.replica);
    }
    // NATS picks a queue member at random: all 20 on one of two has odds of 2^-19.
    assert.deepEqual([...replicas].sort(), ["one", "two"]);
    for (const rc of [...backends]) {
        await rc.close();
        backends.delete(rc);
    }
    const started = Date.now();
    assertError(await request(user.socket, "sum", [1]), "unavailable", "sum with no backend");
    assert.ok(Date.now() - started < 1_500, "no responders is answered at once, not at the deadline");
    await startBackend("three");
    assert.deepEqual(await request(user.socket, "sum", [1, 1]), { ok: true, result: 2 });
});
