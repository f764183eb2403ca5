// The join and publish hooks and lifecycle events (docs/backends.md "Hooks", "Lifecycle
// events"; issue 13): two real edges, real NATS with the closed-bus roles, the stock
// socket.io-client, and an application backend written here with the `nats` package and
// protobufjs on proto/roomcast/backend/v1/backend.proto, connected as the "backend" role.
//
// The edges ask the join hook for rooms "hj:…" (fail closed) and the publish hook for rooms
// "hp:…" (fail open), with a 300 ms --hook-timeout. The backend decides by room id (join) and by
// the publish's event name, and records every request, so a test can also check what was NOT
// asked. "No backend" is the backend's subscriptions drained (NATS answers "no responders");
// "slow" is a reply after the deadline.
//
// Lifecycle: the backend subscribes to roomcast.lifecycle.> (no queue group) and keeps every
// event; one socket's life (connect, join, leave, a publish, join, KickUser, disconnect) must
// appear exactly once each, in order, with its fields, from the edge that holds the socket.

import assert from "node:assert/strict";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { connect as natsConnect } from "nats";
import protobuf from "protobufjs";
import { adminClient } from "../lib/admin.mjs";
import { ClientPool, eventually, nextEvent, sleep, withTimeout } from "../lib/clients.mjs";
import { Inbox, assertError, connectUser, edgeOf, joinRoom, publishOk, request, uniqueRoom } from "../lib/roomcast.mjs";
import { repoDir, startStack } from "../lib/stack.mjs";

const kHookTimeoutMs = 300;
const kSlowMs = 900; // the slow backend answers well after the edge stopped waiting
const kLateMs = 150; // within the deadline, but after the test's client has gone
const kLifecycleWaitMs = 5_000;

const root = protobuf.loadSync(path.join(repoDir, "proto", "roomcast", "backend", "v1", "backend.proto"));
const T = (name) => root.lookupType(`roomcast.backend.v1.${name}`);
const JoinHook = T("JoinHook");
const JoinHookReply = T("JoinHookReply");
const PublishHook = T("PublishHook");
const PublishHookReply = T("PublishHookReply");
const LifecycleBatch = T("LifecycleBatch");
const Kind = T("LifecycleEvent").lookupEnum("Kind").valuesById;
const decode = (type, data) => type.toObject(type.decode(data), { longs: String, enums: Number, defaults: true });

let stack;
let rooms;
const clients = new ClientPool();

/**
 * The test's application backend: answers the join and publish hooks (queue group "test") and
 * collects lifecycle batches. `requests` has every hook request it received, decoded.
 */
class Backend {
    constructor() {
        this.requests = [];
        this.batches = [];
        this.subs = [];
    }

    async start() {
        this.nc = await natsConnect({ ...stack.natsOptions("backend"), name: "test-backend" });
        this.lifecycle = this.nc.subscribe("roomcast.lifecycle.>", {
            callback: (err, msg) => {
                if (!err) {
                    this.batches.push({ subject: msg.subject, batch: decode(LifecycleBatch, msg.data) });
                }
            },
        });
        await this.answerHooks();
    }

    async answerHooks() {
        this.subs = [
            this.nc.subscribe("roomcast.hook.join", {
                queue: "test",
                callback: (err, msg) => !err && this.onJoin(msg),
            }),
            this.nc.subscribe("roomcast.hook.publish", {
                queue: "test",
                callback: (err, msg) => !err && this.onPublish(msg),
            }),
        ];
        await this.nc.flush();
    }

    /** Stops answering hooks (the lifecycle subscription stays): NATS has no responders. */
    async stopHooks() {
        for (const s of this.subs) {
            s.unsubscribe();
        }
        this.subs = [];
        await this.nc.flush();
    }

