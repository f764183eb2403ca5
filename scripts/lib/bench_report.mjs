// Turns the records of one scripts/bench run into its results: the raw JSON, a markdown report
// (per scenario: each system's figures and the Roomcast/Node ratios; the issue's goals), gnuplot
// plots, and the run's section of docs/benchmarks.md.
//
//   node scripts/lib/bench_report.mjs --meta meta.json --records records.jsonl \
//       --json out.json --md out.md [--plots docs/benchmarks --docs docs/benchmarks.md]
//
// Derived figures (every server figure comes from /proc, see bench_measure.mjs):
//   CPU per delivery     server CPU seconds in the window / window length / deliveries per second
//   CPU per conn-second  server CPU seconds in the window / (connections x window length)
//   RSS per connection   (VmRSS at the window's end - VmRSS before the run) / connections, summed
//                        over the processes that hold connections (edges; node processes)
//   CPU per connect      server CPU seconds from the first connect to the generator's exit /
//                        connections established (connect + join + holding them 1 s)
//   The scaling run (scenarios scaling-room, scaling-edges: CPU per delivery as above, against
//   room size and edge count; scaling-connect: a connect storm into servers that hold idle
//   connections): CPU per connect = the servers' CPU from the storm's start to its start of
//   closing / its connections, with the held connections' idle CPU (their rate in the window
//   before the storm, per process role) taken off.
// "Roomcast" includes nats-server; the edges alone are shown beside it. "Node (redis)" includes
// redis-server.
// Delivery: the latency scenario runs each rate with stored publishes and with ephemeral ones
// (record param delivery=ephemeral: `publish` with `ephemeral: true`; Node: volatile emit); a
// record without the param is stored. Figures are looked up by (system, scenario, label,
// delivery), stored unless asked, so every other table and goal reads the stored runs.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";

// Roomcast on an N-node NATS cluster is the system "roomcast-nats<N>" (scripts/bench
// --nats-cluster), listed right after "roomcast".
const kSystems = ["roomcast", "node", "node-redis", "floor", "floor-batched"];
const kClusterSystem = /^roomcast-nats(\d)$/;
const kSystemName = {
    roomcast: "Roomcast",
    node: "Node (1 process)",
    "node-redis": "Node (redis adapter)",
    floor: "Kernel floor (1 send per delivery)",
    "floor-batched": "Kernel floor (batched sends)",
};
// Issue 15 item 4: 1M deliveries/s counts when at least 95 % of the asked deliveries arrived.
const kSustainedShare = 0.95;
const kDeliveries = ["stored", "ephemeral"];
// Issue 15 item 3: in rooms of 100 at 30k deliveries/s, CPU per delivery (NATS included) at most
// this share of Node's, judged on the ephemeral runs.
const kSmallRoomsGoalShare = 0.5;
// Issue 15's other goals: CPU per delivery at most this many times the kernel's floor (item 2),
// 1M deliveries/s with p99 at most this (item 4), connect + join this many times cheaper than
// Node's (item 5), RSS per idle connection (item 6), cross-edge p99 at most this share of
// Node's (item 7).
const kFloorGoalFactor = 1.2;
const kMillionP99Ms = 50;
const kConnectGoalFactor = 3;
const kRssGoalKb = 3;
const kLatencyGoalShare = 0.5;

/** The systems of `figs` in report order: kSystems, each cluster size after "roomcast". */
function systemsOf(figs) {
    const clusters = [...new Set(figs.map((f) => f.system).filter((s) => kClusterSystem.test(s)))].sort();
    return kSystems.flatMap((s) => (s === "roomcast" ? [s, ...clusters] : [s]));
}

/** A system's name in tables; with figure `f`, a run that killed a NATS node says so. */
function systemName(system, f) {
    const m = kClusterSystem.exec(system);
    const base = m ? `Roomcast, ${m[1]}-node NATS cluster (R${m[1]})` : kSystemName[system] ?? system;
    return f?.params?.nats_kill ? `${base}, stream leader killed` : base;
}

