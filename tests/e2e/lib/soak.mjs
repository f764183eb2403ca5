// The soak run behind scripts/soak: starts the real stack (NATS with JetStream, two edges, the
// rooms, presence and auth services, NGINX; free ports, a temporary state directory — the e2e
// harness, lib/stack.mjs), runs churn for --minutes, samples every edge's and service's resident
// memory (VmRSS) and open descriptors from /proc every --sample-s seconds, and prints a table.
//
// Churn: build/tools/loadgen/roomcast_loadgen --scenario churn when that binary exists
// (ROOMCAST_LOADGEN overrides; WebSocket clients straight to the edges: connect, join, publish,
// disconnect), otherwise — or with --driver node — lib/churn.mjs in a child process (also
// long-polling through NGINX, leaves, dropped connections, tokens from the auth service). The
// admin APIs (rooms, presence, auth) are called twice a second meanwhile either way.
//
// Verdict (exit 1 when any holds; the thresholds are documented in docs/reliability.md):
//   - an edge or service grew in the second half of the run by more than --max-growth-pct (10 %)
//     of its mid-run RSS and more than --min-growth-mb (2 MiB), or by more than --max-growth-mb
//     (20 MiB) in any case — start-up and warm-up are in the first half and do not count;
//   - its descriptors grew in the second half by more than 20 % and more than 50;
//   - a process of the stack died;
//   - more than 1 % of the churn cycles or admin calls failed, a loadgen connection was lost, or a
//     long-lived receiver (Node driver) stopped receiving.
// NATS is sampled and shown too but not judged: JetStream keeps history and session records by
// design (bounded by --history-max and the recovery window).
//
//   node tests/e2e/lib/soak.mjs --minutes 10 [--sample-s 10] [--connections 300] [--rate 30]
//     [--driver loadgen|node] [--json results.json]

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { adminCalls } from "./churn.mjs";
import { repoDir, startStack } from "./stack.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

const { values: opt } = parseArgs({
    options: {
        minutes: { type: "string", default: "10" },
        "sample-s": { type: "string", default: "10" },
        connections: { type: "string", default: "300" },
        rate: { type: "string", default: "30" },
        rooms: { type: "string", default: "20" },
        "max-growth-pct": { type: "string", default: "10" },
        "min-growth-mb": { type: "string", default: "2" },
        "max-growth-mb": { type: "string", default: "20" },
        json: { type: "string" },
        driver: { type: "string" }, // "loadgen" | "node" (default: loadgen when built)
    },
});
const minutes = Number(opt.minutes);
const sampleMs = Number(opt["sample-s"]) * 1000;
const durationMs = Math.round(minutes * 60_000);
const log = (msg) => process.stderr.write(`[soak] ${msg}\n`);

function buildDir() {
    return process.env.ROOMCAST_BUILD_DIR ? path.resolve(process.env.ROOMCAST_BUILD_DIR) : path.join(repoDir, "build");
}

function loadgenPath() {
    if (process.env.ROOMCAST_LOADGEN) {
        return process.env.ROOMCAST_LOADGEN;
    }
    const candidate = path.join(buildDir(), "tools", "loadgen", "roomcast_loadgen");
    return existsSync(candidate) ? candidate : undefined;
}

/** VmRSS (KiB) and open descriptors of `pid`, or undefined when it is gone. */
function procSample(pid) {
    try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
        const fds = readdirSync(`/proc/${pid}/fd`).length;
        return { rssKb: rss, fds };
    } catch {
        return undefined;
    }
}

/** The nats-server of the stack: the process whose command line has its port. */
function natsPid(natsUrl) {
    const port = new URL(natsUrl).port;
    for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        try {
            const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
            if (path.basename(args[0]) === "nats-server" && args.includes(port)) {
                return Number(entry);
            }
        } catch {
            // gone
        }
    }
    return undefined;
}

const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

/** Least-squares slope of y over x. */
function slope(points) {
    const n = points.length;
    if (n < 2) {
        return 0;
    }
    const mx = points.reduce((a, p) => a + p.x, 0) / n;
    const my = points.reduce((a, p) => a + p.y, 0) / n;
    let num = 0;
    let den = 0;
    for (const p of points) {
        num += (p.x - mx) * (p.y - my);
        den += (p.x - mx) ** 2;
    }
    return den === 0 ? 0 : num / den;
}

