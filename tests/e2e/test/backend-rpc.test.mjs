// Application backends over NATS (docs/backends.md), with a backend written here on the `nats`
// package and protobufjs (backend.proto): custom events (RPC) with and without acks, their
// errors, deadline, missing backend, binary round trip, per-socket in-flight cap and queue-group
// load sharing; custom events on extra namespaces (--namespaces); the connect hook for tokenless
// connections; emits to a user's sockets on two edges and to one socket id.

import assert from "node:assert/strict";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { connect as natsConnect } from "nats";
import protobuf from "protobufjs";
import { ClientPool, emitWithAck, expectNoEvent, nextEvent, waitConnectError, waitConnected, withTimeout } from "../lib/clients.mjs";
import { connectUser, metricValue, tokenFor } from "../lib/roomcast.mjs";
import { repoDir, startStack } from "../lib/stack.mjs";

// Long enough for a stray delivery to show up on loopback.
const kQuietMs = 400;
const kRpcTimeoutMs = 500;

let stack;
let nc;
let nc2;
let pb;
const clients = new ClientPool();
const subs = [];

/** The message types of backend.proto. */
async function loadProto() {
    const root = await protobuf.load(path.join(repoDir, "proto/roomcast/backend/v1/backend.proto"));
    const t = (name) => root.lookupType(`roomcast.backend.v1.${name}`);
    return {
        CustomEvent: t("CustomEvent"),
        CustomEventReply: t("CustomEventReply"),
        ConnectHook: t("ConnectHook"),
        ConnectHookReply: t("ConnectHookReply"),
        Emit: t("Emit"),
    };
}

const encode = (type, obj) => type.encode(type.create(obj)).finish();
const decode = (type, data) => type.toObject(type.decode(data), { longs: Number, defaults: true });

/**
 * A backend handler on `subject` (queue group "svc" unless given) on connection `conn`:
 * `handler(CustomEvent object, msg)` returns a CustomEventReply object to answer, or undefined.
 */
async function handle(subject, handler, { conn = nc, queue = "svc" } = {}) {
    const sub = conn.subscribe(subject, {
        queue,
        callback: (err, msg) => {
            if (err) {
                return;
            }
            const reply = handler(decode(pb.CustomEvent, msg.data), msg);
            if (reply !== undefined && msg.reply) {
                msg.respond(encode(pb.CustomEventReply, reply));
            }
        },
    });
    subs.push(sub);
    await conn.flush();
    return sub;
}

function user(name) {
    return connectUser(clients, stack, stack.edges[0].url, { user: name, transports: ["websocket"] });
}

before(async () => {
    pb = await loadProto();
    stack = await startStack({
        edges: ["edge-1", "edge-2"],
        edgeArgs: [
            "--rpc-timeout", `${kRpcTimeoutMs}ms`,
            "--rpc-max-in-flight", "2",
            "--namespaces", "/admin,/team-*",
            "--hook-connect", "tokenless",
            "--hook-timeout", "1s",
        ],
    });
    nc = await natsConnect({ ...stack.natsOptions("backend"), name: "e2e-backend-1" });
    nc2 = await natsConnect({ ...stack.natsOptions("backend"), name: "e2e-backend-2" });
});
afterEach(() => {
    clients.closeAll();
    for (const s of subs.splice(0)) {
        s.unsubscribe();
    }
});
after(async () => {
    clients.closeAll();
    await nc?.close();
    await nc2?.close();
    await stack?.stop();
});

