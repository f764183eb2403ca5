// scripts/lib/bench_report.mjs on hand-made records. The scaling run: a connect storm's cost
// is its own stretch's CPU with the held connections' idle rate taken off, per process role,
// the checks of every generator (the holders' too) reach the table, and a point run several
// times gets the median of each figure. A profiled run (--profile) gets its table of system calls
// per delivery and the sampled edge's CPU split.
//
//   node --test tests/bench/report.test.mjs

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const meta = {
    run_id: "T-scaling", mode: "scaling", started_at: "2026-01-01T00:00:00Z", cpus: 2, cpu_model: "cpu",
    mem_kb: 1048576, kernel: "k", fd_limit: 20000, node: "v20", nats_server: "nats-server: v2",
    redis_server: "Redis server v=7", socketio: "4.8", roomcast_commit: "abc", loadgen: "/x/roomcast_loadgen",
    edges: 2, edge_threads: 1, node_procs: 2, latency_modes: "stored", edge_args: "",
    command: "scripts/bench --scenario scaling",
};

const report = (established, extra = {}) => ({
    connections: { target: established, established, failed: 0, disconnected: 0, connects_per_second: 2000,
        connect_ms: { p99: 5 }, connect_join_ms: { p99: 9 } },
    joins: { ok: established, failed: 0 }, publish: { sent: 0, acked: 0, errors: 0 },
    receive: { deliveries: 0, per_second: 0, lost: 0, duplicated: 0, out_of_order: 0, end_markers_missing: 0, foreign: 0 },
    latency_us: { count: 0 }, cpu_seconds: 0.1, rss_bytes: 0, duration_s: 0.5, ...extra,
});

const server = (name, role, cpu_s, cpu_s_late = null) => ({
    name, role, pid: 1, cpu_s, cpu_s_total_run: null, cpu_s_late, rss_before_bytes: 0, rss_window_start_bytes: 0,
    rss_window_end_bytes: 0, rss_peak_bytes: 0, rss_after_bytes: 0, alive_at_end: true,
});

const records = [
    // Nothing held: the storm is the whole run (--mode whole).
    {
        system: "roomcast", scenario: "scaling-connect", label: "0 held", params: { connections: 1000, held: 0 },
        mode: "whole", window: { length_s: 0.8 }, errors: [],
        servers: [server("edge-1", "edge", 0.15), server("nats", "nats", 0.05)],
        loadgen: [{ late: false, report: report(1000) }],
    },
    // 5,000 held, a second run listed first: it must be sorted after the first.
    {
        system: "roomcast", scenario: "scaling-connect", label: "5000 held", params: { connections: 1000, held: 5000, run: 2 },
        mode: "window", window: { length_s: 5, late_length_s: 1 }, errors: [],
        servers: [server("edge-1", "edge", 0.05, 0.5), server("nats", "nats", 0.05, 0.1)],
        loadgen: [{ late: false, report: report(5000) }, { late: true, report: report(1000) }],
    },
    // 5,000 held: a 5 s idle window (0.1 CPU-s: 0.02 cores), then a 1 s storm stretch.
    {
        system: "roomcast", scenario: "scaling-connect", label: "5000 held", params: { connections: 1000, held: 5000, run: 1 },
        mode: "window", window: { length_s: 5, late_length_s: 1 }, errors: [],
        servers: [server("edge-1", "edge", 0.05, 0.3), server("nats", "nats", 0.05, 0.1)],
        loadgen: [
            { late: false, report: report(5000, { connections: { ...report(5000).connections, disconnected: 3 } }) },
            { late: true, report: report(1000, { joins: { ok: 990, failed: 10 } }) },
        ],
    },
];