/** Runs the churn child; resolves with {figures, code}. */
function runDriver(kind, stack) {
    const edges = stack.edges.map((e) => e.url);
    let file;
    let args;
    const env = { ...process.env };
    if (kind === "loadgen") {
        file = loadgenPath();
        args = ["--scenario", "churn", "--url", edges.join(","), "--connections", opt.connections,
            "--rooms", opt.rooms, "--room-prefix", "soak-", "--connect-rate", opt.rate,
            "--duration", `${Math.round(durationMs / 1000)}s`, "--warmup", "0s", "--json"];
        env.ROOMCAST_LOADGEN_JWT_SECRET = stack.jwtSecret;
    } else {
        file = process.execPath;
        args = [path.join(here, "churn.mjs"), "--edges", edges.join(","), "--nginx", stack.nginxUrl,
            "--duration-s", String(Math.round(durationMs / 1000)), "--connections", opt.connections,
            "--rate", opt.rate, "--rooms", opt.rooms,
            "--rooms-addr", stack.services.rooms.grpcAddress, "--presence-addr", stack.services.presence.grpcAddress,
            "--auth-addr", stack.services.auth.grpcAddress];
        env.ROOMCAST_JWT_SECRET = stack.jwtSecret;
        env.ROOMCAST_ADMIN_TOKEN = stack.adminToken;
    }
    log(`churn: ${path.basename(file)} ${args.filter((a) => !a.includes("/")).join(" ")}`);
    return new Promise((resolve) => {
        const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"], cwd: path.join(repoDir, "tests", "e2e") });
        let out = "";
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (d) => {
            out += d;
        });
        child.stderr.setEncoding("utf8");
        let partial = "";
        let lines = 0;
        child.stderr.on("data", (d) => {
            partial += d;
            let nl;
            while ((nl = partial.indexOf("\n")) >= 0) {
                const line = partial.slice(0, nl);
                partial = partial.slice(nl + 1);
                // The loadgen prints a progress line a second: keep one a minute.
                if (kind !== "loadgen" || lines++ % 60 === 0) {
                    log(line);
                }
            }
        });
        child.on("exit", (code) => {
            let figures;
            try {
                figures = JSON.parse(out.trim().split("\n").at(-1));
            } catch {
                figures = undefined;
            }
            resolve({ code, figures });
        });
        process.on("exit", () => child.kill("SIGKILL"));
    });
}

