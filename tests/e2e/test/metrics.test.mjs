// Metrics end to end (PRODUCT.md §5, docs/operations.md "Metrics"): a real Prometheus server
// (Debian's prometheus) scrapes the whole stack — two edges and the rooms, presence and auth
// services — every target is up, and the connection, delivery and gRPC metrics move as a
// scripted client session runs.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { adminClient } from "../lib/admin.mjs";
import { ClientPool, sleep } from "../lib/clients.mjs";
import { Inbox, connectUser, joinRoom, publishOk, startEdgeStack, uniqueRoom } from "../lib/roomcast.mjs";
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
    stack = await startEdgeStack({ edges: ["edge-1", "edge-2"], services: ["rooms", "presence", "auth"] });
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
    await eventually("sum(roomcast_process_resident_memory_bytes)", (v) => v > 0, "process metrics");

    // Disconnects are counted by reason.
    for (const u of users) {
        u.socket.disconnect();
    }
    await eventually("sum(roomcast_edge_connections)", (v) => v === 0, "connections back to zero");
    await eventually('sum(roomcast_edge_disconnects_total{reason="transport close"})', (v) => v >= 4, "disconnects by reason");
});