function run(recs = records, m = meta) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "bench-report-"));
    try {
        writeFileSync(path.join(dir, "meta.json"), JSON.stringify(m));
        writeFileSync(path.join(dir, "records.jsonl"), recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
        const md = execFileSync("node", [path.join(ROOT, "scripts/lib/bench_report.mjs"),
            "--meta", path.join(dir, "meta.json"), "--records", path.join(dir, "records.jsonl"),
            "--json", path.join(dir, "out.json"), "--md", path.join(dir, "out.md")], { encoding: "utf8" });
        return { md, json: JSON.parse(readFileSync(path.join(dir, "out.json"), "utf8")) };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

test("a storm's CPU per connect takes off the held connections' idle rate, per role", () => {
    const { json } = run();
    const [none, , held] = json.figures.map((f) => f.storm);
    assert.equal(none.held, 0);
    assert.equal(none.connections, 1000);
    assert.equal(none.cpu_ms_per_connect, 0.2);
    assert.equal(none.cpu_ms_per_connect_above_idle, 0.2);
    assert.equal(none.cpu_ms_per_connect_edges, 0.15);
    assert.equal(held.held, 5000);
    assert.equal(held.connections, 1000, "the storm's connections, not the held ones");
    assert.equal(held.held_disconnected, 3);
    assert.equal(held.held_idle_cores, 0.02);
    assert.equal(held.cpu_ms_per_connect, 0.4);
    assert.equal(held.cpu_ms_per_connect_above_idle, 0.38);
    assert.equal(held.cpu_ms_per_connect_edges, 0.29);
    assert.equal(held.cpu_ms_per_connect_nats, 0.09);
});

test("the scaling run's section: its table with every generator's checks, no goals table", () => {
    const { md } = run();
    assert.match(md, /### Connect \+ join against connections held/);
    const rows = md.split("\n").filter((l) => l.startsWith("| 5000 |"));
    assert.deepEqual(rows, [
        "| 5000 | 1 | 1000 | 1.00 | 0.400 | 0.380 | 0.290 | 0.090 | 0.020 | 2000 | 9.0 | 3 | 10 joins failed |",
        "| 5000 | 2 | 1000 | 1.00 | 0.600 | 0.580 | 0.490 | 0.090 | 0.020 | 2000 | 9.0 | 0 | ok |",
        "| 5000 | **median** |  | 1.00 | 0.500 | 0.480 | 0.390 | 0.090 | 0.020 | 2000 | 9.0 |  |  |",
    ]);
    assert.match(md, /Command: `scripts\/bench --scenario scaling`/);
    assert.doesNotMatch(md, /### Goals/);
});

// Issue 15 item 7's row: cross-edge p99 against Node's, with each run's generator CPU in the
// window and the floor's p99 at the same rate (the generator's and the kernel's part).
test("the latency goal shows the generator's cores and the floor's p99 beside Roomcast's and Node's", () => {
    const latency = (system, p99, genCpu, cpu) => ({
        system, scenario: "latency", label: "30000/s", params: { connections: 1000, target_deliveries: 30000 },
        mode: "window", window: { length_s: 10 }, errors: [],
        servers: [server(system === "roomcast" ? "edge-1" : system, system === "roomcast" ? "edge" : system === "floor" ? "floor" : "node", cpu)],
        loadgen: [{ late: false, cpu_s_window: genCpu,
            report: report(1000, { receive: { deliveries: 300000, per_second: 30000, lost: 0, duplicated: 0, out_of_order: 0, end_markers_missing: 0, foreign: 0 },
                latency_us: { count: 300000, p50: 1000, p99, p999: p99 * 2, max: p99 * 3 } }) }],
    });
    const { md } = run([latency("roomcast", 2000, 3.5, 3), latency("node", 4500, 3.0, 3.6), latency("floor", 1500, 3.2, 1.5)],
        { ...meta, mode: "quick" });
    const row = md.split("\n").find((l) => l.startsWith("| cross-edge p99"));
    assert.equal(row, "| cross-edge p99 at 30k deliveries/s ≤ 0.5× Node's (rooms of 100, stored events) | " +
        "2.00 ms (generator 0.35 cores); the floor's p99 1.50 ms (generator 0.32 cores): the generator's and the kernel's part | " +
        "4.50 ms, 1 process (2.3×; generator 0.30 cores) | met |");
    assert.match(md, /\| 30000\/s \| Roomcast \| 30\.0k \| 10\.00 \| 10\.00 \| 0\.00 \| 0\.30 \| 0\.35 \|/);
});

test("a profiled run's table: system calls per delivery over the edges, NATS apart, the sampled edge's CPU split", () => {
    const counts = (n) => ({ syscalls: n, sendmsg: n / 2, write: 0, recvmsg: n / 10, epoll_wait: n / 20, futex: 0, "context-switches": n / 40 });
    const fanout = {
        system: "roomcast", scenario: "fanout", label: "50000/s", params: { connections: 2000, target_deliveries: 50000 },
        mode: "window", window: { length_s: 10 }, errors: [],
        servers: [server("edge-1", "edge", 3), server("edge-2", "edge", 3), server("nats", "nats", 0.5)],
        profile: {
            tool: "perf", hz: 499, dir: "/x", errors: [],
            servers: [
                { name: "edge-1", role: "edge", counts: counts(400000) },
                { name: "edge-2", role: "edge", counts: counts(600000) },
                { name: "nats", role: "nats", counts: { syscalls: 5000 } },
            ],
            sampled: {
                name: "edge-1", role: "edge",
                objects: [{ object: "[kernel.kallsyms]", pct: 75.5 }, { object: "libc.so.6", pct: 12.5 },
                    { object: "roomcast_edge", pct: 11 }, { object: "[vdso]", pct: 1 }],
                symbols: [{ object: "[kernel.kallsyms]", symbol: "[k] tcp_sendmsg_locked", pct: 9.25 }],
            },
        },
        loadgen: [{ late: false, cpu_s_window: 2,
            report: report(2000, { receive: { deliveries: 500000, per_second: 50000, lost: 0, duplicated: 0, out_of_order: 0, end_markers_missing: 0, foreign: 0 },
                latency_us: { count: 500000, p50: 1000, p99: 3000, p999: 5000, max: 9000 } }) }],
    };
    const { md, json } = run([fanout], { ...meta, mode: "quick" });
    assert.ok(md.includes("### Profiles"), "a Profiles section");
    // 1,000,000 system calls of the edges over 500,000 deliveries; NATS's 5,000 apart.
    assert.ok(md.includes("| fanout | 50000/s | Roomcast | delivery | 2.000 | 1.000 | 0.200 | 0.100 | 0.000 | 0.050 | 0.010 | " +
        "edge-1: kernel 75.5 %, libc 12.5 %, own 11.0 %, other 1.0 % | [k] tcp_sendmsg_locked 9.3 % | ok |"), md);
    assert.equal(json.figures[0].profile.sampled.name, "edge-1", "the figures keep the profile");
    // A run without profiles has no such section.
    const plain = run([{ ...fanout, profile: undefined }], { ...meta, mode: "quick" });
    assert.ok(!plain.md.includes("### Profiles"));
});

test("failed connections are reported with their reasons and the refused upgrades' statuses", () => {
    const failing = report(1000, { connections: { ...report(1000).connections, established: 995, failed: 5,
        failure_reasons: { upgrade_refused: 4, timeout: 1 }, upgrade_refused_statuses: { 503: 4 } } });
    const rec = {
        system: "roomcast", scenario: "fanout", label: "20000/s", params: { connections: 1000, target_deliveries: 20000 },
        mode: "window", window: { length_s: 10 }, errors: [],
        servers: [server("edge-1", "edge", 2)],
        loadgen: [{ late: false, cpu_s_window: 1, report: { ...failing,
            receive: { deliveries: 200000, per_second: 20000, lost: 0, duplicated: 0, out_of_order: 0, end_markers_missing: 0, foreign: 0 },
            latency_us: { count: 200000, p50: 1000, p99: 2000, p999: 3000, max: 4000 } } }],
    };
    const { md } = run([rec], { ...meta, mode: "quick" });
    assert.ok(md.includes("5 connections failed: timeout 1, upgrade_refused 4 (HTTP 503: 4)") ||
        md.includes("5 connections failed: upgrade_refused 4 (HTTP 503: 4), timeout 1"), md);
});