function die(message) {
    process.stderr.write(`bench_report: ${message}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {};
    for (let i = 0; i < argv.length; i += 2) {
        const key = argv[i]?.replace(/^--/, "");
        if (!["meta", "records", "json", "md", "plots", "docs"].includes(key) || i + 1 >= argv.length) {
            die(`bad argument: ${argv[i]}`);
        }
        opts[key] = argv[i + 1];
    }
    if (!opts.meta || !opts.records || !opts.json || !opts.md) {
        die("needs --meta, --records, --json and --md");
    }
    return opts;
}

// --- figures -----------------------------------------------------------------------------------

const sum = (xs) => xs.reduce((a, b) => a + (b ?? 0), 0);

/** The load generators' reports of one record merged into one. */
/** {key: n} objects added up key by key (undefined ones skipped). */
function mergeCounts(objects) {
    const out = {};
    for (const o of objects) {
        for (const [k, v] of Object.entries(o ?? {})) {
            out[k] = (out[k] ?? 0) + (Number(v) || 0);
        }
    }
    return out;
}

function mergeReports(record) {
    const reports = record.loadgen.map((l) => l.report).filter(Boolean);
    if (reports.length === 0) {
        return undefined;
    }
    const pick = (f) => reports.map(f);
    const lat = reports.filter((r) => (r.latency_us?.count ?? 0) > 0).map((r) => r.latency_us);
    return {
        target: sum(pick((r) => r.connections?.target)),
        established: sum(pick((r) => r.connections?.established)),
        failed: sum(pick((r) => r.connections?.failed)),
        // Why connections failed ({reason: n}), and the HTTP statuses of refused upgrades.
        failure_reasons: mergeCounts(pick((r) => r.connections?.failure_reasons)),
        upgrade_refused_statuses: mergeCounts(pick((r) => r.connections?.upgrade_refused_statuses)),
        disconnected: sum(pick((r) => r.connections?.disconnected)),
        connect_p99_ms: Math.max(...pick((r) => r.connections?.connect_ms?.p99 ?? 0)),
        connect_join_p99_ms: Math.max(...pick((r) => r.connections?.connect_join_ms?.p99 ?? 0)),
        connects_per_second: reports.every((r) => Number.isFinite(r.connections?.connects_per_second))
            ? sum(pick((r) => r.connections.connects_per_second)) : null,
        foreign: sum(pick((r) => r.receive?.foreign)),
        // Deliveries without an offset argument (ephemeral events); undefined from a load
        // generator that does not count them.
        without_offset: reports.every((r) => Number.isFinite(r.receive?.without_offset))
            ? sum(pick((r) => r.receive.without_offset)) : undefined,
        joins_ok: sum(pick((r) => r.joins?.ok)),
        joins_failed: sum(pick((r) => r.joins?.failed)),
        sent: sum(pick((r) => r.publish?.sent)),
        acked: sum(pick((r) => r.publish?.acked)),
        publish_errors: sum(pick((r) => r.publish?.errors)),
        deliveries: sum(pick((r) => r.receive?.deliveries)),
        per_second: sum(pick((r) => r.receive?.per_second)),
        lost: sum(pick((r) => r.receive?.lost)),
        duplicated: sum(pick((r) => r.receive?.duplicated)),
        out_of_order: sum(pick((r) => r.receive?.out_of_order)),
        end_markers_missing: sum(pick((r) => r.receive?.end_markers_missing)),
        // Several generators: the worst of each percentile (a conservative merge).
        latency_count: sum(lat.map((l) => l.count)),
        p50_us: lat.length ? Math.max(...lat.map((l) => l.p50)) : null,
        p99_us: lat.length ? Math.max(...lat.map((l) => l.p99)) : null,
        p999_us: lat.length ? Math.max(...lat.map((l) => l.p999)) : null,
        max_us: lat.length ? Math.max(...lat.map((l) => l.max)) : null,
        loadgen_cpu_s: sum(pick((r) => r.cpu_seconds)),
        loadgen_rss_bytes: sum(pick((r) => r.rss_bytes)),
        duration_s: Math.max(...pick((r) => r.duration_s ?? 0)),
    };
}

function figures(record) {
    const lg = mergeReports(record);
    const byRole = {};
    for (const s of record.servers) {
        byRole[s.role] = (byRole[s.role] ?? 0) + (s.cpu_s ?? 0);
    }
    const cpu = sum(record.servers.map((s) => s.cpu_s));
    const connRoles = record.servers.filter((s) => s.role === "edge" || s.role === "node" || s.role === "floor");
    const helperRoles = record.servers.filter((s) => s.role === "nats" || s.role === "redis");
    const cpuConn = sum(connRoles.map((s) => s.cpu_s));
    const windowS = record.window.length_s;
    const out = {
        system: record.system,
        scenario: record.scenario,
        label: record.label,
        delivery: record.params?.delivery === "ephemeral" ? "ephemeral" : "stored",
        params: record.params,
        errors: record.errors,
        window_s: windowS,
        ready_after_s: record.window.ready_after_s,
        cpu_s: round(cpu, 3),
        cpu_s_by_role: Object.fromEntries(Object.entries(byRole).map(([k, v]) => [k, round(v, 3)])),
        server_rss_end_bytes: sum(record.servers.map((s) => s.rss_window_end_bytes)),
        server_rss_peak_bytes: sum(record.servers.map((s) => s.rss_peak_bytes)),
        helper_rss_end_bytes: sum(helperRoles.map((s) => s.rss_window_end_bytes)),
        // Each nats-server's window CPU (one entry on a single node, one per cluster node).
        nats_cpu_s_by_node: Object.fromEntries(record.servers.filter((s) => s.role === "nats")
            .map((s) => [s.name, round(s.cpu_s, 3)])),
        kill: record.kill ?? null,
        profile: record.profile ?? null,
        loadgen: lg,
    };
    if (!lg || !windowS) {
        return out;
    }
    if (record.scenario === "scaling-connect") {
        out.storm = stormFigures(record);
        return out;
    }
    const conns = lg.established;
    if (conns > 0) {
        const connDelta = sum(connRoles.map((s) => (s.rss_window_end_bytes ?? 0) - (s.rss_before_bytes ?? 0)));
        const allDelta = sum(record.servers.map((s) => (s.rss_window_end_bytes ?? 0) - (s.rss_before_bytes ?? 0)));
        out.rss_per_conn_bytes = round(connDelta / conns, 0);
        out.rss_per_conn_incl_helpers_bytes = round(allDelta / conns, 0);
        out.cpu_us_per_conn_s = round((cpu / (conns * windowS)) * 1e6, 3);
        out.cpu_us_per_conn_s_conn_procs = round((cpuConn / (conns * windowS)) * 1e6, 3);
        out.cpu_ms_per_connect = round((cpu / conns) * 1e3, 4);
        out.cpu_ms_per_connect_conn_procs = round((cpuConn / conns) * 1e3, 4);
        out.connects_per_s = lg.connects_per_second !== null ? round(lg.connects_per_second, 0)
            : record.window.ready_after_s ? round(conns / record.window.ready_after_s, 0) : null;
        out.connects_per_cpu_s = cpu > 0 ? round(conns / cpu, 0) : null;
    }
    const lateCpu = record.servers.some((s) => s.cpu_s_late !== null && s.cpu_s_late !== undefined)
        ? sum(record.servers.map((s) => s.cpu_s_late)) : null;
    if (lateCpu !== null) {
        // The 100k run: the broadcast after the idle window.
        const pub = record.loadgen.filter((l) => l.late).map((l) => l.report).filter(Boolean);
        const receivers = record.loadgen.filter((l) => !l.late).map((l) => l.report).filter(Boolean);
        const sent = sum(pub.map((r) => r.publish?.sent));
        const got = sum(receivers.map((r) => r.receive?.deliveries));
        out.broadcast = {
            sent,
            acked: sum(pub.map((r) => r.publish?.acked)),
            receivers: sum(receivers.map((r) => r.connections?.established)),
            deliveries: got,
            // Every acked publish (a refused one, while a killed NATS node's stream had no
            // leader, is not owed; the load generator's loss accounting knows it too).
            expected: sum(pub.map((r) => r.publish?.acked)) * sum(receivers.map((r) => r.connections?.established)),
            cpu_s: round(lateCpu, 3),
            // The stretch also holds the idle connections (and the generators' wait for their
            // end): the idle window's CPU rate over the stretch is taken off.
            cpu_s_above_idle: record.window.late_length_s && windowS
                ? round(lateCpu - (cpu / windowS) * record.window.late_length_s, 3) : null,
            cpu_us_per_delivery: got > 0 && record.window.late_length_s && windowS
                ? round(((lateCpu - (cpu / windowS) * record.window.late_length_s) / got) * 1e6, 3) : null,
            p99_us: Math.max(...receivers.map((r) => r.latency_us?.p99 ?? 0)),
        };
    }
    // The load generators' own CPU in the window (cores): they share the machine with the
    // servers, so every latency figure includes their time to be scheduled and to read.
    const gensCpu = record.loadgen.filter((l) => !l.late).map((l) => l.cpu_s_window);
    if (gensCpu.length && gensCpu.every(Number.isFinite)) {
        out.loadgen_cores = round(sum(gensCpu) / windowS, 3);
    }
    if (lg.per_second > 0 && record.scenario !== "100k") {
        out.deliveries_per_s = round(lg.per_second, 0);
        out.cpu_us_per_delivery = round((cpu / windowS / lg.per_second) * 1e6, 3);
        out.cpu_us_per_delivery_conn_procs = round((cpuConn / windowS / lg.per_second) * 1e6, 3);
        out.server_cores = round(cpu / windowS, 3);
        // Publishes in the window, from the deliveries: each reaches every other member of
        // its room (one room of `connections`, or `rooms` rooms of equal size).
        const recipients = (record.params?.connections ?? 0) / (record.params?.rooms ?? 1) - 1;
        if (recipients > 0) {
            out.publishes_per_s = round(lg.per_second / recipients, 2);
            out.cpu_us_per_publish = round((cpu / windowS / out.publishes_per_s) * 1e6, 1);
            out.nats_us_per_publish = round(((byRole.nats ?? 0) / windowS / out.publishes_per_s) * 1e6, 1);
        }
    }
    return out;
}

/**
 * A scaling-connect record's storm: its generator is the late one, started once the window
 * that measured the held connections idle was over, or the only one (nothing held: --mode
 * whole, the window is the storm).
 */
function stormFigures(record) {
    const late = record.loadgen.some((l) => l.late);
    const reports = (late ? record.loadgen.filter((l) => l.late) : record.loadgen).map((l) => l.report).filter(Boolean);
    const holders = late ? record.loadgen.filter((l) => !l.late).map((l) => l.report).filter(Boolean) : [];
    const lengthS = late ? record.window.late_length_s : record.window.length_s;
    const conns = sum(reports.map((r) => r.connections?.established));
    // Of a set of server processes: their CPU seconds in the storm, their idle rate before it
    // (none when nothing is held), and the first with the second over the storm taken off.
    const stormCpu = (procs) => sum(procs.map((s) => (late ? s.cpu_s_late : s.cpu_s)));
    const idleCores = (procs) => (late && record.window.length_s ? sum(procs.map((s) => s.cpu_s)) / record.window.length_s : 0);
    const above = (procs) => stormCpu(procs) - idleCores(procs) * (lengthS ?? 0);
    const role = (r) => record.servers.filter((s) => s.role === r);
    const perConnect = (cpuS) => (conns > 0 && Number.isFinite(cpuS) ? round((cpuS / conns) * 1e3, 4) : null);
    return {
        held: record.params?.held ?? 0,
        held_established: sum(holders.map((r) => r.connections?.established)),
        held_disconnected: sum(holders.map((r) => r.connections?.disconnected)),
        held_idle_cores: round(idleCores(record.servers), 3),
        connections: conns,
        length_s: lengthS,
        cpu_s: round(stormCpu(record.servers), 3),
        cpu_ms_per_connect: perConnect(stormCpu(record.servers)),
        cpu_ms_per_connect_above_idle: perConnect(above(record.servers)),
        cpu_ms_per_connect_edges: perConnect(above(role("edge"))),
        cpu_ms_per_connect_nats: perConnect(above(role("nats"))),
        connects_per_s: round(sum(reports.map((r) => r.connections?.connects_per_second)), 0),
        connect_join_p99_ms: reports.length ? Math.max(...reports.map((r) => r.connections?.connect_join_ms?.p99 ?? 0)) : null,
    };
}

function round(x, digits) {
    if (x === null || x === undefined || !Number.isFinite(x)) {
        return null;
    }
    const f = 10 ** digits;
    return Math.round(x * f) / f;
}

// --- formatting --------------------------------------------------------------------------------

function fmt(x, digits = 1) {
    if (x === null || x === undefined || !Number.isFinite(x)) {
        return "–";
    }
    const abs = Math.abs(x);
    if (abs >= 1e6) {
        return `${(x / 1e6).toFixed(abs >= 1e7 ? 1 : 2)}M`;
    }
    if (abs >= 1e4) {
        return `${(x / 1e3).toFixed(abs >= 1e5 ? 0 : 1)}k`;
    }
    return x.toFixed(abs >= 100 ? 0 : digits);
}

const kb = (b) => (b === null || b === undefined ? null : b / 1024);
const mb = (b) => (b === null || b === undefined ? null : b / 1048576);
const ms = (us) => (us === null || us === undefined ? null : us / 1000);

/** "12.3×" = how many times more the baseline costs (or takes) than Roomcast. */
function ratio(node, roomcast) {
    if (!Number.isFinite(node) || !Number.isFinite(roomcast) || roomcast <= 0) {
        return "–";
    }
    const r = node / roomcast;
    return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

function table(header, rows) {
    const lines = [`| ${header.join(" | ")} |`, `|${header.map((h, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
    for (const r of rows) {
        lines.push(`| ${r.join(" | ")} |`);
    }
    return lines.join("\n");
}

function problems(f) {
    const out = [...(f.errors ?? [])];
    const lg = f.loadgen;
    if (lg) {
        if (lg.failed) {
            // With the reasons: "upgrade_refused 505 (HTTP 503: 505)" says who refused and how.
            const statuses = Object.entries(lg.upgrade_refused_statuses ?? {}).map(([k, v]) => `HTTP ${k}: ${v}`).join(", ");
            const reasons = Object.entries(lg.failure_reasons ?? {})
                .map(([k, v]) => `${k} ${v}${k === "upgrade_refused" && statuses ? ` (${statuses})` : ""}`).join(", ");
            out.push(`${lg.failed} connections failed${reasons ? `: ${reasons}` : ""}`);
        }
        if (lg.joins_failed) out.push(`${lg.joins_failed} joins failed`);
        // Ephemeral events may be dropped under backpressure (by design): still shown.
        if (lg.lost) out.push(f.delivery === "ephemeral" ? `${lg.lost} lost (dropped under backpressure)` : `${lg.lost} lost`);
        if (lg.duplicated) out.push(`${lg.duplicated} duplicated`);
        if (lg.out_of_order) out.push(`${lg.out_of_order} out of order`);
        if (lg.publish_errors) out.push(`${lg.publish_errors} publish errors`);
        if (lg.end_markers_missing) out.push(`${lg.end_markers_missing} end markers missing`);
        if (lg.foreign) out.push(`${lg.foreign} foreign messages`);
        // The server must deliver what was asked: ephemeral events without an offset, stored
        // ones with it (the floors write the stored frame whatever was asked).
        if (lg.without_offset !== undefined && f.delivery === "ephemeral" && lg.without_offset !== lg.deliveries) {
            out.push(`${lg.deliveries - lg.without_offset} deliveries carried an offset (stored, not ephemeral)`);
        }
        if (lg.without_offset && f.delivery === "stored") {
            out.push(`${lg.without_offset} deliveries without an offset`);
        }
    }
    return out;
}

/** µs of nats-server's (or redis-server's) CPU per delivery: the part of the all-servers figure. */
function helperUsPerDelivery(f) {
    const byRole = f.cpu_s_by_role ?? {};
    return f.window_s && f.deliveries_per_s ? ((byRole.nats ?? byRole.redis ?? 0) / f.window_s / f.deliveries_per_s) * 1e6 : null;
}

function get(figs, system, scenario, label, delivery = "stored") {
    return figs.find((f) => f.system === system && f.scenario === scenario && f.delivery === delivery &&
        (label === undefined || f.label === label));
}

function systemsIn(figs, scenario) {
    return systemsOf(figs).filter((s) => figs.some((f) => f.system === s && f.scenario === scenario));
}

// --- the markdown report -----------------------------------------------------------------------

function sectionIdle(figs) {
    const systems = systemsIn(figs, "idle");
    if (!systems.length) return "";
    const rc = get(figs, "roomcast", "idle");
    const nd = get(figs, "node", "idle");
    const rows = systems.map((s) => {
        const f = get(figs, s, "idle");
        return [systemName(s, f), fmt(f.loadgen?.established, 0), fmt(f.window_s),
            fmt(kb(f.rss_per_conn_bytes), 2), fmt(kb(f.rss_per_conn_incl_helpers_bytes), 2),
            fmt(mb(f.server_rss_end_bytes)), fmt(f.cpu_us_per_conn_s, 2), fmt(f.loadgen?.disconnected, 0)];
    });
    if (rc && nd) {
        rows.push(["**Node / Roomcast**", "", "", ratio(nd.rss_per_conn_bytes, rc.rss_per_conn_bytes),
            ratio(nd.rss_per_conn_incl_helpers_bytes, rc.rss_per_conn_incl_helpers_bytes),
            ratio(nd.server_rss_end_bytes, rc.server_rss_end_bytes), ratio(nd.cpu_us_per_conn_s, rc.cpu_us_per_conn_s), ""]);
    }
    return `### Idle connections\n\nEvery connection joined to a room of 100, WebSocket, Engine.IO ping every 25 s.\n\n${table(
        ["system", "connections", "window s", "KB RSS / conn (edges or node)", "KB RSS / conn (incl. NATS/redis)",
            "server RSS MB", "µs CPU / conn / s", "disconnected"], rows)}\n`;
}

function sectionStorm(figs) {
    const systems = systemsIn(figs, "connect-storm");
    if (!systems.length) return "";
    const rc = get(figs, "roomcast", "connect-storm");
    const nd = get(figs, "node", "connect-storm");
    const rows = systems.map((s) => {
        const f = get(figs, s, "connect-storm");
        return [systemName(s, f), fmt(f.loadgen?.established, 0), fmt(f.cpu_ms_per_connect, 3),
            fmt(f.cpu_ms_per_connect_conn_procs, 3), fmt(f.connects_per_s, 0), fmt(f.connects_per_cpu_s, 0),
            fmt(f.loadgen?.connect_p99_ms, 1), problems(f).join("; ") || "ok"];
    });
    if (rc && nd) {
        rows.push(["**Node / Roomcast**", "", ratio(nd.cpu_ms_per_connect, rc.cpu_ms_per_connect),
            ratio(nd.cpu_ms_per_connect_conn_procs, rc.cpu_ms_per_connect_conn_procs),
            ratio(rc.connects_per_s, nd.connects_per_s).replace("×", "× (Roomcast/Node)"), "", "", ""]);
    }
    return `### Connect storm\n\nConnect as fast as the generator can (up to 1,000 handshakes in flight), JWT verified, join a room, hold 1 s; server CPU from the first connect to the generator's exit.\n\n${table(
        ["system", "connections", "ms CPU / connect+join", "… edges or node only", "connections/s (until all held)",
            "connects / CPU-second", "connect p99 ms", "checks"], rows)}\n`;
}

// One row per label (sorted by its leading number: the asked rate, or the scaling run's room
// size or edge count, named by keyHeader) and system.
function rateSection(figs, scenario, title, intro, keyHeader = "asked deliveries/s") {
    const systems = systemsIn(figs, scenario);
    if (!systems.length) return "";
    const labels = [...new Set(figs.filter((f) => f.scenario === scenario).map((f) => f.label))]
        .sort((a, b) => parseFloat(a) - parseFloat(b));
    // Delivery modes present (latency: stored and ephemeral side by side, when both ran).
    const deliveries = kDeliveries.filter((d) => figs.some((f) => f.scenario === scenario && f.delivery === d));
    // "Roomcast, stored" / "Roomcast, ephemeral" when both ran; the floors have no mode.
    const name = (s, d, f) => (s.startsWith("floor") ? systemName(s)
        : `${systemName(s, f)}${d === "ephemeral" ? ", ephemeral" : deliveries.length > 1 ? ", stored" : ""}`);
    const rows = [];
    const ratioRow = (label, what, a, b) => rows.push([label, `**${what}**`, "", ratio(a.cpu_us_per_delivery, b.cpu_us_per_delivery),
        ratio(a.cpu_us_per_delivery_conn_procs, b.cpu_us_per_delivery_conn_procs), "", "", "", "",
        ratio(a.loadgen?.p99_us, b.loadgen?.p99_us), "", "", ""]);
    for (const label of labels) {
        for (const s of systems) {
            for (const d of deliveries) {
                const f = get(figs, s, scenario, label, d);
                if (!f) continue;
                rows.push([label, name(s, d, f), fmt(f.deliveries_per_s, 0), fmt(f.cpu_us_per_delivery, 2),
                    fmt(f.cpu_us_per_delivery_conn_procs, 2), fmt(helperUsPerDelivery(f), 2), fmt(f.server_cores, 2),
                    fmt(f.loadgen_cores, 2), fmt(ms(f.loadgen?.p50_us), 2), fmt(ms(f.loadgen?.p99_us), 2), fmt(ms(f.loadgen?.p999_us), 2),
                    fmt(f.loadgen?.lost, 0), problems(f).join("; ") || "ok"]);
            }
        }
        for (const d of deliveries) {
            const rc = get(figs, "roomcast", scenario, label, d);
            for (const s of ["node", "node-redis"]) {
                const nd = get(figs, s, scenario, label, d);
                if (rc && nd) {
                    ratioRow(label, `${name(s, d)} / Roomcast`, nd, rc);
                }
            }
        }
        // What the cluster's replication costs: each cluster size against the single node.
        for (const d of deliveries) {
            const single = get(figs, "roomcast", scenario, label, d);
            for (const s of systems.filter((x) => kClusterSystem.test(x))) {
                const c = get(figs, s, scenario, label, d);
                if (single && c) {
                    ratioRow(label, `${name(s, d, c)} / ${name("roomcast", d)}`, c, single);
                }
            }
        }
        // What an ephemeral event saves against a stored one, per system.
        if (deliveries.length > 1) {
            for (const s of ["roomcast", "node", "node-redis"]) {
                const st = get(figs, s, scenario, label, "stored");
                const ep = get(figs, s, scenario, label, "ephemeral");
                if (st && ep) {
                    ratioRow(label, `${systemName(s)}: stored / ephemeral`, st, ep);
                }
            }
        }
        // The kernel's floor as the reference: how many times its CPU per delivery each system
        // pays. It delivers every publish the same way (the stored frame), so it is the
        // reference of both delivery modes.
        const fl = get(figs, "floor", scenario, label);
        for (const s of ["roomcast", "node", "node-redis"]) {
            for (const d of deliveries) {
                const f = get(figs, s, scenario, label, d);
                if (fl && f) {
                    ratioRow(label, `${name(s, d)} / floor`, f, fl);
                }
            }
        }
    }
    return `### ${title}\n\n${intro}\n\n${table([keyHeader, "system", "deliveries/s",
        "µs CPU / delivery (all servers: NATS, redis incl.)", "… edges or node only", "… NATS or redis only",
        "server cores", "generator cores", "p50 ms", "p99 ms", "p99.9 ms", "lost", "checks"], rows)}\n`;
}

const median = (xs) => {
    const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
    const m = Math.floor(v.length / 2);
    return v.length === 0 ? null : v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

const kStormFigures = ["length_s", "cpu_ms_per_connect", "cpu_ms_per_connect_above_idle", "cpu_ms_per_connect_edges",
    "cpu_ms_per_connect_nats", "held_idle_cores", "connects_per_s", "connect_join_p99_ms"];

/** The scaling run's connect storms by connections held: {held, runs, median: {figure: median}}. */
function heldLevels(figs) {
    const storms = figs.filter((f) => f.scenario === "scaling-connect" && f.storm);
    return [...new Set(storms.map((f) => f.storm.held))].sort((a, b) => a - b).map((held) => {
        const runs = storms.filter((f) => f.storm.held === held).sort((a, b) => (a.params?.run ?? 1) - (b.params?.run ?? 1));
        return { held, runs, median: Object.fromEntries(kStormFigures.map((k) => [k, median(runs.map((f) => f.storm[k]))])) };
    });
}

// The scaling run's connect storms into servers already holding connections: every run, and
// the median of each figure where a point ran more than once.
function sectionHeld(figs) {
    const levels = heldLevels(figs);
    if (!levels.length) return "";
    const cells = (st) => [fmt(st.length_s, 2), fmt(st.cpu_ms_per_connect, 3), fmt(st.cpu_ms_per_connect_above_idle, 3),
        fmt(st.cpu_ms_per_connect_edges, 3), fmt(st.cpu_ms_per_connect_nats, 3), fmt(st.held_idle_cores, 3),
        fmt(st.connects_per_s, 0), fmt(st.connect_join_p99_ms, 1)];
    const rows = levels.flatMap(({ held, runs, median: m }) => [
        ...runs.map((f) => [fmt(held, 0), fmt(f.params?.run ?? 1, 0), fmt(f.storm.connections, 0), ...cells(f.storm),
            fmt(f.storm.held_disconnected, 0), problems(f).join("; ") || "ok"]),
        ...(runs.length > 1 ? [[fmt(held, 0), "**median**", "", ...cells(m), "", ""]] : []),
    ]);
    const idleS = levels.find((l) => l.held > 0)?.runs[0].window_s;
    return `### Connect + join against connections held\n\nRoomcast (edges and nats-server): a storm (unpaced, rooms of 100) into edges that already hold idle connections (rooms of 100, opened by other generator processes). CPU of every server process from the storm's start to its start of closing; "above idle" takes off what the held connections cost in the ${fmt(idleS, 0)} s before it (per process role).\n\n${table(
        ["connections held", "run", "storm connections", "storm s", "ms CPU / connect+join (all servers)",
            "… above the held connections' idle CPU", "… edges only (above idle)", "… NATS only (above idle)",
            "held idle: server cores", "connections/s", "connect+join p99 ms", "held disconnected", "checks"], rows)}\n`;
}

function section100k(figs) {
    const list = figs.filter((f) => f.scenario === "100k");
    if (!list.length) return "";
    const rows = list.map((f) => [systemName(f.system, f), fmt(f.loadgen?.target, 0), fmt(f.loadgen?.established, 0),
        fmt(f.loadgen?.failed, 0), fmt(f.loadgen?.disconnected, 0), fmt(f.ready_after_s, 0), fmt(kb(f.rss_per_conn_bytes), 2),
        fmt(mb(f.server_rss_end_bytes)), fmt(f.cpu_us_per_conn_s, 2),
        f.broadcast ? `${fmt(f.broadcast.deliveries, 0)} of ${fmt(f.broadcast.expected, 0)}` : "–",
        f.broadcast ? fmt(f.broadcast.cpu_us_per_delivery, 2) : "–", f.broadcast ? fmt(ms(f.broadcast.p99_us), 1) : "–",
        fmt(f.loadgen?.lost, 0), fmt(f.loadgen?.end_markers_missing, 0), problems(f).join("; ") || "ok"]);
    return `### 100,000 connections\n\nAll in one room; a 30 s idle window once every connection is held (Engine.IO pings every 25 s), then one publisher broadcasts 1 message/s for 10 s (30 s in a run that kills a NATS node) and its end marker; "broadcast deliveries" counts against the acked publishes.\n\n${table(["system", "target", "established", "failed", "disconnected", "all held after s",
        "KB RSS / conn (edges)", "server RSS MB", "µs CPU / conn / s (idle)", "broadcast deliveries",
        "µs CPU / delivery (broadcast, above idle)", "broadcast p99 ms", "lost", "end markers missing", "checks"], rows)}\n`;
}

/**
 * Roomcast on a NATS cluster beside the single node: what replication costs per publish (NATS
 * stores each event on every replica and routes it between the nodes) and per delivery, and
 * each node's share; a run that killed the room stream's leader says when and what it cost.
 */
/**
 * Runs made with --profile: system calls and context switches per delivery (per second where a
 * window delivers nothing) of the delivering servers (edges, node processes, the floor) and of
 * NATS or redis, from perf stat; where the sampled server's CPU went, by object and symbol,
 * from perf record.
 */
function sectionProfiles(figs) {
    const profiled = figs.filter((f) => f.profile);
    if (!profiled.length) {
        return "";
    }
    const kWrites = ["sendmsg", "sendto", "sendmmsg", "write", "writev"];
    const kReads = ["recvmsg", "recvfrom", "read", "readv"];
    const kWaits = ["epoll_wait", "epoll_pwait", "io_uring_enter"];
    const rows = [];
    const objectsOf = (sampled) => {
        const share = { kernel: 0, libc: 0, own: 0, other: 0 };
        for (const { object, pct } of sampled?.objects ?? []) {
            if (object.startsWith("[kernel")) {
                share.kernel += pct;
            } else if (/^(libc|libstdc\+\+|libm|libpthread|ld-linux)/.test(object)) {
                share.libc += pct;
            } else if (/^(roomcast_|node$)/.test(object)) {
                share.own += pct;
            } else {
                share.other += pct;
            }
        }
        return share;
    };
    for (const f of profiled) {
        const perDelivery = f.deliveries_per_s > 0;
        const perConnect = !perDelivery && f.scenario === "connect-storm" && f.loadgen?.established > 0;
        const units = perDelivery ? f.window_s * f.deliveries_per_s : perConnect ? f.loadgen.established : f.window_s;
        const sumOf = (servers, names) => sum(servers.map((s) => sum(names.map((n) => s.counts[n] ?? 0))));
        const conn = f.profile.servers.filter((s) => ["edge", "node", "floor"].includes(s.role));
        const helpers = f.profile.servers.filter((s) => ["nats", "redis"].includes(s.role));
        const per = (n) => (units > 0 ? fmt(n / units, perDelivery || perConnect ? 3 : 0) : "–");
        const share = objectsOf(f.profile.sampled);
        const top = (f.profile.sampled?.symbols ?? []).slice(0, 5)
            .map((x) => `${x.symbol.replace(/\|/g, "\\|")} ${fmt(x.pct, 1)} %`).join("; ");
        rows.push([f.scenario, `${f.label}${f.delivery === "ephemeral" ? ", ephemeral" : ""}`, systemName(f.system, f),
            perDelivery ? "delivery" : perConnect ? "connect + join" : "second", per(sumOf(conn, ["syscalls"])), per(sumOf(conn, kWrites)),
            per(sumOf(conn, kReads)), per(sumOf(conn, kWaits)), per(sumOf(conn, ["futex"])),
            per(sumOf(conn, ["context-switches"])), per(sumOf(helpers, ["syscalls"])),
            f.profile.sampled ? `${f.profile.sampled.name}: kernel ${fmt(share.kernel, 1)} %, libc ${fmt(share.libc, 1)} %, own ${fmt(share.own, 1)} %, other ${fmt(share.other, 1)} %` : "–",
            top || "–", (f.profile.errors ?? []).join("; ") || "ok"]);
    }
    return `### Profiles

This run was made with \`--profile\`: over each measured window, \`perf stat\` counted every server's system calls and context switches, and \`perf record\` sampled the first edge (or node process, or floor) at ${profiled[0].profile.hz} Hz. Counts are per delivery (per connect + join in a connect storm, per second where the window delivers nothing), summed over the edges (or node processes, or the floor); "writes" are sendmsg, sendto, sendmmsg, write and writev; "reads" recvmsg, recvfrom, read and readv; "waits" epoll_wait, epoll_pwait and io_uring_enter. The CPU split is of the sampled process's samples: the kernel (its system calls, TCP, the receiver's input on loopback), libc and libstdc++ (malloc, memcpy), its own binary, and the rest (V8's generated code for Node, vdso).\n\n${table(
        ["scenario", "rate", "system", "per", "system calls", "writes", "reads", "waits", "futex", "context switches",
            "NATS or redis system calls", "sampled CPU split", "top symbols (self)", "profile"], rows)}\n`;
}

function sectionCluster(figs) {
    const clusterFigs = figs.filter((f) => kClusterSystem.test(f.system));
    if (!clusterFigs.length) return "";
    const rows = [];
    const keys = [...new Set(clusterFigs.map((f) => `${f.scenario}\u0000${f.label}\u0000${f.delivery}`))];
    for (const key of keys) {
        const [scenario, label, delivery] = key.split("\u0000");
        const single = get(figs, "roomcast", scenario, label, delivery);
        for (const f of [single, ...clusterFigs.filter((c) => c.scenario === scenario && c.label === label && c.delivery === delivery)]) {
            if (!f) continue;
            const k100 = scenario === "100k";
            const perPublish = k100 ? (f.broadcast?.sent ? (f.broadcast.cpu_s_above_idle / f.broadcast.sent) * 1e6 : null) : f.cpu_us_per_publish;
            const perDelivery = k100 ? f.broadcast?.cpu_us_per_delivery : f.cpu_us_per_delivery;
            // Replication is NATS's work: the cluster's NATS CPU above the single node's.
            const natsPerDelivery = helperUsPerDelivery(f);
            const singleNatsPublish = single?.nats_us_per_publish;
            const singleNatsDelivery = single && helperUsPerDelivery(single);
            const isSingle = f === single;
            const nodes = Object.values(f.nats_cpu_s_by_node ?? {}).map((c) => fmt(f.window_s ? c / f.window_s : null, 2)).join(" / ");
            const kill = f.kill ? (f.kill.node ? `${f.kill.node} ${fmt(f.kill.after_late_start_s ?? f.kill.after_window_start_s, 1)} s into the ${f.kill.after_late_start_s !== null && f.kill.after_late_start_s !== undefined ? "broadcast" : "window"}${f.kill.also_meta_leader ? " (also meta leader)" : ""}` : "failed") : "–";
            rows.push([scenario, `${label}${delivery === "ephemeral" ? ", ephemeral" : ""}`, systemName(f.system, f),
                fmt(f.publishes_per_s, 1), fmt(perPublish, 0), fmt(f.nats_us_per_publish, 0), fmt(perDelivery, 2),
                fmt(natsPerDelivery, 2), nodes || "–",
                isSingle || !Number.isFinite(singleNatsPublish) ? "–" : fmt(f.nats_us_per_publish - singleNatsPublish, 0),
                isSingle || !Number.isFinite(singleNatsDelivery) ? "–" : fmt(natsPerDelivery - singleNatsDelivery, 2),
                kill, fmt(f.loadgen?.p99_us === null || f.loadgen?.p99_us === undefined ? null : f.loadgen.p99_us / 1000, 2),
                problems(f).join("; ") || "ok"]);
        }
    }
    return `### Clustered NATS\n\nRoomcast on a local NATS cluster (every node a nats-server process on this machine; the room stream and the KV buckets with one replica per node) beside the single node. Per publish: every server's CPU in the window over the publishes (deliveries / recipients per publish); NATS alone beside it. Replication is NATS's work: "+ NATS" is the cluster's NATS CPU above the single node's in the same run (at a few publishes a second, NATS's fixed costs, such as Raft and client heartbeats, weigh in every per-publish figure). A killed node's CPU counts until its kill. 100k rows: the broadcast above idle.\n\n${table(
        ["scenario", "asked", "system", "publishes/s", "µs CPU / publish (all servers)", "… NATS only",
            "µs CPU / delivery (all servers)", "… NATS only", "NATS cores per node", "+ NATS µs / publish vs 1 node",
            "+ NATS µs / delivery vs 1 node", "node killed", "p99 ms", "checks"], rows)}\n`;
}

const kNotInRun = "not in this run";

/** Issue 15's goals with this run's figures (a dash where the run did not measure it). */
function goals(figs) {
    const rows = [];
    const verdict = (measured, met) => (measured ? (met ? "met" : "not met") : "–");
    const k100 = figs.find((f) => f.scenario === "100k" && f.system === "roomcast");
    rows.push(["100,000 concurrent WebSocket connections on 2 cores, several edges",
        k100 ? `${fmt(k100.loadgen?.established - 1, 0)} held by ${k100.params?.procs} edges; broadcast: ${fmt(k100.broadcast?.deliveries, 0)} of ${fmt(k100.broadcast?.expected, 0)} delivered, ${fmt(k100.loadgen?.lost, 0)} lost, ${fmt(k100.loadgen?.end_markers_missing, 0)} end markers missing` : kNotInRun,
        "–", verdict(k100, k100?.loadgen?.established - 1 >= 100_000 && !k100?.loadgen?.lost && !k100?.loadgen?.end_markers_missing &&
            k100?.broadcast?.deliveries === k100?.broadcast?.expected && !k100?.loadgen?.disconnected)]);
    // Item 2: the kernel's floor (one send per delivery) as the reference, fan-out to one room.
    for (const label of ["20000/s", "50000/s"]) {
        const r = get(figs, "roomcast", "fanout", label);
        const fl = get(figs, "floor", "fanout", label);
        const n = get(figs, "node", "fanout", label);
        rows.push([`CPU per delivery ≤ ${kFloorGoalFactor}× the kernel's floor (one send per delivery) at ${label.replace("/s", "")} deliveries/s, fan-out to one room`,
            r ? `${fmt(r.cpu_us_per_delivery, 2)} µs${fl ? ` = ${ratio(r.cpu_us_per_delivery, fl.cpu_us_per_delivery)} the floor's ${fmt(fl.cpu_us_per_delivery, 2)} µs` : ""}` : kNotInRun,
            n && fl ? `${fmt(n.cpu_us_per_delivery, 2)} µs = ${ratio(n.cpu_us_per_delivery, fl.cpu_us_per_delivery)} the floor's` : "–",
            verdict(r && fl, r?.cpu_us_per_delivery <= kFloorGoalFactor * fl?.cpu_us_per_delivery)]);
    }
    // Item 2, the high rates: where frames can be batched per connection, below the single-send floor.
    for (const label of ["500000/s", "1000000/s"]) {
        const r = get(figs, "roomcast", "fanout", label);
        const fl = get(figs, "floor", "fanout", label);
        const fb = get(figs, "floor-batched", "fanout", label);
        if (!r && !fl) continue;
        rows.push([`at ${label.replace("/s", "")} deliveries/s asked: CPU per delivery below the single-send floor's`,
            r ? `${fmt(r.cpu_us_per_delivery, 2)} µs (${fmt(r.deliveries_per_s, 0)}/s delivered)${fl ? `; floor ${fmt(fl.cpu_us_per_delivery, 2)} µs (${ratio(r.cpu_us_per_delivery, fl.cpu_us_per_delivery)})` : ""}${fb ? `; batched floor ${fmt(fb.cpu_us_per_delivery, 2)} µs` : ""}` : kNotInRun,
            "–", verdict(r && fl, r?.cpu_us_per_delivery < fl?.cpu_us_per_delivery)]);
    }
    // Item 3, judged on the ephemeral run: Roomcast's CPU per delivery (every server process,
    // nats-server included) against one Node process's in the same mode (volatile emit; its
    // stored row when the run has no ephemeral Node row), the stored rows beside it.
    const re = get(figs, "roomcast", "latency", "30000/s", "ephemeral");
    const rst = get(figs, "roomcast", "latency", "30000/s", "stored");
    const ne = get(figs, "node", "latency", "30000/s", "ephemeral") ?? get(figs, "node", "latency", "30000/s", "stored");
    const nre = get(figs, "node-redis", "latency", "30000/s", "ephemeral");
    rows.push([`rooms of 100 at 30k deliveries/s: CPU per delivery (NATS included) ≤ ${kSmallRoomsGoalShare}× Node's (ephemeral events)`,
        re ? `ephemeral ${fmt(re.cpu_us_per_delivery, 2)} µs (nats-server ${fmt(helperUsPerDelivery(re), 2)} µs of it), p99 ${fmt(ms(re.loadgen?.p99_us), 2)} ms, ${fmt(re.loadgen?.lost, 0)} lost${rst ? `; stored ${fmt(rst.cpu_us_per_delivery, 2)} µs, p99 ${fmt(ms(rst.loadgen?.p99_us), 2)} ms` : ""}`
            : kNotInRun,
        [ne && `1 process${ne.delivery === "ephemeral" ? ", volatile" : ", stored"} ${fmt(ne.cpu_us_per_delivery, 2)} µs (${ratio(ne.cpu_us_per_delivery, re?.cpu_us_per_delivery)})`,
            nre && `redis, volatile ${fmt(nre.cpu_us_per_delivery, 2)} µs (${ratio(nre.cpu_us_per_delivery, re?.cpu_us_per_delivery)})`]
            .filter(Boolean).join("; ") || "–",
        verdict(re && ne, re?.cpu_us_per_delivery <= kSmallRoomsGoalShare * ne?.cpu_us_per_delivery)]);
    // Item 4: 1M deliveries/s (fan-out) sustained with a bounded p99, nothing lost.
    const r1m = get(figs, "roomcast", "fanout", "1000000/s");
    const n1m = figs.filter((f) => f.scenario === "fanout" && f.system === "node" && f.deliveries_per_s)
        .sort((a, b) => b.deliveries_per_s - a.deliveries_per_s)[0];
    rows.push([`≥ 1M deliveries/s (fan-out) with p99 ≤ ${kMillionP99Ms} ms, ≥ ${kSustainedShare * 100} % delivered, nothing lost`,
        r1m ? `${fmt(r1m.deliveries_per_s, 0)}/s delivered of 1,000,000 asked, p99 ${fmt(ms(r1m.loadgen?.p99_us), 1)} ms, ${fmt(r1m.loadgen?.lost, 0)} lost, server RSS peak ${fmt(mb(r1m.server_rss_peak_bytes))} MB, generator ${fmt(r1m.loadgen_cores, 2)} cores` : kNotInRun,
        n1m ? `highest rate asked of Node: ${fmt(n1m.params?.target_deliveries, 0)}/s, ${fmt(n1m.deliveries_per_s, 0)}/s delivered, p99 ${fmt(ms(n1m.loadgen?.p99_us), 1)} ms, ${fmt(n1m.loadgen?.lost, 0)} lost` : "–",
        verdict(r1m, r1m?.deliveries_per_s >= kSustainedShare * 1e6 && !r1m?.loadgen?.lost && r1m?.loadgen?.p99_us <= kMillionP99Ms * 1000)]);
    // Item 5: connect + join, NATS included.
    const rs = get(figs, "roomcast", "connect-storm");
    const ns = get(figs, "node", "connect-storm");
    rows.push([`connect + join ≥ ${kConnectGoalFactor}× cheaper than Node's (CPU, NATS included)`,
        rs ? `${fmt(rs.cpu_ms_per_connect, 3)} ms` : kNotInRun,
        ns ? `${fmt(ns.cpu_ms_per_connect, 3)} ms (${ratio(ns.cpu_ms_per_connect, rs?.cpu_ms_per_connect)})` : "–",
        verdict(rs && ns, ns?.cpu_ms_per_connect / rs?.cpu_ms_per_connect >= kConnectGoalFactor)]);
    // Item 6: RSS per idle connection per edge (the idle scenario; the 100k run's beside it).
    const ri = get(figs, "roomcast", "idle");
    const ni = get(figs, "node", "idle");
    const rssGoal = kRssGoalKb * 1024;
    rows.push([`≤ ${kRssGoalKb} KB RSS per idle connection per edge`,
        ri || k100 ? [ri && `${fmt(kb(ri.rss_per_conn_bytes), 2)} KB (idle)`, k100 && `${fmt(kb(k100.rss_per_conn_bytes), 2)} KB (100k)`].filter(Boolean).join("; ") : kNotInRun,
        ni ? `${fmt(kb(ni.rss_per_conn_bytes), 2)} KB (${ratio(ni.rss_per_conn_bytes, ri?.rss_per_conn_bytes)})` : "–",
        verdict(ri || k100, [ri, k100].filter(Boolean).every((f) => f.rss_per_conn_bytes <= rssGoal))]);
    // Item 7: cross-edge p99 (rooms of 100 over two edges, stored events) against one Node
    // process's, with what the load generator and the kernel take without any server work: the
    // floor's p99 at the same rate, and the generator's own CPU in each run.
    const rl = get(figs, "roomcast", "latency", "30000/s");
    const nl = get(figs, "node", "latency", "30000/s");
    const fll = get(figs, "floor", "latency", "30000/s");
    rows.push([`cross-edge p99 at 30k deliveries/s ≤ ${kLatencyGoalShare}× Node's (rooms of 100, stored events)`,
        rl ? `${fmt(ms(rl.loadgen?.p99_us), 2)} ms (generator ${fmt(rl.loadgen_cores, 2)} cores)${fll ? `; the floor's p99 ${fmt(ms(fll.loadgen?.p99_us), 2)} ms (generator ${fmt(fll.loadgen_cores, 2)} cores): the generator's and the kernel's part` : ""}` : kNotInRun,
        nl ? `${fmt(ms(nl.loadgen?.p99_us), 2)} ms, 1 process (${ratio(nl.loadgen?.p99_us, rl?.loadgen?.p99_us)}; generator ${fmt(nl.loadgen_cores, 2)} cores)` : "–",
        verdict(rl && nl, rl?.loadgen?.p99_us <= kLatencyGoalShare * nl?.loadgen?.p99_us)]);
    // A run of other scenarios (the scaling run) has no goal rows to show.
    if (rows.every((r) => r[1] === kNotInRun)) return "";
    return `### Goals (issue 15)\n\n${table(["goal", "Roomcast", "Node (Node/Roomcast)", "this run"], rows)}\n`;
}

// The scaling run: how CPU per delivery grows with room size and edge count, and CPU per
// connect with the connections already held.
function scalingSections(figs, cpus) {
    const first = (scenario) => figs.find((f) => f.scenario === scenario);
    const room = first("scaling-room");
    const edges = first("scaling-edges");
    return [
        rateSection(figs, "scaling-room", "CPU per delivery against room size",
            `${fmt(room?.params?.target_deliveries, 0)} deliveries/s asked at every size; for rooms of up to ${fmt(room?.params?.connections, 0)} members, ${fmt(room?.params?.connections, 0)} connections in rooms of that size with one publisher in each (the same publishes/s per publisher at every size), else one room and one publisher. A publish's own cost (its ack, nats-server, JetStream's store) is shared by the room's other members, so small rooms pay more per delivery. Roomcast over its edges (cross-edge, through NATS), CPU of every server process.`,
            "members per room (rooms)"),
        rateSection(figs, "scaling-edges", "CPU per delivery against edge count",
            `One room of ${fmt(edges?.params?.room_size, 0)} members spread over the edges, one publisher, ${fmt(edges?.params?.target_deliveries, 0)} deliveries/s asked; nats-server sends every publish to each edge. On this ${cpus}-core machine more than ${cpus} edges (1 I/O thread each) share the cores: their figure includes the scheduling of more processes than cores (wake-ups, context switches, fewer deliveries per wake-up), not what those edges would pay on a core each.`,
            "Roomcast edges"),
        sectionHeld(figs),
    ];
}

function markdown(meta, figs, plots) {
    const when = meta.started_at;
    const head = `## Run ${meta.run_id} (${meta.mode})\n\n` +
        `${when}; ${meta.cpus} × ${meta.cpu_model}, ${Math.round(meta.mem_kb / 1048576)} GiB; kernel ${meta.kernel}; ` +
        `descriptor limit ${meta.fd_limit}. Roomcast ${meta.roomcast_commit}: ${meta.edges} edges × ${meta.edge_threads} ` +
        `I/O thread(s) + ${meta.nats_server}. Baseline: socket.io ${meta.socketio} on Node ${meta.node}` +
        ` (1 process; redis variant: ${meta.node_procs} processes + ${meta.redis_server.replace(/ sha=.*/, "")}).` +
        ` Load generator: \`${path.basename(meta.loadgen)}\`.` +
        `${meta.edge_args ? ` Extra edge flags: \`${meta.edge_args}\`.` : ""}` +
        `${meta.command ? ` Command: \`${meta.command}\`.` : ""}` +
        `${meta.nats_cluster && meta.nats_cluster !== "1" ? ` NATS under Roomcast: ${meta.nats_cluster.split(",").map((n) => (n === "1" ? "1 node" : `${n}-node cluster`)).join(" and ")}${meta.nats_kill_node ? ", the room stream's leader node killed mid-run" : ""} (see "Clustered NATS").` : ""}\n`;

    // Scenarios whose tables have a checks column of their own.
    const checked = ["fanout", "latency", "scaling-room", "scaling-edges", "scaling-connect"];
    const errs = figs.filter((f) => problems(f).length && !checked.includes(f.scenario))
        .map((f) => `- ${systemName(f.system, f)} ${f.scenario} ${f.label}: ${problems(f).join("; ")}`);
    const parts = [head, goals(figs), sectionIdle(figs), sectionStorm(figs),
        rateSection(figs, "fanout", "Fan-out to one large room",
            "One publisher, every other connection a member; Roomcast's members are spread over its edges (cross-edge, through NATS). CPU is every server process's."),
        rateSection(figs, "latency", "Latency, 1,000 clients in rooms of 100",
            `10 publishers; publish-to-receive latency measured by the load generator.${figs.some((f) => f.scenario === "latency" && f.delivery === "ephemeral")
                ? " Rows marked ephemeral publish with `ephemeral: true` (never stored, no offset; Node: socket.io's volatile emit): such an event may be dropped under backpressure, and `lost` counts those drops."
                : ""}`),
        section100k(figs), sectionCluster(figs), ...scalingSections(figs, meta.cpus), sectionProfiles(figs)];
    if (errs.length) {
        parts.push(`### Problems seen\n\n${errs.join("\n")}\n`);
    }
    if (plots.length) {
        parts.push(`### Plots\n\n${plots.map((p) => `![${p.title}](${p.link})`).join("\n\n")}\n`);
    }
    return parts.filter(Boolean).join("\n");
}

// --- plots -------------------------------------------------------------------------------------

function gnuplot(script) {
    const r = spawnSync("gnuplot", [], { input: script, encoding: "utf8" });
    if (r.status !== 0) {
        process.stderr.write(`bench_report: gnuplot failed: ${r.stderr}\n`);
        return false;
    }
    return true;
}

/**
 * A line plot of series [{title, points: [[x, y], ...]}] (empty ones left out) into file; its
 * data files go to dataDir. logx: false, true or a base (2 for edge counts); xtics: gnuplot's
 * tics list (drawn clear of the borders), else its own; yzero: the y axis starts at 0 (a
 * linear one); key: where the legend goes.
 */
function plotLines(series, { file, dataDir, title, xlabel, ylabel, logx = true, logy = false, xtics, yzero = false, key = "top left" }) {
    const drawn = series.filter((s) => s.points.length);
    if (!drawn.length) {
        return false;
    }
    const dats = drawn.map((s, i) => {
        const dat = path.join(dataDir, `${path.basename(file, ".png")}-${i + 1}.dat`);
        writeFileSync(dat, s.points.map(([x, y]) => `${x} ${y}`).join("\n") + "\n");
        return dat;
    });
    return gnuplot(`set terminal pngcairo size 900,540 font "sans,11"
set output "${file}"
set title "${title}"
set xlabel "${xlabel}"
set ylabel "${ylabel}"
${logx ? `set logscale x${logx === true ? "" : ` ${logx}`}` : ""}
${logy ? "set logscale y" : ""}
${xtics ? `set xtics (${xtics})` : `set format x "%.0s%c"`}
${yzero ? "set yrange [0:*]" : ""}
${xtics ? "set offsets graph 0.04, graph 0.04, 0, 0" : ""}
set grid
set key ${key}
plot ${drawn.map((s, i) => `"${dats[i]}" using 1:2 with linespoints lw 2 pt 7 title "${s.title}"`).join(", ")}
`);
}

/** [[x, y], ...] of the items f (figures) that pass filter and whose x(f) and y(f) are numbers, by x. */
function points(figs, filter, x, y) {
    return figs.filter((f) => filter(f) && Number.isFinite(x(f)) && Number.isFinite(y(f)))
        .map((f) => [x(f), y(f)]).sort((a, b) => a[0] - b[0]);
}

// One series per system and delivery mode (the ephemeral one named so), against the measured rate.
function plotRates(figs, scenario, y, title, ylabel, file, dataDir, logy) {
    const series = systemsIn(figs, scenario).flatMap((s) => kDeliveries.map((d) => ({
        title: `${systemName(s)}${d === "ephemeral" ? ", ephemeral" : ""}`,
        points: points(figs, (f) => f.system === s && f.scenario === scenario && f.delivery === d,
            (f) => f.deliveries_per_s, y),
    })));
    return plotLines(series, { file, dataDir, title, xlabel: "deliveries per second (measured)", ylabel, logy });
}

function plotBars(rows, title, ylabel, file, dataDir) {
    if (!rows.length) {
        return false;
    }
    const dat = path.join(dataDir, `${path.basename(file, ".png")}.dat`);
    writeFileSync(dat, rows.map(([name, v]) => `"${name}" ${v}`).join("\n") + "\n");
    return gnuplot(`set terminal pngcairo size 700,420 font "sans,11"
set output "${file}"
set title "${title}"
set ylabel "${ylabel}"
set style fill solid 0.7
set boxwidth 0.6
set grid ytics
set yrange [0:*]
unset key
plot "${dat}" using 0:2:xtic(1) with boxes, "" using 0:2:(sprintf("%.3g", $2)) with labels offset 0,1 notitle
`);
}

function makePlots(figs, mode, plotsDir, docsPath, tmpDir) {
    mkdirSync(plotsDir, { recursive: true });
    mkdirSync(tmpDir, { recursive: true });
    const link = (file) => path.relative(path.dirname(docsPath ?? plotsDir), file);
    const out = [];
    const add = (ok, file, title) => {
        if (ok) out.push({ file, title, link: link(file) });
    };
    let f = path.join(plotsDir, `${mode}-fanout-cpu.png`);
    add(plotRates(figs, "fanout", (x) => x.cpu_us_per_delivery, "Fan-out to one room: server CPU per delivery",
        "µs of server CPU per delivery", f, tmpDir, true), f, "server CPU per delivery vs delivery rate");
    f = path.join(plotsDir, `${mode}-fanout-p99.png`);
    add(plotRates(figs, "fanout", (x) => (x.loadgen?.p99_us ?? NaN) / 1000, "Fan-out to one room: p99 latency",
        "p99 ms", f, tmpDir, true), f, "p99 latency vs delivery rate (fan-out)");
    f = path.join(plotsDir, `${mode}-latency-cpu.png`);
    add(plotRates(figs, "latency", (x) => x.cpu_us_per_delivery, "1,000 clients in rooms of 100: server CPU per delivery",
        "µs of server CPU per delivery (NATS, redis included)", f, tmpDir, false), f, "server CPU per delivery vs delivery rate (rooms of 100, stored and ephemeral)");
    f = path.join(plotsDir, `${mode}-latency-p99.png`);
    add(plotRates(figs, "latency", (x) => (x.loadgen?.p99_us ?? NaN) / 1000, "1,000 clients in rooms of 100: p99 latency",
        "p99 ms", f, tmpDir, true), f, "p99 latency vs delivery rate (rooms of 100)");
    const idle = systemsOf(figs).map((s) => get(figs, s, "idle")).filter((x) => x && Number.isFinite(x.rss_per_conn_bytes));
    f = path.join(plotsDir, `${mode}-rss-per-connection.png`);
    add(plotBars(idle.map((x) => [systemName(x.system), x.rss_per_conn_bytes / 1024]), "RSS per idle connection",
        "KB per connection", f, tmpDir), f, "RSS per idle connection");
    const storm = systemsOf(figs).map((s) => get(figs, s, "connect-storm")).filter((x) => x && Number.isFinite(x.cpu_ms_per_connect));
    f = path.join(plotsDir, `${mode}-connect-cpu.png`);
    add(plotBars(storm.map((x) => [systemName(x.system), x.cpu_ms_per_connect]), "Server CPU per connect + join",
        "ms of CPU per connection", f, tmpDir), f, "server CPU per connect + join");
    // The scaling run.
    const of = (system, scenario) => (x) => x.system === system && x.scenario === scenario;
    const roomSize = (x) => x.params?.room_size;
    f = path.join(plotsDir, `${mode}-room-size-cpu.png`);
    add(plotLines([
        { title: "Roomcast (NATS included)", points: points(figs, of("roomcast", "scaling-room"), roomSize, (x) => x.cpu_us_per_delivery) },
        { title: "Roomcast: nats-server alone", points: points(figs, of("roomcast", "scaling-room"), roomSize, helperUsPerDelivery) },
        { title: kSystemName.node, points: points(figs, of("node", "scaling-room"), roomSize, (x) => x.cpu_us_per_delivery) },
    ], { file: f, dataDir: tmpDir, title: "Server CPU per delivery against room size (same delivery rate)",
        xlabel: "members per room", ylabel: "µs of server CPU per delivery", yzero: true, key: "top right" }),
    f, "server CPU per delivery against room size");
    const edgeCount = (x) => x.params?.edges;
    const edgeRuns = of("roomcast", "scaling-edges");
    f = path.join(plotsDir, `${mode}-edges-cpu.png`);
    add(plotLines([
        { title: "Roomcast (NATS included)", points: points(figs, edgeRuns, edgeCount, (x) => x.cpu_us_per_delivery) },
        { title: "edges only", points: points(figs, edgeRuns, edgeCount, (x) => x.cpu_us_per_delivery_conn_procs) },
        { title: "nats-server alone", points: points(figs, edgeRuns, edgeCount, helperUsPerDelivery) },
    ], { file: f, dataDir: tmpDir, title: "Server CPU per delivery against edge count (one room)",
        xlabel: "edges (1 I/O thread each)", ylabel: "µs of server CPU per delivery", logx: 2, yzero: true,
        xtics: [...new Set(figs.filter(edgeRuns).map(edgeCount).filter(Number.isFinite))].sort((a, b) => a - b).join(",") }),
    f, "server CPU per delivery against edge count");
    // Each point the median of its runs.
    const levels = heldLevels(figs);
    const held = (l) => l.held;
    const all = () => true;
    f = path.join(plotsDir, `${mode}-held-connect-cpu.png`);
    add(plotLines([
        { title: "Roomcast (NATS included)", points: points(levels, all, held, (l) => l.median.cpu_ms_per_connect_above_idle) },
        { title: "edges only", points: points(levels, all, held, (l) => l.median.cpu_ms_per_connect_edges) },
        { title: "nats-server alone", points: points(levels, all, held, (l) => l.median.cpu_ms_per_connect_nats) },
    ], { file: f, dataDir: tmpDir, title: "Server CPU per connect + join against connections already held",
        xlabel: "idle connections held by the edges", ylabel: "ms of CPU per connect + join (held idle CPU taken off)",
        logx: false, yzero: true, key: "bottom right" }),
    f, "server CPU per connect + join against connections held");
    return out;
}

// --- docs/benchmarks.md ------------------------------------------------------------------------

function updateDocs(docsPath, mode, body) {
    const begin = `<!-- bench:${mode}:begin -->`;
    const end = `<!-- bench:${mode}:end -->`;
    const block = `${begin}\n<!-- generated by scripts/bench (${mode}); edit outside the markers -->\n\n${body.replace(/^## (.*)$/m, "**$1**").replace(/^### /gm, "#### ")}\n${end}`;
    let text = existsSync(docsPath) ? readFileSync(docsPath, "utf8") : "# Benchmarks\n";
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    if (a >= 0 && b > a) {
        text = text.slice(0, a) + block + text.slice(b + end.length);
    } else {
        text = `${text.trimEnd()}\n\n${block}\n`;
    }
    writeFileSync(docsPath, text);
}

// --- main --------------------------------------------------------------------------------------

function main() {
    const opts = parseArgs(process.argv.slice(2));
    const meta = JSON.parse(readFileSync(opts.meta, "utf8"));
    const records = readFileSync(opts.records, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    const figs = records.map(figures);
    let plots = [];
    if (opts.plots) {
        plots = makePlots(figs, meta.mode, opts.plots, opts.docs, path.join(path.dirname(opts.records), "plots"));
    }
    const md = markdown(meta, figs, plots);
    // Links in the results file are relative to it.
    const mdForResults = plots.length
        ? md.replace(/\]\(([^)]+\.png)\)/g, (_, p) => `](${path.relative(path.dirname(opts.md), path.resolve(path.dirname(opts.docs ?? opts.plots), p))})`)
        : md;
    writeFileSync(opts.md, `# Roomcast vs Node.js: ${meta.run_id}\n\n${mdForResults.replace(/^## .*\n\n/, "")}`);
    writeFileSync(opts.json, `${JSON.stringify({ meta, figures: figs, records }, null, 1)}\n`);
    if (opts.docs) {
        updateDocs(opts.docs, meta.mode, md);
    }
    process.stdout.write(`${md}\n`);
}

main();
