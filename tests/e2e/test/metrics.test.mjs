// Metrics end to end (PRODUCT.md §5, docs/operations.md "Metrics"): a real Prometheus server
// (Debian's prometheus) scrapes the whole stack — two edges and the rooms, presence and auth
// services — every target is up, and the connection, delivery and gRPC metrics move as a
// scripted client session runs. Every process reports roomcast_build_info and the standard
// process_* metrics; the edges count client requests by request and result code (an ok join,
// a forbidden join and publish, a bad request); the rooms service reports JetStream fill,
// budgets and leaders.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { adminClient } from "../lib/admin.mjs";
import { ClientPool, eventually as retry, sleep } from "../lib/clients.mjs";
import { Inbox, assertError, connectUser, joinRoom, publishOk, request, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
import { freePorts, httpStatus } from "../lib/stack.mjs";

let stack;
let prom; // { url, child, dir }
const clients = new ClientPool();

async function startPrometheus(targets) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "roomcast-prom-"));
    const [port] = await freePorts(1);
    const jobs = Object.entries(targets).map(
        ([job, addrs]) => `  - job_name: ${job}\n    static_configs:\n      - targets: [${addrs.map((a) => `"${a}"`).join(", ")}]\n`,
    );
    writeFileSync(
        path.join(dir, "prometheus.yml"),
        `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${jobs.join("")}`,
    );
    const child = spawn(
        "/usr/bin/prometheus",
        [`--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`,
            `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
        { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    child.stderr.on("data", (d) => (log = (log + d).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    while ((await httpStatus(`${url}/-/ready`)) !== 200) {
        if (Date.now() > deadline || child.exitCode !== null) {
            child.kill("SIGKILL");
            throw new Error(`prometheus did not become ready: ${log}`);
        }
        await sleep(200);
    }
    return { url, child, dir };
}

/** One instant vector value of `query` (sum over series), or null when empty. */
async function query(expr) {
    const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await res.json();
    assert.equal(body.status, "success", JSON.stringify(body));
    if (body.data.result.length === 0) {
        return null;
    }
    return body.data.result.reduce((a, r) => a + Number(r.value[1]), 0);
}

/** The series of an instant vector: [{ metric: {labels}, value }]. */
async function series(expr) {
    const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await res.json();
    assert.equal(body.status, "success", JSON.stringify(body));
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** Waits until `predicate(value of expr)` holds (Prometheus scrapes every second). */
async function eventually(expr, predicate, what, timeout = 15_000) {
    const deadline = Date.now() + timeout;
    let last;
    while (Date.now() < deadline) {
        last = await query(expr);
        if (last !== null && predicate(last)) {
            return last;
        }
        await sleep(500);
    }
    throw new Error(`${what}: ${expr} = ${last} after ${timeout} ms`);
}

const hostOf = (url) => new URL(url).host;

before(async () => {
    stack = await startEdgeStack({
        edges: ["edge-1", "edge-2"],
        services: ["rooms", "presence", "auth"],
        // JetStream health read every 500 ms instead of 15 s, so the test sees publishes soon.
        serviceArgs: { rooms: ["--jetstream-health-interval", "500ms"] },
    });
    prom = await startPrometheus({
        "roomcast-edge": stack.edges.map((e) => hostOf(e.adminUrl)),
        "roomcast-rooms": [hostOf(stack.services.rooms.adminUrl)],
        "roomcast-presence": [hostOf(stack.services.presence.adminUrl)],
        "roomcast-auth": [hostOf(stack.services.auth.adminUrl)],
    });
});
afterEach(() => clients.closeAll());
after(async () => {
    clients.closeAll();
    prom?.child.kill("SIGTERM");
    if (prom) {
        rmSync(prom.dir, { recursive: true, force: true });
    }
    await stack?.stop();
});

test("Prometheus scrapes every service; connection, delivery and gRPC metrics move with a client session", async () => {
    // Every target up.
    const targets = await (async () => {
        const deadline = Date.now() + 15_000;
        for (;;) {
            const body = await (await fetch(`${prom.url}/api/v1/targets`)).json();
            const active = body.data.activeTargets;
            if (active.length === 5 && active.every((t) => t.health === "up")) {
                return active;
            }
            if (Date.now() > deadline) {
                throw new Error(`targets not all up: ${JSON.stringify(active.map((t) => [t.labels.job, t.health, t.lastError]))}`);
            }
            await sleep(500);
        }
    })();
    assert.deepEqual([...new Set(targets.map((t) => t.labels.job))].sort(),
        ["roomcast-auth", "roomcast-edge", "roomcast-presence", "roomcast-rooms"]);
    assert.equal(await query('sum(roomcast_nats_connected)'), 5, "every process is connected to NATS");

    const before = {
        connects: (await query("sum(roomcast_edge_connects_total)")) ?? 0,
        deliveries: (await query("sum(roomcast_edge_fanout_deliveries_total)")) ?? 0,
        rooms: (await query('sum(roomcast_grpc_requests_total{service="rooms"})')) ?? 0,
    };

    // A scripted session: 4 clients on both edges, a room, 20 messages, an admin publish.
    const room = uniqueRoom("metrics");
    const users = [];
    for (let i = 0; i < 4; i++) {
        const c = await connectUser(clients, stack, stack.edges[i % 2].url, {
            transports: [i < 2 ? "websocket" : "polling"],
        });
        await joinRoom(c.socket, room);
        c.inbox = new Inbox(c.socket, "m");
        users.push(c);
    }
    await eventually("sum(roomcast_edge_connections)", (v) => v >= 4, "connections gauge");
    assert.ok((await query('sum(roomcast_edge_connections{transport="websocket"})')) >= 2);
    assert.ok((await query('sum(roomcast_edge_connections{transport="polling"})')) >= 2);
    for (let i = 0; i < 20; i++) {
        await publishOk(users[0].socket, room, "m", i);
    }
    const rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
    try {
        await rooms.call("CreateRoom", { room_id: uniqueRoom("metrics-admin") });
    } finally {
        rooms.close();
    }
    for (const u of users.slice(1)) {
        await u.inbox.waitFor(20);
    }

    await eventually("sum(roomcast_edge_connects_total)", (v) => v >= before.connects + 4, "connects counter");
    // 3 receivers × 20 messages (the publisher does not get its own).
    await eventually("sum(roomcast_edge_fanout_deliveries_total)", (v) => v >= before.deliveries + 60, "deliveries");
    await eventually("sum(roomcast_edge_fanout_latency_seconds_count)", (v) => v >= 20, "fan-out latency histogram");
    await eventually("sum(roomcast_edge_room_subscriptions)", (v) => v >= 2, "room subscriptions on both edges");
    await eventually('sum(roomcast_grpc_requests_total{service="rooms",code="OK"})', (v) => v >= before.rooms + 1, "gRPC requests");
    await eventually('sum(roomcast_grpc_request_duration_seconds_count{service="rooms"})', (v) => v >= 1, "gRPC latency");
    await eventually("sum(roomcast_presence_entries)", (v) => v >= 4, "presence entries");
    await eventually("sum(process_resident_memory_bytes)", (v) => v > 0, "process metrics");

    // Disconnects are counted by reason.
    for (const u of users) {
        u.socket.disconnect();
    }
    await eventually("sum(roomcast_edge_connections)", (v) => v === 0, "connections back to zero");
    await eventually('sum(roomcast_edge_disconnects_total{reason="transport close"})', (v) => v >= 4, "disconnects by reason");
});

test("build info and process metrics from every process; client requests by result; JetStream fill", async () => {
    // Every process: roomcast_build_info = 1 with its service, the project version and a revision.
    const builds = await (async () => {
        const deadline = Date.now() + 15_000;
        for (;;) {
            const found = await series("roomcast_build_info");
            if (found.length === 5 || Date.now() > deadline) {
                return found;
            }
            await sleep(500);
        }
    })();
    assert.equal(builds.length, 5, JSON.stringify(builds));
    const byService = {};
    for (const b of builds) {
        assert.equal(b.value, 1);
        assert.match(b.metric.version, /^\d+\.\d+\.\d+/, JSON.stringify(b.metric));
        assert.match(b.metric.revision, /^([0-9a-f]{7,40}|unknown)$/, JSON.stringify(b.metric));
        byService[b.metric.service] = (byService[b.metric.service] ?? 0) + 1;
        assert.equal(b.metric.job, `roomcast-${b.metric.service}`, "the service label names the process");
    }
    assert.deepEqual(byService, { edge: 2, rooms: 1, presence: 1, auth: 1 });
    // The standard process metrics, under their standard names, from all five.
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
        "process_open_fds", "process_max_fds", "process_start_time_seconds"]) {
        const found = await series(name);
        assert.equal(found.length, 5, `${name}: ${JSON.stringify(found)}`);
        assert.ok(found.every((f) => f.value > 0), `${name} > 0: ${JSON.stringify(found)}`);
    }
    assert.equal(await query("count(process_open_fds <= process_max_fds)"), 5);
    assert.equal(await query("count(roomcast_process_open_fds)"), null, "the old roomcast_process_* names are gone");

    const count = async (request, result) =>
        (await query(`sum(roomcast_edge_client_requests_total{request="${request}",result="${result}"})`)) ?? 0;
    const cases = [["join", "ok"], ["join", "forbidden"], ["join", "bad_request"], ["publish", "ok"],
        ["publish", "forbidden"], ["history", "ok"], ["leave", "ok"]];
    const before = {};
    for (const [request, result] of cases) {
        before[`${request}/${result}`] = await count(request, result);
    }
    const joinsTimed = (await query('sum(roomcast_edge_client_request_seconds_count{request="join"})')) ?? 0;

    // A private room: a viewer may join but not publish; an outsider may not join.
    const room = uniqueRoom("metrics-private");
    const viewer = await connectUser(clients, stack, stack.edges[0].url);
    const outsider = await connectUser(clients, stack, stack.edges[1].url);
    const rooms = adminClient("rooms", stack.services.rooms.grpcAddress, stack.adminToken);
    try {
        await rooms.call("CreateRoom", { room_id: room, visibility: "VISIBILITY_PRIVATE" });
        await rooms.call("AddMember", { room_id: room, user_id: viewer.user, role: "ROLE_VIEWER" });
    } finally {
        rooms.close();
    }
    // The edges learn the rights from the registry's watch: retried until they have.
    await retry(() => joinRoom(viewer.socket, room), { timeout: 10_000, what: "the viewer's join" });
    assertError(await request(viewer.socket, "publish", { room, event: "m", data: 1 }), "forbidden", "viewer publish");
    await retry(async () => {
        assertError(await request(outsider.socket, "join", { room }), "forbidden", "outsider join");
    }, { timeout: 10_000, what: "the outsider's join refused" });
    assertError(await request(outsider.socket, "join", {}), "bad_request", "join without a room");
    // And successes: a public room, publishes, history, leave.
    const open = uniqueRoom("metrics-open");
    await joinRoom(outsider.socket, open);
    for (let i = 0; i < 5; i++) {
        await publishOk(outsider.socket, open, "m", { i, pad: "x".repeat(200) });
    }
    const history = await request(outsider.socket, "history", { room: open });
    assert.equal(history.ok, true, JSON.stringify(history));
    assert.equal((await request(outsider.socket, "leave", { room: open })).ok, true);

    const expected = { "join/ok": 2, "join/forbidden": 1, "join/bad_request": 1, "publish/ok": 5,
        "publish/forbidden": 1, "history/ok": 1, "leave/ok": 1 };
    for (const [key, n] of Object.entries(expected)) {
        const [request, result] = key.split("/");
        await eventually(`sum(roomcast_edge_client_requests_total{request="${request}",result="${result}"})`,
            (v) => v >= before[key] + n, `client requests ${key}`);
    }
    await eventually('sum(roomcast_edge_client_request_seconds_count{request="join"})', (v) => v >= joinsTimed + 3,
        "join latency histogram");
    // Every request and result is exported from zero (bounded label sets: 6 requests x 11 results per edge).
    assert.equal(await query("count(roomcast_edge_client_requests_total)"), 2 * 6 * 11);

    // JetStream: the room stream holds the publishes, within its budget, with a leader; every
    // bucket of the contract that exists is reported the same way.
    await eventually('sum(roomcast_jetstream_bytes{name="ROOMCAST_ROOMS"})', (v) => v > 1000, "room stream bytes", 20_000);
    const budget = await query('sum(roomcast_jetstream_max_bytes{name="ROOMCAST_ROOMS"})');
    assert.equal(budget, 1024 * 1024 * 1024, "the default room stream budget (1 GiB)");
    assert.equal(await query('sum(roomcast_jetstream_has_leader{name="ROOMCAST_ROOMS"})'), 1);
    await eventually('sum(roomcast_jetstream_bytes{name="roomcast_rooms"})', (v) => v > 0, "rooms bucket bytes");
    // Each stream or bucket from the processes that own it (the others' NATS roles may not read
    // its info): by job and name.
    const owners = {
        "roomcast-rooms": ["ROOMCAST_ROOMS", "roomcast_revocations", "roomcast_rooms"],
        "roomcast-edge": ["roomcast_edges", "roomcast_presence", "roomcast_sessions"],
        "roomcast-presence": ["roomcast_presence_leader"],
        "roomcast-auth": ["roomcast_config"],
    };
    const leaders = await (async () => {
        const deadline = Date.now() + 20_000;
        for (;;) {
            const found = await series("roomcast_jetstream_has_leader");
            const ok = Object.entries(owners).every(([job, names]) =>
                JSON.stringify([...new Set(found.filter((f) => f.metric.job === job).map((f) => f.metric.name))].sort()) ===
                JSON.stringify(names));
            if (ok || Date.now() > deadline) {
                return found;
            }
            await sleep(500);
        }
    })();
    for (const [job, names] of Object.entries(owners)) {
        assert.deepEqual([...new Set(leaders.filter((l) => l.metric.job === job).map((l) => l.metric.name))].sort(), names,
            `${job} reports ${names}`);
    }
    assert.ok(leaders.every((l) => l.value === 1), JSON.stringify(leaders));
    assert.equal(await query("sum(roomcast_jetstream_info_errors_total)"), 0);
});