const driver = opt.driver ?? (loadgenPath() ? "loadgen" : "node");
log(`starting the stack (NATS, 2 edges, rooms, presence, auth, NGINX); churn for ${minutes} min with the ${driver} driver`);
const stack = await startStack({
    edges: ["edge-1", "edge-2"],
    services: ["rooms", "presence", "auth"],
    // The production defaults for the per-socket event limit (the harness lifts it for tests).
    edgeArgs: ["--events-per-second", "100", "--event-burst", "200"],
});
let exitCode = 0;
try {
    const procs = [
        ...stack.edges.map((e) => ({ name: e.id, pid: () => e.pid, judged: true })),
        ...Object.values(stack.services).map((s) => ({ name: s.name, pid: () => s.pid, judged: true })),
        { name: "nats", pid: (() => { const p = natsPid(stack.natsUrl); return () => p; })(), judged: false },
    ];
    const pids = Object.fromEntries(procs.map((p) => [p.name, p.pid()]));
    const samples = []; // {t (ms since start), [name]: {rssKb, fds}}
    const t0 = Date.now();
    const takeSample = () => {
        const s = { t: Date.now() - t0 };
        for (const p of procs) {
            s[p.name] = procSample(pids[p.name]);
        }
        samples.push(s);
    };
    takeSample();
    const timer = setInterval(takeSample, sampleMs);
    const churn = runDriver(driver, stack);
    // The loadgen does not call the admin APIs: do it from here meanwhile (the Node driver does
    // it itself).
    const adminFigures = { calls: 0, failed: 0 };
    const admins =
        driver === "loadgen"
            ? adminCalls({
                admin: {
                    token: stack.adminToken,
                    roomsAddr: stack.services.rooms.grpcAddress,
                    presenceAddr: stack.services.presence.grpcAddress,
                    authAddr: stack.services.auth.grpcAddress,
                },
                roomIds: Array.from({ length: Number(opt.rooms) }, (_, i) => `soak-${i}`),
                stopAt: Date.now() + durationMs,
                figures: adminFigures,
            })
            : Promise.resolve();
    const { code, figures } = await churn;
    await admins;
    clearInterval(timer);
    takeSample();

    // --- the table -----------------------------------------------------------------------
    const half = durationMs / 2;
    const rows = [];
    const problems = [];
    for (const p of procs) {
        const series = samples.filter((s) => s[p.name]).map((s) => ({ t: s.t, ...s[p.name] }));
        if (series.length < samples.length) {
            problems.push(`${p.name} (pid ${pids[p.name]}) died during the soak`);
        }
        if (series.length === 0) {
            continue;
        }
        const second = series.filter((s) => s.t >= half);
        const head = second.slice(0, 3);
        const tail = second.slice(-3);
        const midKb = median(head.map((s) => s.rssKb));
        const endKb = median(tail.map((s) => s.rssKb));
        const growthKb = endKb - midKb;
        const slopeKbMin = slope(second.map((s) => ({ x: s.t / 60_000, y: s.rssKb })));
        const fdMid = median(head.map((s) => s.fds));
        const fdEnd = median(tail.map((s) => s.fds));
        const row = {
            name: p.name,
            pid: pids[p.name],
            judged: p.judged,
            startKb: series[0].rssKb,
            maxKb: Math.max(...series.map((s) => s.rssKb)),
            midKb,
            endKb,
            growthKb,
            growthPct: midKb ? (100 * growthKb) / midKb : 0,
            slopeKbMin,
            fds: { start: series[0].fds, max: Math.max(...series.map((s) => s.fds)), mid: fdMid, end: fdEnd },
        };
        rows.push(row);
        if (p.judged) {
            const mb = growthKb / 1024;
            if (mb > Number(opt["max-growth-mb"]) || (row.growthPct > Number(opt["max-growth-pct"]) && mb > Number(opt["min-growth-mb"]))) {
                problems.push(`${p.name}: RSS grew ${mb.toFixed(1)} MiB (${row.growthPct.toFixed(1)} %) in the second half, ${slopeKbMin.toFixed(0)} KB/min`);
            }
            if (fdEnd - fdMid > 50 && fdEnd > fdMid * 1.2) {
                problems.push(`${p.name}: descriptors grew from ${fdMid} to ${fdEnd} in the second half`);
            }
        }
    }
    const mb = (kb) => (kb / 1024).toFixed(1);
    const lines = [
        `| Process | RSS start (MiB) | RSS max | RSS mid | RSS end | 2nd-half growth | 2nd-half slope (KB/min) | fds start/max/end |`,
        `|---|---|---|---|---|---|---|---|`,
        ...rows.map(
            (r) =>
                `| ${r.name}${r.judged ? "" : " (not judged)"} | ${mb(r.startKb)} | ${mb(r.maxKb)} | ${mb(r.midKb)} | ${mb(r.endKb)} | ` +
                `${r.growthKb >= 0 ? "+" : ""}${mb(r.growthKb)} MiB (${r.growthPct.toFixed(1)} %) | ${r.slopeKbMin.toFixed(0)} | ` +
                `${r.fds.start}/${r.fds.max}/${r.fds.end} |`,
        ),
    ];
    process.stdout.write(`\nSoak: ${minutes} min, ${samples.length} samples every ${sampleMs / 1000} s, churn driver ${driver}\n\n${lines.join("\n")}\n\n`);

    // --- the churn's own figures ----------------------------------------------------------
    if (!figures) {
        problems.push(`the churn driver exited ${code} without figures`);
    } else if (driver === "loadgen") {
        const c = figures.churn ?? {};
        process.stdout.write(
            `Churn (loadgen): ${JSON.stringify({ churn: c, connections: figures.connections, publish: figures.publish })}; ` +
                `admin calls ${adminFigures.calls} (${adminFigures.failed} failed)\n`,
        );
        if ((c.failed ?? 0) > 0.01 * (c.cycles ?? 0)) {
            problems.push(`churn: ${c.failed} of ${c.cycles} cycles failed`);
        }
        if ((figures.connections?.disconnected ?? 0) > 0) {
            problems.push(`churn: ${figures.connections.disconnected} connections lost without being asked to`);
        }
        if (adminFigures.failed > 0.01 * adminFigures.calls) {
            problems.push(`admin calls: ${adminFigures.failed} of ${adminFigures.calls} failed`);
        }
    } else {
        process.stdout.write(
            `Churn: ${figures.cycles} cycles (${figures.cyclesPerSecond}/s), ${figures.completed} completed, ${figures.failed} failed ` +
                `${JSON.stringify(figures.failures)}; ${figures.publishes} publishes; kinds ${JSON.stringify(figures.kinds)}; ` +
                `admin calls ${figures.admin.calls} (${figures.admin.failed} failed); long-lived receivers got ${figures.receivers.received} ` +
                `(longest gap ${figures.receivers.lastGapMs} ms, stale ${figures.receivers.stale}, connected ${figures.receivers.connected})\n`,
        );
        if (figures.failed > 0.01 * figures.cycles) {
            problems.push(`churn: ${figures.failed} of ${figures.cycles} cycles failed`);
        }
        if (figures.receivers.stale > 0 || figures.receivers.connected < 4) {
            problems.push(`long-lived receivers: ${figures.receivers.stale} stopped receiving, ${figures.receivers.connected} connected`);
        }
        if (figures.admin.failed > 0.01 * figures.admin.calls) {
            problems.push(`admin calls: ${figures.admin.failed} of ${figures.admin.calls} failed`);
        }
    }
    if (opt.json) {
        writeFileSync(opt.json, `${JSON.stringify({ minutes, sampleMs, driver, rows, samples, figures, problems }, null, 1)}\n`);
    }
    if (problems.length) {
        process.stdout.write(`\nSOAK FAILED:\n${problems.map((p) => `  - ${p}`).join("\n")}\n`);
        exitCode = 1;
    } else {
        process.stdout.write(
            `\nSOAK PASSED: no edge or service grew more than ${opt["max-growth-pct"]} % (and ${opt["min-growth-mb"]} MiB) ` +
                `or ${opt["max-growth-mb"]} MiB in the second half; no descriptor growth; churn healthy.\n`,
        );
    }
} finally {
    try {
        await stack.stop();
    } catch (err) {
        process.stdout.write(`\nSOAK FAILED: ${err.message}\n`);
        exitCode = 1;
    }
}
process.exit(exitCode);