    onJoin(msg) {
        const req = decode(JoinHook, msg.data);
        this.requests.push({ hook: "join", ...req });
        const reply = (body, delay = 0) => {
            const send = () => msg.respond(JoinHookReply.encode(JoinHookReply.create(body)).finish());
            delay > 0 ? setTimeout(send, delay) : send();
        };
        if (req.room.startsWith("hj:deny-coded")) {
            reply({ allow: false, error: { code: "not_member", message: "ask an owner of this team" } });
        } else if (req.room.startsWith("hj:deny")) {
            reply({ allow: false });
        } else if (req.room.startsWith("hj:slow")) {
            reply({ allow: true }, kSlowMs);
        } else if (req.room.startsWith("hj:late")) {
            reply({ allow: true }, kLateMs);
        } else if (req.room.startsWith("hj:garbage")) {
            msg.respond(new Uint8Array([0xff, 0xff, 0xff]));
        } else {
            reply({ allow: true });
        }
    }

    onPublish(msg) {
        const req = decode(PublishHook, msg.data);
        this.requests.push({ hook: "publish", ...req });
        const reply = (body, delay = 0) => {
            const send = () => msg.respond(PublishHookReply.encode(PublishHookReply.create(body)).finish());
            delay > 0 ? setTimeout(send, delay) : send();
        };
        switch (req.event) {
            case "deny":
                reply({ allow: false, error: { code: "moderated", message: "that word is not allowed here" } });
                break;
            case "replace": {
                const data = JSON.parse(req.dataJson);
                reply({ allow: true, replace: true, dataJson: JSON.stringify({ text: data.text.replace(/darn/g, "****"), moderated: true }) });
                break;
            }
            case "slow":
                reply({ allow: false, error: { code: "too_late" } }, kSlowMs);
                break;
            default:
                reply({ allow: true });
        }
    }

    asked(room) {
        return this.requests.filter((r) => r.room === room);
    }

    /** Every lifecycle event about `socketId`, with its batch's subject and edge. */
    eventsOf(socketId) {
        const out = [];
        for (const { subject, batch } of this.batches) {
            for (const e of batch.events) {
                if (e.socketId === socketId) {
                    out.push({ ...e, subject, edgeId: batch.edgeId, kindName: Kind[e.kind] });
                }
            }
        }
        return out;
    }

    async close() {
        await this.nc?.drain();
    }
}

let backend;

before(async () => {
    stack = await startStack({
        edges: ["edge-1", "edge-2"],
        edgeArgs: [
            "--hook-join-prefixes", "hj:",
            "--hook-publish-prefixes", "hp:",
            "--hook-timeout", `${kHookTimeoutMs}ms`,
            "--hook-join-fail", "closed",
            "--hook-publish-fail", "open",
            "--lifecycle-interval", "50ms",
        ],
    });
    rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
    backend = new Backend();
    await backend.start();
});
afterEach(async () => {
    clients.closeAll();
    if (backend && backend.subs.length === 0) {
        await backend.answerHooks();
    }
});
after(async () => {
    clients.closeAll();
    rooms?.close();
    await backend?.close();
    await stack?.stop();
});

const edgeUrl = (i) => stack.edges[i].url;

