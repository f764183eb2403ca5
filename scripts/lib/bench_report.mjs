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
// The throughput goal's "before latency degrades": a rate counts as sustained when at least 95 %
// of the asked deliveries arrived, nothing was lost, no publish failed and p99 stayed within
// 3× of the p99 at the lowest rate measured (fan-out to a large room has a floor of its own:
// the last member is written to after all the others).
const kSustainedShare = 0.95;
const kDegradedFactor = 3;
const kDeliveries = ["stored", "ephemeral"];
// Issue 15 item 3: in rooms of 100 at 30k deliveries/s, CPU per delivery (NATS included) at most
// this share of Node's, judged on the ephemeral runs.
const kSmallRoomsGoalShare = 0.5;

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
        loadgen: lg,
    };
    if (!lg || !windowS) {
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
        if (lg.failed) out.push(`${lg.failed} connections failed`);
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

function rateSection(figs, scenario, title, intro) {
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
        ratio(a.cpu_us_per_delivery_conn_procs, b.cpu_us_per_delivery_conn_procs), "", "", "",
        ratio(a.loadgen?.p99_us, b.loadgen?.p99_us), "", "", ""]);
    for (const label of labels) {
        for (const s of systems) {
            for (const d of deliveries) {
                const f = get(figs, s, scenario, label, d);
                if (!f) continue;
                rows.push([label, name(s, d, f), fmt(f.deliveries_per_s, 0), fmt(f.cpu_us_per_delivery, 2),
                    fmt(f.cpu_us_per_delivery_conn_procs, 2), fmt(helperUsPerDelivery(f), 2), fmt(f.server_cores, 2),
                    fmt(ms(f.loadgen?.p50_us), 2), fmt(ms(f.loadgen?.p99_us), 2), fmt(ms(f.loadgen?.p999_us), 2),
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
    return `### ${title}\n\n${intro}\n\n${table(["asked deliveries/s", "system", "deliveries/s",
        "µs CPU / delivery (all servers: NATS, redis incl.)", "… edges or node only", "… NATS or redis only",
        "server cores", "p50 ms", "p99 ms", "p99.9 ms", "lost", "checks"], rows)}\n`;
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

/** The issue's goals with this run's figures (a dash where the run did not measure it). */
function goals(figs) {
    const rows = [];
    const k100 = figs.find((f) => f.scenario === "100k" && f.system === "roomcast");
    rows.push(["100,000 concurrent WebSocket connections on 2 cores, several edges",
        k100 ? `${fmt(k100.loadgen?.established - 1, 0)} held by ${k100.params?.procs} edges; broadcast: ${fmt(k100.broadcast?.deliveries, 0)} of ${fmt(k100.broadcast?.expected, 0)} delivered, ${fmt(k100.loadgen?.lost, 0)} lost, ${fmt(k100.loadgen?.end_markers_missing, 0)} end markers missing` : "not in this run",
        "–", k100 ? (k100.loadgen?.established - 1 >= 100_000 && !k100.loadgen?.lost && !k100.loadgen?.end_markers_missing &&
            k100.broadcast?.deliveries === k100.broadcast?.expected && !k100.loadgen?.disconnected ? "met" : "not met") : "–"]);
    const ri = get(figs, "roomcast", "idle");
    const ni = get(figs, "node", "idle");
    rows.push(["≤ 4 KB RSS per idle connection per edge",
        ri ? `${fmt(kb(ri.rss_per_conn_bytes), 2)} KB` : "not in this run",
        ni ? `${fmt(kb(ni.rss_per_conn_bytes), 2)} KB (${ratio(ni.rss_per_conn_bytes, ri?.rss_per_conn_bytes)})` : "–",
        ri ? (ri.rss_per_conn_bytes <= 4096 ? "met" : "not met") : "–"]);
    const rf = get(figs, "roomcast", "fanout", "50000/s");
    const nf = get(figs, "node", "fanout", "50000/s");
    const nrf = get(figs, "node-redis", "fanout", "50000/s");
    const best = [nf, nrf].filter(Boolean).map((f) => f.cpu_us_per_delivery).filter(Number.isFinite);
    const minRatio = rf && best.length ? Math.min(...best) / rf.cpu_us_per_delivery : null;
    rows.push(["≥ 10× less server CPU per delivered message than Node at 50k deliveries/s (cross-edge, NATS included)",
        rf ? `${fmt(rf.cpu_us_per_delivery, 2)} µs` : "not in this run",
        [nf && `1 process ${fmt(nf.cpu_us_per_delivery, 2)} µs (${ratio(nf.cpu_us_per_delivery, rf?.cpu_us_per_delivery)})`,
            nrf && `redis ${fmt(nrf.cpu_us_per_delivery, 2)} µs (${ratio(nrf.cpu_us_per_delivery, rf?.cpu_us_per_delivery)})`]
            .filter(Boolean).join("; ") || "–",
        minRatio !== null ? (minRatio >= 10 ? "met" : "not met") : "–"]);
    for (const label of ["20000/s", "50000/s"]) {
        const r = get(figs, "roomcast", "fanout", label);
        const fl = get(figs, "floor", "fanout", label);
        const n = get(figs, "node", "fanout", label);
        const x = r && fl ? r.cpu_us_per_delivery / fl.cpu_us_per_delivery : null;
        rows.push([`CPU per delivery ≤ 1.2× the kernel's floor (one send per delivery) at ${label.replace("/s", "")} deliveries/s, fan-out to one room`,
            r ? `${fmt(r.cpu_us_per_delivery, 2)} µs${fl ? ` = ${ratio(r.cpu_us_per_delivery, fl.cpu_us_per_delivery)} the floor's ${fmt(fl.cpu_us_per_delivery, 2)} µs` : ""}` : "not in this run",
            n && fl ? `${fmt(n.cpu_us_per_delivery, 2)} µs = ${ratio(n.cpu_us_per_delivery, fl.cpu_us_per_delivery)} the floor's` : "–",
            x !== null ? (x <= 1.2 ? "met" : "not met") : "–"]);
    }
    const sustained = (system) => {
        const list = figs.filter((f) => f.scenario === "fanout" && f.system === system && f.deliveries_per_s)
            .sort((a, b) => a.deliveries_per_s - b.deliveries_per_s);
        if (!list.length) return undefined;
        const floor = list[0].loadgen?.p99_us ?? Infinity;
        const ok = list.filter((f) => f.deliveries_per_s >= kSustainedShare * (f.params?.target_deliveries ?? 0) &&
            !f.loadgen?.lost && !f.loadgen?.publish_errors && (f.loadgen?.p99_us ?? Infinity) <= kDegradedFactor * floor);
        const top = ok.length ? ok.reduce((a, b) => (b.deliveries_per_s > a.deliveries_per_s ? b : a)) : undefined;
        const clean = list.filter((f) => f.deliveries_per_s >= kSustainedShare * (f.params?.target_deliveries ?? 0) &&
            !f.loadgen?.lost && !f.loadgen?.publish_errors);
        const topClean = clean.length ? clean.reduce((a, b) => (b.deliveries_per_s > a.deliveries_per_s ? b : a)) : undefined;
        return { top, topClean, asked: Math.max(...list.map((f) => f.params?.target_deliveries ?? 0)) };
    };
    const rs1 = sustained("roomcast");
    const ns1 = sustained("node");
    const desc = (x) => (x?.top ? `${fmt(x.top.deliveries_per_s, 0)}/s (p99 ${fmt(ms(x.top.loadgen?.p99_us), 0)} ms)` : "none");
    const descClean = (x) => (x?.topClean ? `${fmt(x.topClean.deliveries_per_s, 0)}/s (p99 ${fmt(ms(x.topClean.loadgen?.p99_us), 0)} ms)` : "none");
    rows.push([`≥ 1M deliveries/s before latency degrades (fan-out; sustained: ≥ ${kSustainedShare * 100} % delivered, nothing lost, p99 ≤ ${kDegradedFactor}× the lowest rate's)`,
        rs1 ? `${desc(rs1)}; without loss: ${descClean(rs1)}; highest asked ${fmt(rs1.asked, 0)}/s` : "not in this run",
        ns1 ? `${desc(ns1)}; without loss: ${descClean(ns1)} (${ratio(rs1?.topClean?.deliveries_per_s, ns1?.topClean?.deliveries_per_s)} for Roomcast)` : "–",
        rs1 ? ((rs1.top?.deliveries_per_s ?? 0) >= 1e6 ? "met" : "not met") : "–"]);
    const rl = get(figs, "roomcast", "latency", "30000/s");
    const nl = get(figs, "node", "latency", "30000/s");
    rows.push(["cross-edge p99 ≤ 1.5 ms at 30k deliveries/s",
        rl ? `${fmt(ms(rl.loadgen?.p99_us), 2)} ms` : "not in this run",
        nl ? `${fmt(ms(nl.loadgen?.p99_us), 2)} ms, 1 process (${ratio(nl.loadgen?.p99_us, rl?.loadgen?.p99_us)})` : "–",
        rl ? (rl.loadgen?.p99_us <= 1500 ? "met" : "not met") : "–"]);
    // Issue 15 item 3, judged on the ephemeral run: Roomcast's CPU per delivery (every server
    // process, nats-server included) against one Node process's in the same mode (volatile
    // emit; its stored row when the run has no ephemeral Node row), the stored rows beside it.
    const re = get(figs, "roomcast", "latency", "30000/s", "ephemeral");
    const rst = get(figs, "roomcast", "latency", "30000/s", "stored");
    const ne = get(figs, "node", "latency", "30000/s", "ephemeral") ?? get(figs, "node", "latency", "30000/s", "stored");
    const nre = get(figs, "node-redis", "latency", "30000/s", "ephemeral");
    rows.push([`rooms of 100 at 30k deliveries/s: CPU per delivery (NATS included) ≤ ${kSmallRoomsGoalShare}× Node's (ephemeral events)`,
        re ? `ephemeral ${fmt(re.cpu_us_per_delivery, 2)} µs (nats-server ${fmt(helperUsPerDelivery(re), 2)} µs of it), p99 ${fmt(ms(re.loadgen?.p99_us), 2)} ms, ${fmt(re.loadgen?.lost, 0)} lost${rst ? `; stored ${fmt(rst.cpu_us_per_delivery, 2)} µs, p99 ${fmt(ms(rst.loadgen?.p99_us), 2)} ms` : ""}`
            : "not in this run",
        [ne && `1 process${ne.delivery === "ephemeral" ? ", volatile" : ", stored"} ${fmt(ne.cpu_us_per_delivery, 2)} µs (${ratio(ne.cpu_us_per_delivery, re?.cpu_us_per_delivery)})`,
            nre && `redis, volatile ${fmt(nre.cpu_us_per_delivery, 2)} µs (${ratio(nre.cpu_us_per_delivery, re?.cpu_us_per_delivery)})`]
            .filter(Boolean).join("; ") || "–",
        re && ne ? (re.cpu_us_per_delivery <= kSmallRoomsGoalShare * ne.cpu_us_per_delivery ? "met" : "not met") : "–"]);
    const rs = get(figs, "roomcast", "connect-storm");
    const ns = get(figs, "node", "connect-storm");
    rows.push(["≥ 5× less CPU per connect+join than Node",
        rs ? `${fmt(rs.cpu_ms_per_connect, 3)} ms` : "not in this run",
        ns ? `${fmt(ns.cpu_ms_per_connect, 3)} ms (${ratio(ns.cpu_ms_per_connect, rs?.cpu_ms_per_connect)})` : "–",
        rs && ns ? (ns.cpu_ms_per_connect / rs.cpu_ms_per_connect >= 5 ? "met" : "not met") : "–"]);
    return `### Goals\n\n${table(["goal", "Roomcast", "Node (Node/Roomcast)", "this run"], rows)}\n`;
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
        `${meta.nats_cluster && meta.nats_cluster !== "1" ? ` NATS under Roomcast: ${meta.nats_cluster.split(",").map((n) => (n === "1" ? "1 node" : `${n}-node cluster`)).join(" and ")}${meta.nats_kill_node ? ", the room stream's leader node killed mid-run" : ""} (see "Clustered NATS").` : ""}\n`;
    const errs = figs.filter((f) => problems(f).length && !["fanout", "latency"].includes(f.scenario))
        .map((f) => `- ${systemName(f.system, f)} ${f.scenario} ${f.label}: ${problems(f).join("; ")}`);
    const parts = [head, goals(figs), sectionIdle(figs), sectionStorm(figs),
        rateSection(figs, "fanout", "Fan-out to one large room",
            "One publisher, every other connection a member; Roomcast's members are spread over its edges (cross-edge, through NATS). CPU is every server process's."),
        rateSection(figs, "latency", "Latency, 1,000 clients in rooms of 100",
            `10 publishers; publish-to-receive latency measured by the load generator.${figs.some((f) => f.scenario === "latency" && f.delivery === "ephemeral")
                ? " Rows marked ephemeral publish with `ephemeral: true` (never stored, no offset; Node: socket.io's volatile emit): such an event may be dropped under backpressure, and `lost` counts those drops."
                : ""}`),
        section100k(figs), sectionCluster(figs)];
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

// One series per system and delivery mode (the ephemeral one named so).
function plotRates(figs, scenario, y, title, ylabel, file, dataDir, logy) {
    const systems = systemsIn(figs, scenario);
    const series = [];
    for (const s of systems) {
        for (const d of kDeliveries) {
            const pts = figs.filter((f) => f.system === s && f.scenario === scenario && f.delivery === d &&
                f.deliveries_per_s && Number.isFinite(y(f)))
                .sort((a, b) => a.deliveries_per_s - b.deliveries_per_s);
            if (pts.length) {
                const dat = path.join(dataDir, `${path.basename(file, ".png")}-${s}-${d}.dat`);
                writeFileSync(dat, pts.map((f) => `${f.deliveries_per_s} ${y(f)}`).join("\n") + "\n");
                series.push({ s, dat, title: `${systemName(s)}${d === "ephemeral" ? ", ephemeral" : ""}` });
            }
        }
    }
    if (!series.length) {
        return false;
    }
    return gnuplot(`set terminal pngcairo size 900,540 font "sans,11"
set output "${file}"
set title "${title}"
set xlabel "deliveries per second (measured)"
set ylabel "${ylabel}"
set logscale x
${logy ? "set logscale y" : ""}
set grid
set key top left
set format x "%.0s%c"
plot ${series.map(({ dat, title: t }) => `"${dat}" using 1:2 with linespoints lw 2 pt 7 title "${t}"`).join(", ")}
`);
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