describe("custom events", () => {
    test("an acked event is a request with the socket's identity; the reply's result is the ack", async () => {
        let seen;
        await handle("roomcast.rpc.createPost", (ev, msg) => {
            seen = { ev, reply: msg.reply };
            return { ok: true, resultJson: JSON.stringify({ id: 42, title: JSON.parse(ev.argsJson)[0].title }) };
        });
        const { socket } = await user("alice");
        const [ack] = await emitWithAck(socket, "createPost", [{ title: "hello" }, 7]);
        assert.deepEqual(ack, { ok: true, result: { id: 42, title: "hello" } });
        assert.ok(seen.reply, "an acked event must be a request");
        assert.equal(seen.ev.event, "createPost");
        assert.deepEqual(JSON.parse(seen.ev.argsJson), [{ title: "hello" }, 7]);
        assert.equal(seen.ev.client.userId, "alice");
        assert.equal(seen.ev.client.userName, "User alice");
        assert.equal(JSON.parse(seen.ev.client.claimsJson).sub, "alice");
        assert.equal(seen.ev.client.socketId, socket.id);
        assert.equal(seen.ev.client.edgeId, "edge-1");
        assert.equal(seen.ev.client.namespace, "/");
        assert.ok(seen.ev.client.remoteAddress, "remote address");
        assert.ok(seen.ev.deadlineMs > Date.now() - 1000, `deadline ${seen.ev.deadlineMs}`);
    });

    test("a refusal passes through as {ok:false, error}; reserved names are not custom events", async () => {
        await handle("roomcast.rpc.deletePost", () => ({ ok: false, error: { code: "forbidden", message: "not yours" } }));
        const { socket } = await user("alice");
        const [ack] = await emitWithAck(socket, "deletePost", [{ id: 1 }]);
        assert.deepEqual(ack, { ok: false, error: { code: "forbidden", message: "not yours" } });
        const [kicked] = await emitWithAck(socket, "kicked", [{}]);
        assert.equal(kicked.ok, false);
        assert.equal(kicked.error.code, "bad_request");
    });

    test("a backend that never answers: unavailable at the deadline", async () => {
        let asked = 0;
        await handle("roomcast.rpc.slow", () => {
            asked += 1;
            return undefined;
        });
        const { socket } = await user("alice");
        const start = Date.now();
        const [ack] = await emitWithAck(socket, "slow", [], { timeout: 5_000 });
        const took = Date.now() - start;
        assert.equal(ack.ok, false);
        assert.equal(ack.error.code, "unavailable");
        assert.equal(asked, 1);
        assert.ok(took >= kRpcTimeoutMs - 50 && took < kRpcTimeoutMs + 1500, `answered after ${took} ms`);
    });

    test("no backend subscribed: unavailable at once", async () => {
        const { socket } = await user("alice");
        const start = Date.now();
        const [ack] = await emitWithAck(socket, "nobodyHandlesThis", [1]);
        assert.equal(ack.ok, false);
        assert.equal(ack.error.code, "unavailable");
        assert.ok(Date.now() - start < kRpcTimeoutMs, "no responders must not wait for the deadline");
        assert.ok((await metricValue(stack.edges[0].adminUrl, "roomcast_edge_rpc_requests_total",
            { event: "nobodyHandlesThis", result: "unavailable" })) >= 1);
    });

    test("binary arguments reach the backend as attachments and come back as Buffers", async () => {
        await handle("roomcast.rpc.echoBin", (ev) => {
            const args = JSON.parse(ev.argsJson);
            assert.deepEqual(args, [{ name: "f", data: { _placeholder: true, num: 0 } }]);
            const doubled = Buffer.concat([ev.attachments[0], ev.attachments[0]]);
            return {
                ok: true,
                resultJson: JSON.stringify({ size: ev.attachments[0].length, file: { _placeholder: true, num: 0 } }),
                attachments: [doubled],
            };
        });
        const { socket } = await user("alice");
        const [ack] = await emitWithAck(socket, "echoBin", [{ name: "f", data: Buffer.from([1, 2, 3]) }]);
        assert.equal(ack.ok, true);
        assert.equal(ack.result.size, 3);
        assert.ok(Buffer.isBuffer(ack.result.file), `result.file must be a Buffer, got ${typeof ack.result.file}`);
        assert.deepEqual([...ack.result.file], [1, 2, 3, 1, 2, 3]);
    });

    test("without an ack the event is published: the backend gets it, nothing is answered", async () => {
        let resolveGot;
        const received = new Promise((resolve) => {
            resolveGot = resolve;
        });
        await handle("roomcast.rpc.note", (ev, msg) => {
            resolveGot({ ev, reply: msg.reply });
            return { ok: true };
        });
        const { socket } = await user("alice");
        socket.emit("note", "fire", "forget");
        const got = await withTimeout(received, 5_000, "fire-and-forget event at the backend");
        assert.ok(!got.reply, "fire-and-forget must not be a request");
        assert.equal(got.ev.deadlineMs, 0);
        assert.deepEqual(JSON.parse(got.ev.argsJson), ["fire", "forget"]);
    });

    test("a socket's third waiting request is rate_limited without reaching the backend", async () => {
        const held = [];
        await handle("roomcast.rpc.hold", (ev, msg) => {
            held.push(msg);
            return undefined;
        });
        const { socket } = await user("alice");
        const first = emitWithAck(socket, "hold", [1]);
        const second = emitWithAck(socket, "hold", [2]);
        const [third] = await emitWithAck(socket, "hold", [3]);
        assert.equal(third.ok, false);
        assert.equal(third.error.code, "rate_limited");
        // The first two reached the backend; answer them.
        const deadline = Date.now() + 2_000;
        while (held.length < 2 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal(held.length, 2, "exactly two requests reached the backend");
        for (const m of held) {
            m.respond(encode(pb.CustomEventReply, { ok: true, resultJson: "\"done\"" }));
        }
        assert.deepEqual((await first)[0], { ok: true, result: "done" });
        assert.deepEqual((await second)[0], { ok: true, result: "done" });
        // Slots are free again.
        const [fourth] = await emitWithAck(socket, "hold", [4], { timeout: 5_000 });
        assert.equal(fourth.error?.code, "unavailable", "a free slot sends again (the backend holds it past the deadline)");
        assert.equal(held.length, 3);
    });

    test("two backend replicas in a queue group share the requests, each answered once", async () => {
        const counts = [0, 0];
        await handle("roomcast.rpc.share", () => {
            counts[0] += 1;
            return { ok: true, resultJson: "1" };
        });
        await handle("roomcast.rpc.share", () => {
            counts[1] += 1;
            return { ok: true, resultJson: "2" };
        }, { conn: nc2 });
        const { socket } = await user("alice");
        const results = [];
        for (let i = 0; i < 40; i++) {
            const [ack] = await emitWithAck(socket, "share", [i]);
            assert.equal(ack.ok, true);
            results.push(ack.result);
        }
        assert.equal(counts[0] + counts[1], 40, "each request answered by exactly one replica");
        assert.ok(counts[0] > 0 && counts[1] > 0, `both replicas must get requests: ${counts}`);
        assert.deepEqual(results.filter((r) => r === 1).length, counts[0]);
    });
});

describe("extra namespaces", () => {
    test("events on /admin and /team-x are custom events on their namespace's subjects", async () => {
        const seen = [];
        await handle("roomcast.ns.admin.rpc.ban", (ev) => {
            seen.push(ev);
            return { ok: true, resultJson: JSON.stringify({ banned: JSON.parse(ev.argsJson)[0] }) };
        });
        await handle("roomcast.ns.team-x.rpc.join", (ev) => {
            seen.push(ev);
            return { ok: true, resultJson: "\"team\"" };
        });
        const token = tokenFor(stack, "root");
        const admin = clients.socket(`${stack.edges[0].url}/admin`, { forceNew: true, auth: { token }, transports: ["websocket"] });
        await waitConnected(admin.socket, { what: "connect to /admin" });
        const [ack] = await emitWithAck(admin.socket, "ban", ["mallory"]);
        assert.deepEqual(ack, { ok: true, result: { banned: "mallory" } });
        assert.equal(seen[0].client.namespace, "/admin");
        assert.equal(seen[0].client.userId, "root");

        // On an extra namespace "join" is the application's, not Roomcast's.
        const team = clients.socket(`${stack.edges[1].url}/team-x`, { forceNew: true, auth: { token }, transports: ["websocket"] });
        await waitConnected(team.socket, { what: "connect to /team-x" });
        const [teamAck] = await emitWithAck(team.socket, "join", [{ room: "r" }]);
        assert.deepEqual(teamAck, { ok: true, result: "team" });
        assert.equal(seen[1].client.namespace, "/team-x");
        assert.equal(seen[1].client.edgeId, "edge-2");

        const noToken = clients.socket(`${stack.edges[0].url}/admin`, { forceNew: true, auth: { token: "garbage" } });
        const err = await waitConnectError(noToken.socket, { what: "bad token on /admin" });
        assert.equal(err.message, "unauthorized");
        const unknown = clients.socket(`${stack.edges[0].url}/nope`, { forceNew: true, auth: { token } });
        assert.equal((await waitConnectError(unknown.socket)).message, "Invalid namespace");
    });
});

describe("connect hook (tokenless)", () => {
    async function hook(decide) {
        const asked = [];
        const sub = nc.subscribe("roomcast.hook.connect", {
            queue: "auth",
            callback: (err, msg) => {
                if (err) {
                    return;
                }
                const req = decode(pb.ConnectHook, msg.data);
                asked.push(req);
                msg.respond(encode(pb.ConnectHookReply, decide(req)));
            },
        });
        subs.push(sub);
        await nc.flush();
        return asked;
    }

    test("a session cookie or auth.session names the user; a denial is unauthorized with the code", async () => {
        const asked = await hook((req) => {
            const cookie = req.headers.find((h) => h.name === "cookie")?.value ?? "";
            const auth = JSON.parse(req.authJson);
            if (cookie.includes("sid=good") ) {
                return { allow: true, userId: "cookie-user", userName: "Cookie", claimsJson: "{\"plan\":\"pro\"}" };
            }
            if (auth.session === "s-123") {
                return { allow: true, userId: "session-user" };
            }
            return { allow: false, error: { code: "banned", message: "go away" } };
        });
        let seen;
        await handle("roomcast.rpc.whoami", (ev) => {
            seen = ev;
            return { ok: true, resultJson: JSON.stringify(ev.client.userId) };
        });

        const a = clients.socket(stack.edges[0].url, {
            forceNew: true, transports: ["websocket"], extraHeaders: { cookie: "sid=good; x=1" },
        });
        await waitConnected(a.socket, { what: "cookie connect" });
        assert.deepEqual(await emitWithAck(a.socket, "whoami", []), [{ ok: true, result: "cookie-user" }]);
        assert.equal(seen.client.userName, "Cookie");
        assert.deepEqual(JSON.parse(seen.client.claimsJson), { plan: "pro" });
        assert.equal(asked[0].namespace, "/");
        assert.ok(asked[0].remoteAddress);
        assert.equal(asked[0].client, null, "a tokenless request names no user");

        const b = clients.socket(stack.edges[1].url, { forceNew: true, auth: { session: "s-123" } });
        await waitConnected(b.socket, { what: "auth.session connect" });
        assert.deepEqual(await emitWithAck(b.socket, "whoami", []), [{ ok: true, result: "session-user" }]);

        const c = clients.socket(stack.edges[0].url, { forceNew: true, auth: { session: "bad" }, reconnection: false });
        const err = await waitConnectError(c.socket, { what: "denied connect" });
        assert.equal(err.message, "unauthorized");
        assert.deepEqual(err.data, { code: "banned", message: "go away" });

        // Token holders are not asked in this mode.
        const before = asked.length;
        await user("alice");
        assert.equal(asked.length, before);
    });

    test("no hook backend: a tokenless connection is refused unavailable", async () => {
        const c = clients.socket(stack.edges[0].url, { forceNew: true, auth: { session: "s-123" }, reconnection: false });
        const err = await waitConnectError(c.socket, { what: "tokenless without a hook backend", timeout: 5_000 });
        assert.equal(err.message, "unauthorized");
        assert.equal(err.data?.code, "unavailable");
    });
});

describe("emit to a user or a socket", () => {
    test("a user's sockets on both edges get it, nobody else; a socket id reaches that socket only", async () => {
        const c1 = await connectUser(clients, stack, stack.edges[0].url, { user: "carol", transports: ["websocket"] });
        const c2 = await connectUser(clients, stack, stack.edges[1].url, { user: "carol", transports: ["polling"] });
        const d = await connectUser(clients, stack, stack.edges[1].url, { user: "dave", transports: ["websocket"] });
        const adminCarol = clients.socket(`${stack.edges[1].url}/admin`, {
            forceNew: true, auth: { token: tokenFor(stack, "carol") }, transports: ["websocket"],
        });
        await waitConnected(adminCarol.socket);

        const got1 = nextEvent(c1.socket, "notice", { what: "carol on edge-1" });
        const got2 = nextEvent(c2.socket, "notice", { what: "carol on edge-2" });
        const davesNone = expectNoEvent(d.socket, "notice", kQuietMs, "dave");
        const adminNone = expectNoEvent(adminCarol.socket, "notice", kQuietMs, "carol on /admin");
        nc.publish("roomcast.emit", encode(pb.Emit, {
            userId: "carol", event: "notice", argsJson: JSON.stringify([{ n: 1 }, "x"]),
        }));
        assert.deepEqual(await got1, [{ n: 1 }, "x"]);
        assert.deepEqual(await got2, [{ n: 1 }, "x"]);
        await davesNone;
        await adminNone;

        // The /admin namespace: only the socket there, with binary.
        const gotAdmin = nextEvent(adminCarol.socket, "file", { what: "carol on /admin" });
        const rootNone = expectNoEvent(c1.socket, "file", kQuietMs, "carol on /");
        nc.publish("roomcast.emit", encode(pb.Emit, {
            userId: "carol", namespace: "/admin", event: "file",
            argsJson: JSON.stringify([{ _placeholder: true, num: 0 }]), attachments: [Buffer.from([9, 8])],
        }));
        const [buf] = await gotAdmin;
        assert.deepEqual([...buf], [9, 8]);
        await rootNone;

        // One socket by id.
        const only = nextEvent(c2.socket, "ping1", { what: "carol's polling socket" });
        const otherNone = expectNoEvent(c1.socket, "ping1", kQuietMs, "carol's other socket");
        nc.publish("roomcast.emit", encode(pb.Emit, { socketId: c2.socket.id, event: "ping1", argsJson: "[true]" }));
        assert.deepEqual(await only, [true]);
        await otherNone;

        // Invalid emits are dropped and counted.
        nc.publish("roomcast.emit", encode(pb.Emit, { userId: "carol", event: "join", argsJson: "[]" }));
        await nc.flush();
        const invalid = async () => metricValue(stack.edges[0].adminUrl, "roomcast_edge_emits_total", { result: "invalid" });
        const deadline = Date.now() + 3_000;
        while ((await invalid()) < 1 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok((await invalid()) >= 1, "an emit of a reserved event is counted invalid");
        assert.ok((await metricValue(stack.edges[0].adminUrl, "roomcast_edge_emits_total", { result: "delivered" })) >= 1);
    });
});

describe("connect hook (all, fail open)", () => {
    let stack2;
    let nc3;
    before(async () => {
        stack2 = await startStack({
            edges: ["edge-a"],
            edgeArgs: ["--hook-connect", "all", "--hook-connect-fail", "open", "--hook-timeout", "300ms"],
        });
        nc3 = await natsConnect({ ...stack2.natsOptions("backend"), name: "e2e-backend-all" });
    });
    after(async () => {
        await nc3?.close();
        await stack2?.stop();
    });

    test("token holders are asked with their user, and the reply may rename them", async () => {
        const asked = [];
        const hookSub = nc3.subscribe("roomcast.hook.connect", {
            callback: (err, msg) => {
                const req = decode(pb.ConnectHook, msg.data);
                asked.push(req);
                msg.respond(encode(pb.ConnectHookReply, req.client?.userId === "erin"
                    ? { allow: true, userId: "erin-mapped" }
                    : { allow: false, error: { code: "", message: "" } }));
            },
        });
        subs.push(hookSub);
        await handle("roomcast.rpc.whoami", (ev) => ({ ok: true, resultJson: JSON.stringify(ev.client.userId) }),
            { conn: nc3 });
        const erin = await connectUser(clients, stack2, stack2.edges[0].url, { user: "erin", transports: ["websocket"] });
        assert.equal(asked.length, 1);
        assert.equal(asked[0].client.userId, "erin");
        assert.equal(JSON.parse(asked[0].client.claimsJson).sub, "erin");
        assert.deepEqual(await emitWithAck(erin.socket, "whoami", []), [{ ok: true, result: "erin-mapped" }]);

        const other = clients.socket(stack2.edges[0].url, {
            forceNew: true, auth: { token: tokenFor(stack2, "frank") }, reconnection: false,
        });
        const err = await waitConnectError(other.socket, { what: "denied token holder" });
        assert.equal(err.message, "unauthorized");
        assert.equal(err.data.code, "forbidden", "an empty code is forbidden");
    });

    test("no hook backend: token holders get in (open), tokenless connections do not", async () => {
        const start = Date.now();
        await connectUser(clients, stack2, stack2.edges[0].url, { user: "gina", transports: ["websocket"] });
        assert.ok(Date.now() - start < 3_000);
        const anon = clients.socket(stack2.edges[0].url, { forceNew: true, auth: { session: "x" }, reconnection: false });
        const err = await waitConnectError(anon.socket, { what: "tokenless, fail open" });
        assert.equal(err.data?.code, "unavailable");
    });
});