describe("join hook", () => {
    test("allow: the join goes on, and the hook was asked with the socket and the room", async () => {
        const c = await connectUser(clients, stack, edgeUrl(0));
        const room = uniqueRoom("hj:allow");
        await joinRoom(c.socket, room);
        const asked = backend.asked(room);
        assert.equal(asked.length, 1, `asked once: ${JSON.stringify(asked)}`);
        const req = asked[0];
        assert.equal(req.hook, "join");
        assert.equal(req.client.userId, c.user);
        assert.equal(req.client.userName, `User ${c.user}`);
        assert.equal(req.client.socketId, c.socket.id);
        assert.equal(req.client.edgeId, edgeOf(c.socket));
        assert.equal(req.client.namespace, "/");
        // The token's claims, as custom events get them.
        assert.equal(JSON.parse(req.client.claimsJson).sub, c.user);
        assert.ok(Number(req.deadlineMs) > Date.now() - 60_000, `deadline_ms is Unix ms: ${req.deadlineMs}`);
        await publishOk(c.socket, room, "msg", { hello: 1 });
    });

    test("deny: the join ack carries the hook's code and message (forbidden when it gives none)", async () => {
        const c = await connectUser(clients, stack, edgeUrl(1));
        const coded = await request(c.socket, "join", { room: uniqueRoom("hj:deny-coded") });
        assertError(coded, "not_member", "coded refusal");
        assert.equal(coded.error.message, "ask an owner of this team");
        const bare = uniqueRoom("hj:deny");
        assertError(await request(c.socket, "join", { room: bare }), "forbidden", "refusal without a code");
        // Not in the room: a publish is not_joined.
        assertError(await request(c.socket, "publish", { room: bare, event: "e", data: 1 }), "not_joined", "after a refusal");
    });

    test("fail closed: no backend, a slow backend and a bad reply are unavailable", async () => {
        const c = await connectUser(clients, stack, edgeUrl(0));
        const slow = uniqueRoom("hj:slow");
        const started = Date.now();
        assertError(await request(c.socket, "join", { room: slow }), "unavailable", "slow backend");
        const took = Date.now() - started;
        assert.ok(took < kSlowMs, `answered at the edge's deadline (${took} ms), not the backend's reply`);
        assert.equal(backend.asked(slow).length, 1);
        assertError(await request(c.socket, "join", { room: uniqueRoom("hj:garbage") }), "unavailable", "bad reply");
        await backend.stopHooks();
        const none = uniqueRoom("hj:allow");
        assertError(await request(c.socket, "join", { room: none }), "unavailable", "no backend");
        assert.equal(backend.asked(none).length, 0);
    });

    test("rooms outside the prefixes are not asked", async () => {
        const c = await connectUser(clients, stack, edgeUrl(1));
        const room = uniqueRoom("free");
        await joinRoom(c.socket, room);
        await publishOk(c.socket, room, "deny", { text: "darn" });
        assert.equal(backend.asked(room).length, 0);
    });
});

describe("publish hook", () => {
    test("allow, deny with code and message, and replace (members and history get the replacement)", async () => {
        const a = await connectUser(clients, stack, edgeUrl(0));
        const b = await connectUser(clients, stack, edgeUrl(1));
        const room = uniqueRoom("hp:chat");
        await joinRoom(a.socket, room);
        await joinRoom(b.socket, room);
        const inbox = new Inbox(b.socket, "replace");
        const plain = new Inbox(b.socket, "msg");

        await publishOk(a.socket, room, "msg", { text: "hello" });
        await plain.waitFor(1);
        assert.deepEqual(plain.items[0].data, { text: "hello" });

        const denied = await request(a.socket, "publish", { room, event: "deny", data: { text: "darn" } });
        assertError(denied, "moderated", "denied publish");
        assert.equal(denied.error.message, "that word is not allowed here");

        await publishOk(a.socket, room, "replace", { text: "oh darn it" });
        await inbox.waitFor(1);
        assert.deepEqual(inbox.items[0].data, { text: "oh **** it", moderated: true });

        const publishes = backend.asked(room).filter((r) => r.hook === "publish");
        assert.deepEqual(publishes.map((r) => r.event), ["msg", "deny", "replace"]);
        assert.equal(publishes[0].dataJson, JSON.stringify({ text: "hello" }));
        assert.equal(publishes[0].client.userId, a.user);
        assert.equal(publishes[0].client.socketId, a.socket.id);
        assert.deepEqual(publishes[0].client.rooms, [room], "the rooms the socket is in");

        const history = await request(b.socket, "history", { room });
        assert.equal(history.ok, true, JSON.stringify(history));
        assert.deepEqual(
            history.messages.map((m) => [m.event, m.data]),
            [["msg", { text: "hello" }], ["replace", { text: "oh **** it", moderated: true }]],
            "the denied publish is not stored; the replacement is",
        );
    });

    test("fail open: a slow backend and no backend let the client's data through", async () => {
        const a = await connectUser(clients, stack, edgeUrl(1));
        const room = uniqueRoom("hp:open");
        await joinRoom(a.socket, room);
        const started = Date.now();
        await publishOk(a.socket, room, "slow", { n: 1 });
        assert.ok(Date.now() - started < kSlowMs, "not held until the late reply");
        await backend.stopHooks();
        await publishOk(a.socket, room, "deny", { n: 2 });
        const history = await request(a.socket, "history", { room });
        assert.deepEqual(history.messages.map((m) => m.data), [{ n: 1 }, { n: 2 }]);
        assert.deepEqual(backend.asked(room).map((r) => r.event), ["slow"]);
    });
});

