// NATS is closed (PRODUCT.md §1; docs/operations.md, "NATS roles"), end to end: a real
// nats-server with the users the chart and scripts/up render from nats-roles.json, every service
// running as its role. Without credentials nothing connects; the application-backend role
// publishes to rooms and receives room events but cannot write token keys, room rights or control
// subjects; an edge cannot write room rights (it asks the rooms service to auto-create rooms).
// Every stack's stop() also checks that no log line of the run holds a NATS password, the admin
// token or the JWT secret (lib/stack.mjs); this file's stack has seen refused logins too.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { connect as natsConnect, headers as natsHeaders } from "nats";
import { adminClient } from "../lib/admin.mjs";
import { ClientPool, eventually, nextEvent, withTimeout } from "../lib/clients.mjs";
import { connectUser, joinRoom, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { freePorts, kNatsAdminUser, repoDir } from "../lib/stack.mjs";

let stack;
let rooms;
const clients = new ClientPool();
const connections = [];

before(async () => {
    stack = await startEdgeStack({ services: ["rooms", "presence", "auth"], edges: 1 });
    rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    rooms?.close();
    await Promise.all(connections.map((nc) => nc.close().catch(() => {})));
    await stack?.stop();
});

/** A NATS connection as `role`, whose asynchronous errors (permission violations) are kept. */
async function connectAs(role) {
    const nc = await natsConnect({ ...stack.natsOptions(role), name: `nats-auth-test-${role}` });
    connections.push(nc);
    const errors = [];
    (async () => {
        for await (const s of nc.status()) {
            if (s.type === "error") {
                errors.push(String(s.data));
            }
        }
    })();
    return { nc, errors };
}

/** The protobuf of bus.v1.RoomEvent {room, event, data_json, from} (string fields only). */
function roomEvent({ room, event, dataJson, from }) {
    const field = (number, text) => {
        const bytes = Buffer.from(text, "utf8");
        const length = [];
        let n = bytes.length;
        do {
            length.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
            n >>>= 7;
        } while (n > 0);
        return Buffer.concat([Buffer.from([(number << 3) | 2, ...length]), bytes]);
    };
    return Buffer.concat([field(1, room), field(2, event), field(3, dataJson), field(5, from)]);
}

const keyToken = (id) => Buffer.from(id, "utf8").toString("base64url");

/** Resolves with the rejection's code (nats.js errors carry one), or "resolved". */
async function outcome(promise) {
    try {
        await promise;
        return "resolved";
    } catch (err) {
        return err.code ?? err.message;
    }
}

/** A JetStream publish (a request whose reply is the PubAck), as `nc`. */
function jsPublish(nc, subject, data) {
    return nc.jetstream().publish(subject, data, { timeout: 3_000 });
}

describe("without credentials", () => {
    test("a connection without credentials, or with a wrong password, is refused", async () => {
        assert.equal(await outcome(natsConnect({ servers: stack.natsUrl, reconnect: false })), "AUTHORIZATION_VIOLATION");
        const { user } = stack.natsCredentials("backend");
        assert.equal(
            await outcome(natsConnect({ servers: stack.natsUrl, user, pass: "wrong", reconnect: false })),
            "AUTHORIZATION_VIOLATION",
        );
    });
});

describe("the application-backend role", () => {
    test("publishes to a room with a JetStream publish (the PubAck's sequence is the offset) and receives the room's events", async () => {
        const room = uniqueRoom("backend");
        const member = await connectUser(clients, stack, stack.edges[0].url);
        await joinRoom(member.socket, room);
        const { nc, errors } = await connectAs("backend");
        const fanout = nc.subscribe(`roomcast.fanout.${room}`, { max: 1 });
        await nc.flush();

        const received = nextEvent(member.socket, "news", { timeout: 10_000 });
        const ack = await jsPublish(
            nc,
            `roomcast.room.${room}`,
            roomEvent({ room, event: "news", dataJson: '{"text":"from the backend"}', from: "server" }),
        );
        assert.equal(ack.stream, "ROOMCAST_ROOMS");
        assert.ok(ack.seq > 0);

        const [data, meta, offset] = await received;
        assert.deepEqual(data, { text: "from the backend" });
        assert.equal(meta.from, "server");
        assert.equal(offset, String(ack.seq), "the client's offset is the PubAck's sequence");

        const iter = fanout[Symbol.asyncIterator]();
        const stored = await withTimeout(iter.next(), 5_000, "the room event on roomcast.fanout");
        assert.equal(stored.value.headers?.get("Nats-Sequence"), String(ack.seq));
        assert.deepEqual(errors, []);
    });

    test("cannot write token keys, room rights, revocations or control subjects, nor forge fan-out", async () => {
        const room = uniqueRoom("guarded");
        const { nc } = await connectAs("backend");
        const { nc: admin } = await connectAs(kNatsAdminUser);
        const jwksBefore = await (await admin.jetstream().views.kv("roomcast_config")).get("jwks");

        const denied = {
            "$KV.roomcast_config.jwks": jsPublish(nc, "$KV.roomcast_config.jwks", Buffer.from('{"keys":[]}')),
            "$KV.roomcast_rooms room key": jsPublish(nc, `$KV.roomcast_rooms.room.${keyToken(room)}`, Buffer.from("x")),
            "$KV.roomcast_rooms member key": jsPublish(
                nc,
                `$KV.roomcast_rooms.member.${keyToken(room)}.${keyToken("mallory")}`,
                Buffer.from("x"),
            ),
            "$KV.roomcast_revocations": jsPublish(nc, `$KV.roomcast_revocations.user.${keyToken("alice")}`, Buffer.from("x")),
            "$JS.API.STREAM.PURGE.KV_roomcast_rooms": nc.request("$JS.API.STREAM.PURGE.KV_roomcast_rooms", Buffer.from("{}"), { timeout: 3_000 }),
            "$JS.API.STREAM.UPDATE.KV_roomcast_config": nc.request("$JS.API.STREAM.UPDATE.KV_roomcast_config", Buffer.from("{}"), { timeout: 3_000 }),
            "$JS.API.STREAM.DELETE.ROOMCAST_ROOMS": nc.request("$JS.API.STREAM.DELETE.ROOMCAST_ROOMS", Buffer.from("{}"), { timeout: 3_000 }),
            "roomcast.control": nc.request("roomcast.control", Buffer.from("x"), { timeout: 3_000 }),
            [`roomcast.fanout.${room}`]: nc.request(`roomcast.fanout.${room}`, Buffer.from("x"), { timeout: 3_000 }),
        };
        for (const [what, promise] of Object.entries(denied)) {
            assert.equal(await outcome(promise), "PERMISSIONS_VIOLATION", what);
        }

        // A plain publish is refused by the server too: an unrestricted listener sees nothing.
        const control = admin.subscribe("roomcast.control");
        await admin.flush();
        const h = natsHeaders();
        h.set("x", "y");
        nc.publish("roomcast.control", Buffer.from("disconnect everyone"), { headers: h });
        await nc.flush();
        await admin.flush();
        assert.equal(control.getProcessed(), 0, "nothing reached roomcast.control");
        control.unsubscribe();

        // Nothing changed: the JWKS is the auth service's, the room was never created.
        const jwksAfter = await (await admin.jetstream().views.kv("roomcast_config")).get("jwks");
        assert.equal(jwksAfter?.revision, jwksBefore?.revision);
        const roomsKv = await admin.jetstream().views.kv("roomcast_rooms");
        assert.equal(await roomsKv.get(`room.${keyToken(room)}`), null);
        assert.equal(await roomsKv.get(`member.${keyToken(room)}.${keyToken("mallory")}`), null);
    });

    test("may not listen to control messages or other roles' requests", async () => {
        for (const subject of ["roomcast.control", "roomcast.rooms.autocreate", "roomcast.presence.query", "roomcast.edge.edge-1.http"]) {
            const { nc, errors } = await connectAs("backend");
            const sub = nc.subscribe(subject);
            // The server refuses the subscription; nats.js reports it and closes the subscription.
            await withTimeout(sub.closed.catch(() => {}), 5_000, `the refusal of a subscription to ${subject}`);
            await eventually(() => errors.includes("PERMISSIONS_VIOLATION"), { what: `the violation of ${subject}` });
        }
    });
});

describe("the edge role", () => {
    test("cannot write room rights; a room is auto-created by the rooms service", async () => {
        const room = uniqueRoom("edgewrite");
        const { nc } = await connectAs("edge");
        const denied = {
            "$KV.roomcast_rooms room key": jsPublish(nc, `$KV.roomcast_rooms.room.${keyToken(room)}`, Buffer.from("x")),
            "$KV.roomcast_rooms member key": jsPublish(
                nc,
                `$KV.roomcast_rooms.member.${keyToken(room)}.${keyToken("mallory")}`,
                Buffer.from("x"),
            ),
            "$KV.roomcast_config.jwks": jsPublish(nc, "$KV.roomcast_config.jwks", Buffer.from('{"keys":[]}')),
            "$KV.roomcast_revocations": jsPublish(nc, `$KV.roomcast_revocations.room.${keyToken(room)}`, Buffer.from("x")),
            // A bucket's settings belong to its owner: a shorter max age would erase rights.
            "$JS.API.STREAM.UPDATE.KV_roomcast_rooms": nc.request("$JS.API.STREAM.UPDATE.KV_roomcast_rooms", Buffer.from("{}"), { timeout: 3_000 }),
            "$JS.API.STREAM.PURGE.KV_roomcast_rooms": nc.request("$JS.API.STREAM.PURGE.KV_roomcast_rooms", Buffer.from("{}"), { timeout: 3_000 }),
            "$JS.API.STREAM.MSG.DELETE.KV_roomcast_rooms": nc.request("$JS.API.STREAM.MSG.DELETE.KV_roomcast_rooms", Buffer.from('{"seq":1}'), { timeout: 3_000 }),
            "roomcast.control": nc.request("roomcast.control", Buffer.from("x"), { timeout: 3_000 }),
        };
        for (const [what, promise] of Object.entries(denied)) {
            assert.equal(await outcome(promise), "PERMISSIONS_VIOLATION", what);
        }

        const member = await connectUser(clients, stack, stack.edges[0].url);
        await joinRoom(member.socket, room);
        const got = await rooms.call("GetRoom", { room_id: room });
        assert.equal(got.room.auto_created, true);
        assert.equal(got.room.visibility, "VISIBILITY_PUBLIC");
    });
});

/**
 * Runs the rooms service with `env` until it logs "listening" or exits; resolves with
 * {output, code}. It is stopped with SIGTERM once listening. Bounded.
 */
async function runRooms(env) {
    const buildDir = process.env.ROOMCAST_BUILD_DIR ? path.resolve(process.env.ROOMCAST_BUILD_DIR) : path.join(repoDir, "build");
    const [grpcPort, adminPort] = await freePorts(2);
    const child = spawn(
        path.join(buildDir, "services", "rooms", "roomcast_rooms"),
        ["--grpc-address", `127.0.0.1:${grpcPort}`, "--admin-host", "127.0.0.1", "--admin-port", String(adminPort)],
        { env: { PATH: process.env.PATH, ROOMCAST_ADMIN_TOKEN: stack.adminToken, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    for (const s of [child.stdout, child.stderr]) {
        s.setEncoding("utf8");
        s.on("data", (chunk) => {
            output += chunk;
            if (output.includes('"msg":"listening"')) {
                child.kill("SIGTERM");
            }
        });
    }
    const code = await withTimeout(exited, 20_000, "the rooms service to listen or exit").catch((err) => {
        child.kill("SIGKILL");
        throw err;
    });
    return { output, code };
}

describe("credentials in a URL", () => {
    test("are accepted, and logged masked; a refused login exits 1 and logs the URL masked too", async () => {
        const { pass } = stack.natsCredentials("rooms");
        const hostPort = new URL(stack.natsUrl).host;
        const ok = await runRooms({ ROOMCAST_NATS_URL: `nats://rooms:${pass}@${hostPort}` });
        assert.match(ok.output, new RegExp(`"nats":"nats://rooms:\\*\\*\\*@${hostPort}"`), ok.output);
        assert.equal(ok.code, 0, ok.output);
        assert.ok(!ok.output.includes(pass), "the password is never logged");

        const refused = await runRooms({ ROOMCAST_NATS_URL: `nats://rooms:wrong-${pass}@${hostPort}` });
        assert.equal(refused.code, 1, refused.output);
        assert.match(refused.output, /"msg":"cannot connect to NATS"/);
        assert.match(refused.output, new RegExp(`"url":"nats://rooms:\\*\\*\\*@${hostPort}"`));
        assert.match(refused.output, /not permitted/);
        assert.ok(!refused.output.includes(pass), "the password is never logged");

        const noUser = await runRooms({ ROOMCAST_NATS_URL: stack.natsUrl, ROOMCAST_NATS_PASSWORD: pass });
        assert.equal(noUser.code, 2, "a password without a user is a configuration error");
        assert.match(noUser.output, /--nats-password needs --nats-user/);
    });
});

describe("every service runs as its role", () => {
    test("the server's connections name each service's user", async () => {
        const expected = { "roomcast-edge/edge-1": "edge", "roomcast-rooms": "rooms", "roomcast-auth": "auth" };
        await eventually(
            async () => {
                const res = await fetch(`${stack.natsMonitorUrl}/connz?auth=true&limit=1000`);
                const { connections: conns } = await res.json();
                const byName = new Map(conns.map((c) => [c.name, c.authorized_user]));
                for (const [name, user] of Object.entries(expected)) {
                    assert.equal(byName.get(name), user, name);
                }
                const presence = conns.find((c) => c.name?.startsWith("roomcast-presence/"));
                assert.equal(presence?.authorized_user, "presence");
                return true;
            },
            { what: "every service connected as its role" },
        );
    });
});