describe("lifecycle events", () => {
    test("connect, join, leave, kicked and disconnect, once each, in order; publishes are not events", async () => {
        const c = await connectUser(clients, stack, edgeUrl(1));
        const sid = c.socket.id;
        const edge = edgeOf(c.socket);
        const first = uniqueRoom("lc-a");
        const second = uniqueRoom("lc-b");
        await joinRoom(c.socket, first);
        await publishOk(c.socket, first, "msg", { n: 1 });
        assert.equal((await request(c.socket, "leave", { room: first })).ok, true);
        await joinRoom(c.socket, second);
        const kicked = nextEvent(c.socket, "kicked", { timeout: 5_000 });
        await rooms.call("KickUser", { room_id: second, user_id: c.user, reason: "spam" });
        await kicked;
        c.socket.disconnect();

        const want = ["KIND_CONNECT", "KIND_JOIN", "KIND_LEAVE", "KIND_JOIN", "KIND_KICKED", "KIND_DISCONNECT"];
        const events = await eventually(
            () => {
                const got = backend.eventsOf(sid);
                assert.equal(got.length, want.length, JSON.stringify(got.map((e) => e.kindName)));
                return got;
            },
            { timeout: kLifecycleWaitMs, what: "the socket's lifecycle events" },
        );
        // Nothing more arrives after a few more intervals (each event exactly once).
        await sleep(300);
        assert.equal(backend.eventsOf(sid).length, want.length, "no duplicates");
        assert.deepEqual(events.map((e) => e.kindName), want);
        for (const e of events) {
            assert.equal(e.userId, c.user);
            assert.equal(e.userName, `User ${c.user}`);
            assert.equal(e.namespace, "/");
            assert.equal(e.edgeId, edge, "published by the socket's edge");
            assert.equal(e.subject, `roomcast.lifecycle.${edge}`);
            assert.ok(Math.abs(Number(e.atMs) - Date.now()) < 60_000, `at_ms is Unix ms: ${e.atMs}`);
        }
        assert.equal(events[0].recovered, false);
        assert.equal(events[1].room, first);
        assert.equal(events[2].room, first);
        assert.equal(events[3].room, second);
        assert.equal(events[4].room, second);
        assert.equal(events[4].reason, "spam");
        assert.equal(events[5].reason, "client namespace disconnect");
        for (const e of events.filter((e) => e.kindName !== "KIND_KICKED" && e.kindName !== "KIND_DISCONNECT")) {
            assert.equal(e.reason, "");
        }
    });

    test("a socket that leaves while the join hook decides is left alone (no join event, the edge lives on)", async () => {
        const c = await connectUser(clients, stack, edgeUrl(0));
        const sid = c.socket.id;
        // The backend allows the join within the deadline, but only after the client has gone:
        // the verdict must not touch the gone socket (stack.stop() fails on an edge crash).
        const room = uniqueRoom("hj:late");
        c.socket.emit("join", { room }, () => {});
        await eventually(() => assert.equal(backend.asked(room).length, 1), { what: "the hook asked" });
        c.socket.disconnect();
        const events = await eventually(
            () => {
                const got = backend.eventsOf(sid);
                assert.equal(got.at(-1)?.kindName, "KIND_DISCONNECT", JSON.stringify(got.map((e) => e.kindName)));
                return got;
            },
            { timeout: kLifecycleWaitMs, what: "the disconnect event" },
        );
        await sleep(kLateMs + 300);
        assert.deepEqual(backend.eventsOf(sid).map((e) => e.kindName), ["KIND_CONNECT", "KIND_DISCONNECT"]);
        assert.deepEqual(events.map((e) => e.kindName), ["KIND_CONNECT", "KIND_DISCONNECT"]);
    });
});

test("metrics: hook requests by kind and result, lifecycle drops", async () => {
    const text = await withTimeout(
        fetch(`${stack.edges[0].adminUrl}/metrics`).then((r) => r.text()),
        5_000,
        "metrics",
    );
    assert.match(text, /roomcast_edge_backend_requests_total\{kind="join",result="ok"\} [1-9]/);
    assert.match(text, /roomcast_edge_lifecycle_dropped_total 0/);
    assert.match(text, /roomcast_edge_lifecycle_events_total [1-9]/);
});
